"""The delivery log through the real handlers (moto, the simulator): the receiver logs a
duplicate, the relay logs what it published or dropped, GET /deliveries pages through it
newest first, and GET connection's lastDeliveryAt follows it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from repoconn_core import wiring
from repoconn_core.delivery_history import DeliveryEntry, Outcome
from repoconn_core.storage.delivery_history import CAPACITY, TRIM

from tests.integration.conftest import EventBusTap
from tests.support.api import Api, given_connected, member
from tests.support.deliveries import signed
from tests.support.handlers import deliver_to_receiver
from tests.support.simulator_control import SimulatorControl

REPOSITORY = "https://github.com/acme/delivery-history"
TOKEN = "tok-good-delivery-history-0123"


def _deliver(sim_control: SimulatorControl, connection_id: str, body: bytes | None = None) -> str:
    secret = str(sim_control.hook_of(connection_id)["secret"])
    delivery = signed("GitHub", secret, body=body)
    answer = deliver_to_receiver(connection_id, delivery.headers, delivery.body)
    assert answer.status in (200, 202)
    return str(answer.json()["deliveryId"])


def test_a_push_and_its_duplicate_are_listed_newest_first(
    api: Api, sim_control: SimulatorControl, event_bus: EventBusTap
) -> None:
    # given a connection that received a push, published by the relay
    connection_id = given_connected(api, REPOSITORY, token=TOKEN)["id"]
    secret = str(sim_control.hook_of(connection_id)["secret"])
    first = signed("GitHub", secret)
    assert deliver_to_receiver(connection_id, first.headers, first.body).status == 202
    assert len(event_bus.events()) == 1
    # when the same body arrives again under another delivery id
    again = signed("GitHub", secret, body=first.body)
    assert deliver_to_receiver(connection_id, again.headers, again.body).status == 200
    response = api.deliveries("p1")
    # then the listing shows the duplicate, then the published push
    assert response.status == 200
    body = response.json()
    assert [(d["deliveryId"], d["eventKind"], d["outcome"]) for d in body["deliveries"]] == [
        (again.headers["X-GitHub-Delivery"], "push", "duplicate"),
        (first.headers["X-GitHub-Delivery"], "push", "published"),
    ]
    assert body["nextCursor"] is None
    assert all(d["receivedAt"].endswith("Z") for d in body["deliveries"])
    assert set(body["deliveries"][0]) == {"deliveryId", "eventKind", "receivedAt", "outcome"}


def test_last_delivery_at_is_null_until_the_first_delivery(
    api: Api, sim_control: SimulatorControl, event_bus: EventBusTap
) -> None:
    # given a new connection
    connection_id = given_connected(api, REPOSITORY, token=TOKEN)["id"]
    before = api.read("p1").json()
    # when a push is received and relayed
    _deliver(sim_control, connection_id)
    event_bus.events()
    after = api.read("p1").json()
    # then lastDeliveryAt was null, and is now the push's receipt time
    listed = api.deliveries("p1").json()["deliveries"]
    assert before["lastDeliveryAt"] is None
    assert after["lastDeliveryAt"] == listed[0]["receivedAt"]
    assert after["lastSyncAt"] == listed[0]["receivedAt"]


def test_a_reconnect_answers_the_last_delivery_of_the_connection_it_keeps(
    api: Api, sim_control: SimulatorControl, event_bus: EventBusTap
) -> None:
    # given a connection that received a push, and its first connect's answer
    first = given_connected(api, REPOSITORY, token=TOKEN)
    _deliver(sim_control, first["id"])
    event_bus.events()
    # when the admin reconnects (same repository: the connection and its log are kept)
    again = api.connect("p1", REPOSITORY, TOKEN + "-rotated")
    # then PUT answers the same lastDeliveryAt as GET (a first connect has none)
    assert again.status == 200
    assert first["lastDeliveryAt"] is None
    assert again.json()["lastDeliveryAt"] == api.read("p1").json()["lastDeliveryAt"] is not None


def test_paging_with_limit_one_walks_every_entry_exactly_once(
    api: Api, sim_control: SimulatorControl, event_bus: EventBusTap
) -> None:
    # given five published pushes
    connection_id = given_connected(api, REPOSITORY, token=TOKEN)["id"]
    sent = [_deliver(sim_control, connection_id) for _ in range(5)]
    assert len(event_bus.events()) == 5
    # when the listing is walked a page of one at a time
    seen: list[str] = []
    query = "limit=1"
    for _ in range(10):
        page = api.deliveries("p1", query).json()
        assert len(page["deliveries"]) == 1
        seen.append(page["deliveries"][0]["deliveryId"])
        if page["nextCursor"] is None:
            break
        query = f"limit=1&cursor={page['nextCursor']}"
    # then each push was seen once, newest first
    assert seen == list(reversed(sent))


def test_the_default_page_is_twenty_and_limit_is_bounded(
    api: Api, sim_control: SimulatorControl, event_bus: EventBusTap
) -> None:
    # given a connection whose log holds 25 entries
    connection_id = given_connected(api, REPOSITORY, token=TOKEN)["id"]
    now = datetime.now(UTC)
    wiring.delivery_history().append_deliveries(
        connection_id,
        [
            DeliveryEntry(f"d-{i:02}", "push", now - timedelta(minutes=30 - i), Outcome.PUBLISHED)
            for i in range(25)
        ],
        at=now,
    )
    # when it is listed without a limit, then with limits out of range
    default = api.deliveries("p1").json()
    too_many = api.deliveries("p1", "limit=101")
    zero = api.deliveries("p1", "limit=0")
    # then 20 newest first with a cursor; 422 for a limit outside 1..100
    assert [d["deliveryId"] for d in default["deliveries"]] == [
        f"d-{i:02}" for i in range(24, 4, -1)
    ]
    assert default["nextCursor"] is not None
    assert (too_many.status, too_many.json()["code"]) == (422, "validation_failed")
    assert (zero.status, zero.json()["code"]) == (422, "validation_failed")


@pytest.mark.parametrize(
    "cursor",
    ["not-a-cursor!", "eyJ2IjoxfQ", "WyJ2MSIsIjIwMjQiLCJwdWJsaXNoZWQiLCJ4Il0", "%C3%A9", "x" * 600],
)
def test_a_malformed_cursor_is_400_problem_never_500(
    api: Api, sim_control: SimulatorControl, cursor: str
) -> None:
    # given a connected project
    given_connected(api, REPOSITORY, token=TOKEN)
    # when the listing is asked with a cursor no page handed out
    response = api.deliveries("p1", f"cursor={cursor}")
    # then 400 problem+json
    assert response.status == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_cursor"


def test_listing_without_a_connection_is_404(api: Api) -> None:
    # when a member lists the deliveries of a project without a connection
    response = api.deliveries("p1")
    # then 404 connection_not_found
    assert (response.status, response.json()["code"]) == (404, "connection_not_found")


def test_a_member_of_another_project_is_refused(api: Api, sim_control: SimulatorControl) -> None:
    # given a connected project
    given_connected(api, REPOSITORY, token=TOKEN)
    # when a member of another project lists its deliveries
    response = api.deliveries("p1", claims=member("p2"))
    # then 403, and nothing about the connection
    assert (response.status, response.json()["code"]) == (403, "forbidden")


def test_a_delivery_to_a_deactivated_connection_is_logged_dropped(
    api: Api, sim_control: SimulatorControl, event_bus: EventBusTap
) -> None:
    # given a connection that received a push while active, deactivated before the relay ran
    connection_id = given_connected(api, REPOSITORY, token=TOKEN)["id"]
    delivery_id = _deliver(sim_control, connection_id)
    store = wiring.connection_store()
    stored = store.get(REPOSITORY)
    assert stored is not None
    store.save(replace(stored, is_active=False), replacing=stored)
    # when the relay handles it
    assert event_bus.events() == []
    # then the log shows it dropped
    entries = wiring.delivery_history().delivery_log(connection_id, datetime.now(UTC)).entries
    assert [(e.delivery_id, e.outcome) for e in entries] == [(delivery_id, Outcome.DROPPED)]


def test_the_log_stays_bounded_and_keeps_the_newest(api: Api) -> None:
    # given a log filled to its capacity, one append at a time
    history = wiring.delivery_history()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    for i in range(CAPACITY + 1):
        at = start + timedelta(seconds=i)
        history.append_deliveries(
            "c-bounded", [DeliveryEntry(f"d-{i:04}", "push", at, Outcome.PUBLISHED)], at=at
        )
    # when it is read
    log = history.delivery_log("c-bounded", datetime.now(UTC))
    # then the oldest TRIM were removed once it was full, the newest are all there
    ids = [entry.delivery_id for entry in log.entries]
    assert ids == [f"d-{i:04}" for i in range(TRIM, CAPACITY + 1)]
    assert log.last_delivery_at == start + timedelta(seconds=CAPACITY)


def test_last_delivery_at_never_moves_backwards(api: Api) -> None:
    # given a log whose last delivery is a duplicate received at t1
    history = wiring.delivery_history()
    t1 = datetime.now(UTC).replace(microsecond=0)
    history.append_deliveries(
        "c-order", [DeliveryEntry("d-2", "push", t1, Outcome.DUPLICATE)], at=t1
    )
    # when the relay logs the original, received a second earlier, afterwards
    earlier = t1 - timedelta(seconds=1)
    history.append_deliveries(
        "c-order", [DeliveryEntry("d-1", "push", earlier, Outcome.PUBLISHED)], at=t1
    )
    # then both are logged and lastDeliveryAt stays t1
    log = history.delivery_log("c-order", datetime.now(UTC))
    assert [e.delivery_id for e in log.entries] == ["d-2", "d-1"]
    assert log.last_delivery_at == t1


def test_an_expired_log_reads_as_empty(api: Api) -> None:
    # given a log last written eight days ago (TTL deletes lazily)
    history = wiring.delivery_history()
    then = datetime.now(UTC) - timedelta(days=8)
    history.append_deliveries(
        "c-expired", [DeliveryEntry("d-1", "push", then, Outcome.PUBLISHED)], at=then
    )
    # when it is read now
    now = datetime.now(UTC)
    # then nothing is shown and there is no last delivery
    assert history.delivery_log("c-expired", now).entries == ()
    assert history.last_delivery_at("c-expired", now) is None
