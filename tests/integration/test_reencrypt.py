"""Re-encryption (repoconn_core.reencrypt) over a table holding format-1 items, interrupted
and resumed, with deliveries and connects running meanwhile: every item readable after, in the
current format, none lost, every hook still verifying.

The connections are made through the deployed handlers (moto, the provider simulator), then
turned back into format-1 items holding the same secrets (tests/support/legacy_format.py), as
a table written before issue 14 holds them. Traffic is interleaved deterministically: the
pass's ``after_each`` hook runs a delivery, a reconnect or the interruption between items.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from repoconn_core import wiring
from repoconn_core.connection_secrets import ConnectionSecrets
from repoconn_core.records import StoredConnection
from repoconn_core.reencrypt import ReencryptReport
from repoconn_local.lambda_host.context import LocalLambdaContext

from tests.support.api import Api, given_connected
from tests.support.deliveries import signed
from tests.support.handlers import deliver_to_receiver
from tests.support.legacy_format import as_format_1
from tests.support.simulator_control import SimulatorControl

TOKEN = "tok-good-reencrypt-0123456789"
COUNT = 8
OLD_SECRET = "an-old-secret-still-inside-its-grace-window-0123"


class Interrupted(Exception):
    """The operator's Ctrl-C, or a Lambda timeout, in the middle of a pass."""


def _url(n: int) -> str:
    return f"https://github.com/acme/reencrypt-{n}"


def _deliver(sim_control: SimulatorControl, connection_id: str, secret: str | None = None) -> int:
    delivery = signed("GitHub", secret or str(sim_control.hook_of(connection_id)["secret"]))
    return deliver_to_receiver(connection_id, delivery.headers, delivery.body).status


@pytest.fixture
def legacy_table(
    api: Api, sim_control: SimulatorControl, kms_client: Any, app_settings: Any
) -> dict[str, dict[str, Any]]:
    """COUNT connections, each turned into a format-1 item; every second one with a format-1
    previous secret inside its grace window."""
    store = wiring.connection_store()
    connections = {}
    for n in range(COUNT):
        info = given_connected(api, _url(n), project=f"p{n}", token=TOKEN)
        stored = store.get(_url(n))
        assert stored is not None
        secret = str(sim_control.hook_of(info["id"])["secret"])
        in_grace = (OLD_SECRET, datetime.now(UTC) + timedelta(hours=1))
        legacy = as_format_1(
            stored,
            kms_client,
            app_settings.kms_key_id,
            token=TOKEN,
            webhook_secret=secret,
            previous=in_grace if n % 2 == 0 else None,
        )
        store.save(legacy, replacing=stored)
        connections[_url(n)] = {"id": info["id"], "project": f"p{n}", "previous": n % 2 == 0}
    wiring.reset()
    return connections


def _all_current(connections: dict[str, dict[str, Any]]) -> list[str]:
    use_case = wiring.reencrypt_connections()
    store = wiring.connection_store()
    return [url for url in connections if not use_case.is_current(store.get(url))]  # type: ignore[arg-type]


