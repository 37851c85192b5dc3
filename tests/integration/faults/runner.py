"""Running one operation of the fault matrix: its starting state, the call, its answer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tests.integration.faults.scenarios import PROJECT, REPO_A, REPO_B, TOKEN_1, TOKEN_2, Answer
from tests.integration.faults.world import World
from tests.support.api import given_connected
from tests.support.handlers import HttpResult


@dataclass(frozen=True)
class Given:
    connection_id: str | None = None
    hook_id: str | None = None
    delivery_id: str | None = None


def prepare(world: World, op: str, provider: str) -> Given:
    """The operation's starting state, built through the handlers with nothing armed: a clean
    world, with PROJECT connected to the provider's first repository unless ``op`` connects."""
    world.reset()
    if op == "connect":
        return Given()
    created = given_connected(world.api, REPO_A[provider], project=PROJECT, token=TOKEN_1)
    [hook] = world.hooks()
    return Given(
        connection_id=created["id"],
        hook_id=str(hook["id"]),
        delivery_id=str(uuid.uuid4()) if op == "receive" else None,
    )


def perform(world: World, op: str, provider: str, given: Given) -> HttpResult:
    """The operation, through the deployed handlers (the receiver through the gateway)."""
    if op == "receive":
        assert given.hook_id is not None
        return world.deliver(provider, given.hook_id, given.delivery_id)
    # The receiver's work on GitHub's ping (sent while connect creates a hook) runs on the
    # gateway's threads: not one of the operation's steps.
    with world.injector.only_this_thread():
        if op == "disconnect":
            return world.delete(PROJECT)
        url, token = {
            "connect": (REPO_A[provider], TOKEN_1),
            "reconnect": (REPO_A[provider], TOKEN_2),
            "replace": (REPO_B[provider], TOKEN_2),
        }[op]
        return world.put(PROJECT, url, token)


def answer_of(response: HttpResult) -> Answer:
    if response.status < 400:
        return Answer(response.status)
    assert response.headers.get("content-type") == "application/problem+json", response.text
    assert "Traceback" not in response.text
    retry_after = response.headers.get("retry-after")
    return Answer(
        response.status, response.json()["code"], None if retry_after is None else int(retry_after)
    )
