"""The project lease: connect and disconnect hold it, a second change meanwhile is refused
before it reaches the provider, and an abandoned lease expires (store on moto, handlers
through the real routes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from repoconn_core.storage.connection_store import ConnectionStore
from repoconn_core.storage.lease_table import LeaseTable

from tests.integration.conftest import Api, admin, sim_hooks

URL = "https://github.com/acme/api"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def sim_requests(sim: Any) -> list[dict[str, Any]]:
    response = requests.get(f"{sim.base_url}/_sim/requests", timeout=5)
    response.raise_for_status()
    return list(response.json()["requests"])


def connect(api: Api, project: str = "p1") -> Any:
    return api.call(
        "PUT",
        project,
        body={"repositoryUrl": URL, "accessToken": "tok-good"},
        claims=admin(project),
    )


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
    api: Api, sim: Any, lease_table: LeaseTable
) -> None:
    # given another request holding p1's lease
    now = datetime.now(UTC)
    assert lease_table.acquire_lease("p1", "other-request", at=now, expires_at=now + MINUTE)
    # when an admin connects p1
    response = connect(api)
    # then 409 concurrent_modification, and the provider was not called at all
    assert response.status == 409
    assert response.json()["code"] == "concurrent_modification"
    assert sim_requests(sim) == []
    assert sim_hooks(sim) == []


def test_disconnect_while_another_change_holds_the_lease_is_409_and_keeps_the_hook(
    lease_table: LeaseTable, api: Api, sim: Any, store: ConnectionStore
) -> None:
    # given a connected project whose lease another request holds
    assert connect(api).status == 201
    [hook] = sim_hooks(sim)
    now = datetime.now(UTC)
    assert lease_table.acquire_lease("p1", "other-request", at=now, expires_at=now + MINUTE)
    # when an admin disconnects
    response = api.call("DELETE", "p1", claims=admin("p1"))
    # then 409, and hook and connection are untouched
    assert response.status == 409
    assert response.json()["code"] == "concurrent_modification"
    assert sim_hooks(sim) == [hook]
    assert store.current_for_project("p1") is not None


def test_the_lease_is_released_after_success_and_after_failure(
    api: Api, sim: Any, lease_table: LeaseTable
) -> None:
    # given a connect that succeeds and one the provider refuses (unknown repository)
    assert connect(api).status == 201
    refused = api.call(
        "PUT",
        "p2",
        body={"repositoryUrl": "https://github.com/acme/missing", "accessToken": "tok-good"},
        claims=admin("p2"),
    )
    assert refused.status == 422
    # then neither project's lease is left behind
    now = datetime.now(UTC)
    assert lease_table.acquire_lease("p1", "next", at=now, expires_at=now + MINUTE)
    assert lease_table.acquire_lease("p2", "next", at=now, expires_at=now + MINUTE)