def test_a_pass_interrupted_then_resumed_under_traffic_leaves_every_item_current_and_working(
    api: Api, sim_control: SimulatorControl, legacy_table: dict[str, dict[str, Any]]
) -> None:
    # given a table of format-1 items (the format-1 secrets open, deliveries verify)
    assert len(_all_current(legacy_table)) == COUNT
    first_id = next(iter(legacy_table.values()))["id"]
    assert _deliver(sim_control, first_id) == 202
    handled: list[str] = []
    reconnected: list[str] = []
    delivered: list[int] = []

    def traffic_then_interrupt(stored: StoredConnection) -> None:
        handled.append(stored.repository_url)
        # a delivery to the item just handled, and to one not handled yet
        delivered.append(_deliver(sim_control, stored.id))
        pending = [url for url in legacy_table if url not in handled]
        if pending:
            delivered.append(_deliver(sim_control, legacy_table[pending[0]]["id"]))
        # a reconnect of a not-yet-handled item, through the handler, mid-pass
        if len(handled) == 2 and pending:
            target = pending[-1]
            given_connected(
                api, target, project=legacy_table[target]["project"], token=TOKEN, expect=200
            )
            reconnected.append(target)
        if len(handled) == COUNT // 2:
            raise Interrupted

    # when a pass is interrupted halfway, with deliveries and a reconnect meanwhile
    with pytest.raises(Interrupted):
        wiring.reencrypt_connections().run(after_each=traffic_then_interrupt)
    halfway = _all_current(legacy_table)
    # and a second pass runs to the end (a fresh process: nothing cached)
    wiring.reset()
    report = wiring.reencrypt_connections().run()

    # then the first pass moved what it reached, the reconnect wrote its item current itself,
    # and every delivery meanwhile verified
    assert set(delivered) == {202}
    assert len(halfway) == COUNT - len(set(handled) | set(reconnected))
    assert report == ReencryptReport(
        scanned=COUNT,
        reencrypted=len(halfway),
        already_current=COUNT - len(halfway),
    )
    # and every item is current, none lost, each opens to the secrets the provider holds
    assert _all_current(legacy_table) == []
    store = wiring.connection_store()
    secrets = ConnectionSecrets(wiring.secret_cipher())
    now = datetime.now(UTC)
    for url, connection in legacy_table.items():
        stored = store.get(url)
        assert stored is not None and stored.id == connection["id"]
        hook_secret = str(sim_control.hook_of(stored.id)["secret"])
        assert secrets.token(stored).get_secret_value() == TOKEN
        opened = secrets.webhook_secrets(stored, now)
        assert opened.current.get_secret_value() == hook_secret
        assert api.read(connection["project"]).status == 200
        assert _deliver(sim_control, stored.id) == 202
        if connection["previous"] and url not in reconnected:
            # the format-1 previous secret, still in grace, is kept (sealed again)
            assert opened.previous is not None
            assert opened.previous.get_secret_value() == OLD_SECRET
            assert _deliver(sim_control, stored.id, OLD_SECRET) == 202
    # and a third pass has nothing left to do
    assert wiring.reencrypt_connections().run() == ReencryptReport(
        scanned=COUNT, already_current=COUNT
    )
    print(
        f"re-encryption: {COUNT} format-1 items, {COUNT // 2} handled before the interruption, "
        f"{len(reconnected)} reconnected mid-pass, {report.reencrypted} moved by the resumed "
        f"pass, {len(delivered)} deliveries during the first pass, all 202"
    )


def test_an_expired_previous_secret_is_dropped_not_resealed(
    legacy_table: dict[str, dict[str, Any]],
) -> None:
    # given a format-1 item whose previous secret's grace window has passed
    store = wiring.connection_store()
    url = _url(0)
    stored = store.get(url)
    assert stored is not None and stored.previous_webhook_secret is not None
    expired = replace(stored, previous_secret_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    store.save(expired, replacing=stored)
    # when re-encrypted
    wiring.reencrypt_connections().run()
    # then the previous secret is gone rather than sealed again
    after = store.get(url)
    assert after is not None
    assert (after.previous_webhook_secret, after.previous_secret_expires_at) == (None, None)


class _RunningOutOfTime(LocalLambdaContext):
    """A Lambda context whose remaining time falls below the stop margin after ``calls``
    look-ups: the function's own timeout, without waiting for it."""

    def __init__(self, calls: int) -> None:
        super().__init__(function_name="reencrypt_connections", timeout_seconds=900)
        self.calls = calls

    def get_remaining_time_in_millis(self) -> int:
        self.calls -= 1
        return 600_000 if self.calls >= 0 else 1_000


def test_the_function_stops_before_its_timeout_and_the_next_invocation_finishes(
    sim_control: SimulatorControl, legacy_table: dict[str, dict[str, Any]]
) -> None:
    from functions.reencrypt_connections import app

    # when operators invoke the deployed function and it runs out of time after three items
    first = app.lambda_handler({}, _RunningOutOfTime(calls=3))
    left = _all_current(legacy_table)
    # and invoke it again, with time to spare
    wiring.reset()
    second = app.lambda_handler({}, _RunningOutOfTime(calls=10 * COUNT))

    # then the first answer says it is not done, after three items; the second finishes
    assert (first["completed"], first["scanned"], first["reencrypted"]) == (False, 3, 3)
    assert len(left) == COUNT - 3
    assert second == {
        **asdict(ReencryptReport(scanned=COUNT, reencrypted=COUNT - 3, already_current=3)),
        "completed": True,
    }
    assert _all_current(legacy_table) == []
    for connection in legacy_table.values():
        assert _deliver(sim_control, connection["id"]) == 202
