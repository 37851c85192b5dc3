"""DynamoDB answers that never arrive (found by the fault matrix; each failed before its fix).

A read timeout is an outage (503), not a crash; a write that was applied but whose answer was
lost - then possibly re-sent by the SDK and cancelled by its own writes - is a success.
"""

from __future__ import annotations

import pytest

from tests.faultkit.aws import LOST_RESPONSE, LOST_THEN_RETRIED, READ_TIMEOUT
from tests.faultkit.injector import Fault
from tests.integration.faults.checks import problems, snapshot
from tests.integration.faults.runner import prepare
from tests.integration.faults.scenarios import PROJECT, REPO_A, TOKEN_1, TOKEN_2
from tests.integration.faults.world import World


@pytest.mark.parametrize("step", ["dynamodb:GetItem(project)", "dynamodb:TransactWriteItems"])
def test_a_dynamodb_read_timeout_answers_503_not_500(world: World, step: str) -> None:
    # given a project (botocore's ReadTimeoutError carries response=None, on which pynamodb's
    # cause_response_code raised AttributeError: the catch-all answered 500)
    world.reset()
    # when DynamoDB does not answer in time
    with world.injector.armed({(step, 1): READ_TIMEOUT}):
        response = world.put(PROJECT, REPO_A["GitHub"], TOKEN_1)
    # then it is an outage like any other: 503 with Retry-After, nothing stored, no hook
    assert (response.status, response.json()["code"]) == (503, "dependency_unavailable")
    assert response.headers["retry-after"] == "10"
    assert world.items() == [] and world.hooks() == []


@pytest.mark.parametrize("fault", [LOST_RESPONSE, LOST_THEN_RETRIED], ids=lambda f: f.name)
def test_a_connect_whose_write_landed_but_whose_answer_was_lost_succeeds(
    world: World, fault: Fault
) -> None:
    # given a first connect whose transaction is applied and whose answer is lost (then,
    # for the second case, re-sent by the SDK and cancelled by its own writes)
    world.reset()
    # when connecting
    with world.injector.armed({("dynamodb:TransactWriteItems", 1): fault}):
        response = world.put(PROJECT, REPO_A["GitLab"], TOKEN_1)
    # then the write is confirmed by a read and the connect succeeds; the created hook was
    # kept (it used to be deleted as "failed", leaving a stored connection without its hook)
    assert response.status == 201, response.text
    state = snapshot(world)
    assert problems(world, state) == []
    assert len(state.hooks) == 1


@pytest.mark.parametrize("fault", [LOST_RESPONSE, LOST_THEN_RETRIED], ids=lambda f: f.name)
def test_a_delivery_whose_record_landed_but_whose_answer_was_lost_is_published(
    world: World, fault: Fault
) -> None:
    # given a connection, and a delivery whose record (with its event) is written but whose
    # answer is lost (the SDK's retry then met the record and called it duplicate)
    hook_id = str(prepare(world, "receive", "GitLab").hook_id)
    world.published()
    # when the provider delivers
    with world.injector.armed({("dynamodb:PutItem(delivery)", 1): fault}):
        response = world.deliver("GitLab", hook_id, "d-lost-answer")
    # then the record is recognised as this call's own, and the delivery is published once
    assert response.status == 202, response.text
    assert [e["detail"]["deliveryId"] for e in world.published()] == ["d-lost-answer"]


def test_a_lease_whose_answer_was_lost_is_recognised_and_the_project_is_not_locked(
    world: World,
) -> None:
    # given a project whose lease PutItem is applied but whose answer is lost (the lease then
    # stayed, and every change to the project was 409 until it expired 60 s later)
    world.reset()
    # when connecting
    with world.injector.armed({("dynamodb:PutItem(lease)", 1): LOST_RESPONSE}):
        response = world.put(PROJECT, REPO_A["GitHub"], TOKEN_1)
    # then the lease is recognised as this request's own: the connect goes ahead and releases
    # it, so the next change to the project is not refused
    assert response.status == 201, response.text
    assert [i for i in world.items() if i["repositoryUrl"]["S"].startswith("lease#")] == []
    assert world.put(PROJECT, REPO_A["GitHub"], TOKEN_2).status == 200
