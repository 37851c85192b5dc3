"""Reconciliation against the simulator's delivery log with our API down for a window, then
recovered (issue 16): every failed delivery arrives exactly once, through the deployed
handlers — the simulator delivers to the local gateway, which invokes the receiver; the relay
publishes to the bus; ReconcileDeliveriesFunction's handler runs with a scheduled event."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from repoconn_local.cli.health_check import scheduled_event

from tests.integration.faults.conftest import FIGURES
from tests.integration.faults.world import Outage, World
from tests.support.api import PROVIDER_TOKEN
from tests.support.handlers import invoke
from tests.support.simulator_control import SIM_PROVIDER

RECONCILE = "reconcile_deliveries"
REPOS = {
    "GitHub": "https://github.com/acme/reconciled",
    "GitLab": "https://gitlab.com/acme/platform/reconciled",
    "Bitbucket": "https://bitbucket.org/acme/reconciled",
}
# The window: (how our API fails, the status the provider sees), in order.
WINDOW = (
    (Outage.DOWN, 503),
    (Outage.DOWN, 503),
    (Outage.DOWN, 502),
    (Outage.ANSWER_LOST, 504),  # the receiver recorded it; only its answer was lost
    (Outage.DOWN, 503),
)


def commit(n: int) -> str:
    return f"{n:040x}"


def push(world: World, provider: str, hook_id: str, n: int) -> int:
    """The provider delivers a push of commit ``n`` (a body of its own); the status it saw,
    0 when nothing answered."""
    response = world.simulator.deliver_raw(
        provider,
        hook_id,
        {"event": "push", "payload": {"ref": "refs/heads/main", "after": commit(n)}},
    )
    if response.status_code == 502:
        return 0
    response.raise_for_status()
    return int(response.json()["status"])


def reconcile() -> dict[str, Any]:
    report: dict[str, Any] = invoke(RECONCILE, scheduled_event(), timeout_seconds=300)
    return report


def published_commits(world: World) -> Counter[str]:
    """The commit of every push published since the last call, counted."""
    return Counter(_after(event) for event in world.published())


def _after(event: dict[str, Any]) -> str:
    detail = event["detail"]
    payload = (json.loads(detail) if isinstance(detail, str) else detail)["payload"]
    return str(payload.get("after"))


def given_connected_with_hook(world: World, service: str) -> str:
    world.reset()
    assert world.put("p1", REPOS[service], PROVIDER_TOKEN).status == 201
    (hook,) = world.hooks()
    return str(hook["id"])


def given_a_window_of_failures(world: World, provider: str, hook_id: str) -> dict[str, int]:
    """Two pushes delivered, the window's five failing, two more after recovery; what the
    provider saw per commit."""
    seen: dict[str, int] = {}
    for number, outage in enumerate((None, None, *WINDOW, None, None), start=1):
        if outage is None:
            world.gateway.outage = None
        else:
            world.gateway.outage, world.gateway.outage_status = outage
        seen[commit(number)] = push(world, provider, hook_id, number)
    world.gateway.outage = None
    return seen


@pytest.mark.parametrize("service", ["GitHub", "GitLab"])
def test_every_delivery_that_failed_while_our_api_was_down_arrives_exactly_once(
    world: World, service: str
) -> None:
    provider = SIM_PROVIDER[service]
    hook_id = given_connected_with_hook(world, service)
    # given nine pushes, five of which failed while our API was down (one of those only lost
    # its answer: the receiver had recorded and published it)
    seen = given_a_window_of_failures(world, provider, hook_id)
    failed = sorted(c for c, status in seen.items() if not 200 <= status < 300)
    before = published_commits(world)
    assert len(seen) == 9
    assert len(failed) == 5
    assert sum(before.values()) == 5  # four delivered, plus the one whose answer was lost
    if service == "GitLab":
        # GitLab disables a hook that keeps failing (alert_status "disabled")
        world.simulator.hook_action(provider, hook_id, "deactivate")
    # when the scheduled reconciliation runs
    report = reconcile()
    # then each failed event was redelivered once, and every push has now been published
    # exactly once: the one recorded before came back as a duplicate
    after = published_commits(world)
    total = before + after
    expected_sample = 1 if service == "GitLab" else 0  # GitLab's test push re-enabled the hook
    assert report["found"] == 5
    assert report["redelivered"] == 5
    assert report["redelivery_failed"] == 0
    assert report["hooks_reenabled"] == expected_sample
    assert report["errors"] == 0 and report["completed"] is True
    assert {c: total[c] for c in seen} == dict.fromkeys(seen, 1)
    assert sum(after.values()) == 4 + expected_sample
    log = world.simulator.delivery_log(provider, hook_id)
    redelivered = [entry for entry in log if entry["redelivery"]]
    assert len(redelivered) == 5
    assert all(entry["status"] in (200, 202) for entry in redelivered)
    # and the frontend's delivery log shows each redelivery the provider accepted
    listed = world.api.deliveries("p1", "limit=100")
    assert listed.status == 200, listed.text
    outcomes = Counter(entry["outcome"] for entry in listed.json()["deliveries"])
    assert outcomes["redelivered"] == 5
    # when it runs again, nothing is asked twice
    again = reconcile()
    assert again["found"] == 0
    assert again["redelivered"] == 0
    assert world.simulator.delivery_log(provider, hook_id) == log
    assert sum(published_commits(world).values()) == 0
    FIGURES[f"reconcile:{service}"] = len(seen)
    print(
        f"\n{service}: {len(seen)} deliveries, {len(failed)} failed, "
        f"{report['redelivered']} redelivered, "
        f"{sum(1 for e in redelivered if e['status'] == 200)} of them duplicates of a recorded "
        f"body, published once each: {sum(total[c] for c in seen)} events for {len(seen)} pushes"
    )


def test_a_redelivery_that_fails_again_is_not_asked_again_before_its_back_off(
    world: World,
) -> None:
    # given a GitHub push that failed while our API was down, which is still down
    hook_id = given_connected_with_hook(world, "GitHub")
    world.gateway.outage, world.gateway.outage_status = Outage.DOWN, 503
    assert push(world, "github", hook_id, 1) == 503
    # when the reconciliation runs twice during the outage
    first = reconcile()
    second = reconcile()
    # then the first run redelivered it (and it failed again), the second waits its back-off
    assert (first["found"], first["redelivered"]) == (1, 1)
    assert (second["found"], second["redelivered"]) == (1, 0)
    logged = world.simulator.delivery_log("github", hook_id)
    # (the first entry is GitHub's ping of the new hook, before the outage)
    assert [(e["event"], e["status"]) for e in logged] == [
        ("ping", 200),
        ("push", 503),
        ("push", 503),
    ]
    assert sum(published_commits(world).values()) == 0


def test_bitbucket_has_no_delivery_log_api_and_is_asked_nothing(world: World) -> None:
    # given a Bitbucket connection whose deliveries failed while our API was down
    hook_id = given_connected_with_hook(world, "Bitbucket")
    world.gateway.outage, world.gateway.outage_status = Outage.DOWN, 503
    push(world, "bitbucket", hook_id, 1)
    world.gateway.outage = None
    world.simulator.clear_requests()
    # when the reconciliation runs
    report = reconcile()
    # then the connection is counted as one without a delivery log, and Bitbucket is not called
    assert report["unsupported"] == 1
    assert report["found"] == report["redelivered"] == 0
    assert world.simulator.requests("bitbucket") == []
