"""plan_redeliveries: which events of a hook's delivery log are asked for again (reconcile.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from repoconn_core.providers import DeliveryAttempt
from repoconn_core.reconcile import RedeliveryPolicy, plan_redeliveries

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = RedeliveryPolicy(backoff=timedelta(minutes=15), max_per_event=3)


def attempt(n: int, key: str, status: int, minutes_ago: int) -> DeliveryAttempt:
    return DeliveryAttempt(str(n), key, "push", status, NOW - timedelta(minutes=minutes_ago))


# case → (the log, the attempt ids due in order, waiting, abandoned)
CASES = {
    "a success is left alone": ([attempt(1, "a", 200, 5)], [], 0, 0),
    "a failure without a redelivery is due at once": ([attempt(1, "a", 503, 0)], ["1"], 0, 0),
    "no answer at all (0) is a failure": ([attempt(1, "a", 0, 1)], ["1"], 0, 0),
    "a failure with a later successful redelivery is done": (
        [attempt(2, "a", 200, 1), attempt(1, "a", 503, 30)],
        [],
        0,
        0,
    ),
    "a failed redelivery waits the back-off": (
        [attempt(2, "a", 503, 10), attempt(1, "a", 503, 30)],
        [],
        1,
        0,
    ),
    "after the back-off its newest attempt is due": (
        [attempt(2, "a", 503, 16), attempt(1, "a", 503, 30)],
        ["2"],
        0,
        0,
    ),
    "the back-off doubles with each redelivery": (
        [attempt(3, "a", 503, 20), attempt(2, "a", 503, 40), attempt(1, "a", 503, 60)],
        [],
        1,
        0,
    ),
    "it is abandoned after max_per_event redeliveries": (
        [attempt(n, "a", 503, 600 - n) for n in range(1, 5)],
        [],
        0,
        1,
    ),
    "events are due oldest first": (
        [attempt(3, "c", 502, 1), attempt(2, "b", 503, 50), attempt(1, "a", 504, 20)],
        ["2", "1", "3"],
        0,
        0,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_which_events_are_redelivered(case: str) -> None:
    # given a hook's delivery log
    log, due, waiting, abandoned = CASES[case]
    # when it is planned
    plan = plan_redeliveries(log, now=NOW, policy=POLICY)
    # then exactly these are due, waiting or given up on
    assert [a.id for a in plan.due] == due
    assert (plan.waiting, plan.abandoned) == (waiting, abandoned)
    assert plan.found == len(due) + waiting
