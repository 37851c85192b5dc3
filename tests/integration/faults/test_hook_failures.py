"""Provider hooks when a connect fails half-way (found by the fault matrix; each failed before its
fix): nothing left behind, and a stored connection's hook keeps its stored secret.
"""

from __future__ import annotations

import pytest

from tests.faultkit.aws import READ_TIMEOUT
from tests.faultkit.injector import LostResponse
from tests.integration.faults.checks import decrypted, problems, snapshot
from tests.integration.faults.runner import prepare
from tests.integration.faults.scenarios import PROJECT, REPO_A, TOKEN_1, TOKEN_2
from tests.integration.faults.world import World


def test_a_hook_create_whose_answer_was_lost_is_adopted_not_left_behind(world: World) -> None:
    # given a first connect whose hook create reaches the provider but whose answer is lost
    # (POST is never retried; the next attempt would use a new connection id and callback
    # URL, so nothing would ever find that hook again)
    world.reset()
    # when connecting
    with world.injector.armed({("provider:create_hook", 1): LostResponse("lost")}):
        response = world.put(PROJECT, REPO_A["Bitbucket"], TOKEN_1)
    # then the hook is found by its callback URL, adopted, and the connect succeeds
    assert response.status == 201, response.text
    state = snapshot(world)
    assert problems(world, state) == []
    assert len(state.hooks) == 1


@pytest.mark.parametrize(
    "step", ["kms:GenerateDataKey", "dynamodb:TransactWriteItems", "provider:update_hook"]
)
def test_a_failed_reconnect_leaves_deliveries_verifying(world: World, step: str) -> None:
    # given a connected repository
    hook_id = str(prepare(world, "reconnect", "GitHub").hook_id)
    # when a reconnect fails after (or, for KMS, where it used to be after) the hook update:
    # the hook got a new secret, the store kept the old one
    fault = LostResponse("lost") if step.startswith("provider") else READ_TIMEOUT
    with world.injector.armed({(step, 1): fault}):
        failed = world.put(PROJECT, REPO_A["GitHub"], TOKEN_2)
    assert failed.status in {502, 503}, failed.text
    # then the hook holds the stored secret again, and a delivery still verifies
    state = snapshot(world)
    assert problems(world, state) == []
    [item] = state.connections().values()
    assert decrypted(world.cipher, item, "accessToken") == TOKEN_1
    assert world.deliver("GitHub", hook_id).status == 202
