"""Faults in the relay (PublishDeliveriesFunction): every AWS call it makes for a batch, each
kind of failure, through its real handler and the template's stream event source mapping.

The contract (relay.py): a recorded delivery is never lost and never published for a
connection that is gone. A failure before the events went out leaves nothing published and
lastSyncAt unmoved, and the mapping's retry publishes the delivery exactly once; a failure
after they went out (the lastSyncAt update) fails the batch, and the retry publishes it again
— at-least-once, as EventBridge itself is, with ``deliveryId`` for subscribers to deduplicate.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from repoconn_core import wiring
from repoconn_core.delivery_history import page_of

from tests.faultkit import aws
from tests.faultkit.injector import Fault
from tests.integration.faults.conftest import FIGURES
from tests.integration.faults.runner import perform, prepare
from tests.integration.faults.scenarios import DDB_CALL_FAULTS, EVENTS_FAULTS, PROJECT
from tests.integration.faults.world import World

# A clean relay run for one delivery, in order (the stream reads are the mapping's, not the
# function's, and are left out).
RELAY_STEPS = (
    "dynamodb:BatchGetItem",
    "eventbridge:PutEvents",
    "dynamodb:UpdateItem(item)",
    "dynamodb:UpdateItem(log)",
)
CASES: list[tuple[str, Fault]] = [
    *(("dynamodb:BatchGetItem", fault) for fault in DDB_CALL_FAULTS),
    *(("eventbridge:PutEvents", fault) for fault in EVENTS_FAULTS),
    *(("dynamodb:UpdateItem(item)", fault) for fault in (*DDB_CALL_FAULTS, aws.LOST_RESPONSE)),
]


def recorded_delivery(world: World, provider: str) -> str:
    """A connection with one accepted delivery the relay has not seen yet; its id."""
    given = prepare(world, "receive", provider)
    accepted = perform(world, "receive", provider, given)
    assert accepted.status == 202, accepted.text
    assert given.delivery_id is not None
    return given.delivery_id


def last_sync_at(world: World) -> str:
    return str(world.get(PROJECT).json()["lastSyncAt"])


def test_a_clean_relay_run_makes_exactly_these_calls(world: World) -> None:
    delivery_id = recorded_delivery(world, "GitHub")
    with world.injector.armed():
        world.relay.drain(retry=False)
    # (the event source mapping's own calls - DescribeTable, the stream reads - are Lambda's)
    steps = [
        step
        for step in world.injector.steps()
        if not step.startswith("dynamodb-streams:") and step != "dynamodb:DescribeTable"
    ]
    assert steps == list(RELAY_STEPS)
    [event] = world.published()
    assert event["detail"]["deliveryId"] == delivery_id


@pytest.mark.parametrize(
    ("step", "fault"), CASES, ids=[f"{step}|{fault.name}" for step, fault in CASES]
)
def test_a_relay_fault_loses_nothing_and_the_retry_publishes(
    world: World, step: str, fault: Fault
) -> None:
    # given a recorded delivery, and lastSyncAt as the connect set it
    delivery_id = recorded_delivery(world, "GitLab")
    synced = last_sync_at(world)

    # when the relay meets the fault at its step (one attempt of the batch)
    with world.injector.armed({(step, 1): fault}):
        world.relay.drain(retry=False)
    FIGURES["faults_injected"] += len(world.injector.fired)
    FIGURES["cases"] += 1
    FIGURES["op:relay"] += len(world.injector.fired)
    assert [f.step for f in world.injector.fired] == [step]
    published_first = world.published(relay=False)

    # then before the events went out nothing is published and lastSyncAt stays; after, the
    # event is out but the batch failed
    after_publish = step == "dynamodb:UpdateItem(item)"
    assert [e["detail"]["deliveryId"] for e in published_first] == (
        [delivery_id] if after_publish else []
    )
    if not after_publish:
        assert last_sync_at(world) == synced

    # and the mapping's retry publishes it (again, if it was out already) and moves lastSyncAt
    retried = world.published()
    assert [e["detail"]["deliveryId"] for e in retried] == [delivery_id]
    assert last_sync_at(world) == retried[0]["detail"]["receivedAt"]


LOG_ERRORS = (*(f for f in DDB_CALL_FAULTS if f is not aws.CRASH), aws.LOST_RESPONSE)


def logged(connection_id: str) -> list[tuple[str, str]]:
    log = wiring.delivery_history().delivery_log(connection_id, datetime.now(UTC))
    page = page_of(log.entries, limit=100, cursor=None, now=datetime.now(UTC))
    return [(entry.delivery_id, str(entry.outcome)) for entry in page.entries]


@pytest.mark.parametrize("fault", LOG_ERRORS, ids=[fault.name for fault in LOG_ERRORS])
def test_a_delivery_log_error_neither_fails_the_batch_nor_publishes_twice(
    world: World, fault: Fault
) -> None:
    # given a recorded delivery
    delivery_id = recorded_delivery(world, "GitHub")

    # when the relay's append to the delivery log fails (one attempt of the batch)
    with world.injector.armed({("dynamodb:UpdateItem(log)", 1): fault}):
        world.relay.drain(retry=False)
    assert [f.step for f in world.injector.fired] == ["dynamodb:UpdateItem(log)"]

    # then the event went out once, lastSyncAt moved, and no retry publishes it again: the
    # log is what the frontend shows, not what the relay guarantees
    published = world.published(relay=False)
    assert [e["detail"]["deliveryId"] for e in published] == [delivery_id]
    assert last_sync_at(world) == published[0]["detail"]["receivedAt"]
    assert world.published() == []


def test_a_crash_at_the_delivery_log_republishes_and_the_log_shows_it_once(world: World) -> None:
    # given a recorded delivery
    delivery_id = recorded_delivery(world, "GitHub")
    connection_id = str(world.get(PROJECT).json()["id"])

    # when the relay's process dies at its append to the delivery log
    with world.injector.armed({("dynamodb:UpdateItem(log)", 1): aws.CRASH}):
        world.relay.drain(retry=False)

    # then the batch failed after publishing: the retry publishes again (at-least-once), and
    # the delivery is listed once, published
    assert [e["detail"]["deliveryId"] for e in world.published()] == [delivery_id, delivery_id]
    assert logged(connection_id) == [(delivery_id, "published")]
