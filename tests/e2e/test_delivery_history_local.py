"""The delivery log over the local stack, as the frontend reads it: the simulator delivers a
push twice (the second is a duplicate), the relay runs asynchronously, and GET /deliveries and
GET connection's lastDeliveryAt show what happened."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import LocalRun
from tests.support.api import given_connected

pytestmark = pytest.mark.e2e

ACCESS_TOKEN = "ghp_e2eAccessToken0123456789"


def _eventually(condition: Callable[[], bool], within: float = 15.0) -> bool:
    """Poll an asynchronous outcome until it holds or ``within`` seconds have passed."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_push_and_its_duplicate_are_listed_and_paged_for_members(local_run: LocalRun) -> None:
    # given a connected repository, read by a member right after the connect
    local_run.reset_simulator()
    project, repo = f"p-{uuid.uuid4().hex[:8]}", f"widgets-{uuid.uuid4().hex[:8]}"
    admin = local_run.token("alice", project, admin=True)
    reader = local_run.token("bob", project)
    given_connected(
        local_run.gateway,
        f"https://github.com/acme/{repo}",
        project=project,
        token=ACCESS_TOKEN,
        bearer_token=admin,
    )
    before = local_run.gateway.read(project, bearer_token=reader).json()
    [hook] = local_run.sim.hooks()
    push = {"event": "push", "payload": {"ref": "refs/heads/main", "after": uuid.uuid4().hex}}

    # when the simulator delivers the same push twice
    first = local_run.sim.deliver_raw(hook["provider"], hook["id"], push).json()
    second = local_run.sim.deliver_raw(hook["provider"], hook["id"], push).json()

    # then the second was acknowledged as a duplicate ...
    assert (first["status"], first["body"]["duplicate"]) == (202, False)
    assert (second["status"], second["body"]["duplicate"]) == (200, True)

    # ... and, once the relay ran, the listing shows the duplicate, then the published push
    def listed() -> list[dict[str, Any]]:
        answer = local_run.gateway.deliveries(project, bearer_token=reader)
        assert answer.status == 200
        return list(answer.json()["deliveries"])

    assert _eventually(lambda: len(listed()) == 2)
    entries = listed()
    assert [(e["deliveryId"], e["eventKind"], e["outcome"]) for e in entries] == [
        (second["body"]["deliveryId"], "push", "duplicate"),
        (first["body"]["deliveryId"], "push", "published"),
    ]
    # lastDeliveryAt: null right after the connect, then the newest receipt
    after = local_run.gateway.read(project, bearer_token=reader).json()
    assert before["lastDeliveryAt"] is None
    assert after["lastDeliveryAt"] == entries[0]["receivedAt"]

    # paging with limit=1 walks every entry exactly once
    walked: list[str] = []
    query = "limit=1"
    for _ in range(5):
        page = local_run.gateway.deliveries(project, query, bearer_token=reader).json()
        walked += [e["deliveryId"] + "/" + e["outcome"] for e in page["deliveries"]]
        if page["nextCursor"] is None:
            break
        query = f"limit=1&cursor={page['nextCursor']}"
    assert walked == [e["deliveryId"] + "/" + e["outcome"] for e in entries]

    # a caller without a role in the project is refused; a malformed cursor is a 400
    outsider = local_run.token("eve", f"other-{project}")
    refused = local_run.gateway.deliveries(project, bearer_token=outsider)
    assert (refused.status, refused.json()["code"]) == (403, "forbidden")
    malformed = local_run.gateway.deliveries(project, "cursor=%%%", bearer_token=reader)
    assert (malformed.status, malformed.json()["code"]) == (400, "invalid_cursor")
    assert malformed.headers["content-type"] == "application/problem+json"
