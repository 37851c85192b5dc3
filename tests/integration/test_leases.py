"""The project lease: connect and disconnect hold it, a second change meanwhile is refused
before it reaches the provider, and an abandoned lease expires (store on moto, handlers
through the real routes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from repoconn_core.storage.connection_store import ConnectionStore
from repoconn_core.storage.lease_table import LeaseTable

from tests.support.api import Api
from tests.support.simulator_control import SimulatorControl

URL = "https://github.com/acme/api"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


# The store ------------------------------------------------------------------------------------


def test_a_held_lease_is_refused_to_another_owner_until_it_expires(
    lease_table: LeaseTable,
) -> None:
    # given a lease held until NOW + 1 min
    assert lease_table.acquire_lease("p1", "first", at=NOW, expires_at=NOW + MINUTE)
    # when another owner asks before and after that moment
    before = lease_table.acquire_lease(
        "p1", "second", at=NOW + MINUTE / 2, expires_at=NOW + 2 * MINUTE
    )
    after = lease_table.acquire_lease(
        "p1", "second", at=NOW + MINUTE + timedelta(seconds=1), expires_at=NOW + 2 * MINUTE
    )
    # then it is refused while the lease runs and granted once it has expired
    assert (before, after) == (False, True)


def test_leases_of_different_projects_do_not_exclude_each_other(lease_table: LeaseTable) -> None:
    assert lease_table.acquire_lease("p1", "a", at=NOW, expires_at=NOW + MINUTE)
    assert lease_table.acquire_lease("p2", "b", at=NOW, expires_at=NOW + MINUTE)


def test_a_former_owner_cannot_release_a_lease_taken_over_after_expiry(
    lease_table: LeaseTable,
) -> None:
    # given a lease that expired and was taken over
    assert lease_table.acquire_lease("p1", "slow", at=NOW, expires_at=NOW + MINUTE)
    later = NOW + 2 * MINUTE
    assert lease_table.acquire_lease("p1", "current", at=later, expires_at=later + MINUTE)
    # when the former owner releases "its" lease
    lease_table.release_lease("p1", "slow")
    # then the current owner still holds it
    assert not lease_table.acquire_lease("p1", "third", at=later, expires_at=later + MINUTE)
    lease_table.release_lease("p1", "current")
    assert lease_table.acquire_lease("p1", "third", at=later, expires_at=later + MINUTE)


def test_leases_stay_out_of_connection_reads(
    lease_table: LeaseTable, store: ConnectionStore
) -> None:
    # given a lease item in the table (keyed lease#p1, no projectId attribute)
    assert lease_table.acquire_lease("p1", "a", at=NOW, expires_at=NOW + MINUTE)
    # then no read of connections sees it
    assert store.current_for_project("p1") is None
    assert store.summary_for_project("p1") is None
    assert list(store.scan_connections()) == []


# Through the handlers (wiring passes the leases) ----------------------------------------------


def test_connect_while_another_change_holds_the_lease_is_409_before_any_provider_call(
    api: Api, sim_control: SimulatorControl, lease_table: LeaseTable, store: ConnectionStore
) -> None:
    # given another request holding p1's lease
    now = datetime.now(UTC)
    assert lease_table.acquire_lease("p1", "other-request", at=now, expires_at=now + MINUTE)
    # when an admin connects p1
    response = api.connect("p1", URL)
    # then 409 concurrent_modification, and the provider was not called at all
    assert response.status == 409
    assert response.json()["code"] == "concurrent_modification"
    assert sim_control.requests() == []
    assert sim_control.hooks() == []


def test_disconnect_while_another_change_holds_the_lease_is_409_and_keeps_the_hook(
    api: Api, sim_control: SimulatorControl, lease_table: LeaseTable, store: ConnectionStore
) -> None:
    # given a connected project whose lease another request holds
    assert api.connect("p1", URL).status == 201
    [hook] = sim_control.hooks()
    now = datetime.now(UTC)
    assert lease_table.acquire_lease("p1", "other-request", at=now, expires_at=now + MINUTE)
    # when an admin disconnects
    response = api.disconnect("p1")
    # then 409, and hook and connection are untouched
    assert response.status == 409
    assert response.json()["code"] == "concurrent_modification"
    assert sim_control.hooks() == [hook]
    assert store.current_for_project("p1") is not None


def test_the_lease_is_released_after_success_and_after_failure(
    api: Api, sim: Any, lease_table: LeaseTable
) -> None:
    # given a connect that succeeds and one the provider refuses (unknown repository)
    assert api.connect("p1", URL).status == 201
    refused = api.connect("p2", "https://github.com/acme/missing")
    assert refused.status == 422
    # then neither project's lease is left behind
    now = datetime.now(UTC)
    assert lease_table.acquire_lease("p1", "next", at=now, expires_at=now + MINUTE)
    assert lease_table.acquire_lease("p2", "next", at=now, expires_at=now + MINUTE)
