"""Connect against each provider (simulated over HTTP): hooks, replacement, provider errors."""

from __future__ import annotations

import pytest

from tests.support.api import Api, given_connected
from tests.support.simulator_control import SimulatorControl

REPOS = {
    "github": "https://github.com/acme/api",
    "gitlab": "https://gitlab.com/acme/platform/backend/api",
    "bitbucket": "https://bitbucket.org/acme/api",
}


@pytest.mark.parametrize("provider", sorted(REPOS))
def test_connect_registers_one_hook_with_our_callback_and_a_fresh_secret(
    api: Api, sim_control: SimulatorControl, provider: str
) -> None:
    # when
    body = given_connected(api, REPOS[provider])
    # then exactly one hook exists, pointing at /webhooks/{connectionId}
    hooks = sim_control.hooks()
    assert len(hooks) == 1
    assert hooks[0]["provider"] == provider
    assert hooks[0]["url"] == f"https://hooks.example.test/webhooks/{body['id']}"
    assert hooks[0]["active"] is True
    assert len(hooks[0]["secret"]) >= 43  # 32 random bytes, URL-safe base64


@pytest.mark.parametrize("provider", sorted(REPOS))
def test_reconnecting_three_times_leaves_exactly_one_hook_with_the_latest_secret(
    api: Api, sim_control: SimulatorControl, provider: str
) -> None:
    secrets_seen = []
    for _ in range(3):
        assert api.connect("p1", REPOS[provider]).status in (200, 201)
        hooks = sim_control.hooks()
        assert len(hooks) == 1
        secrets_seen.append(hooks[0]["secret"])
    assert len(set(secrets_seen)) == 3


@pytest.mark.parametrize("provider", sorted(REPOS))
def test_replacing_the_repository_removes_the_old_item_and_hook(
    api: Api, sim_control: SimulatorControl, provider: str
) -> None:
    # given p1 connected to a GitHub repository
    given_connected(api, "https://github.com/acme/old-repo")
    # when p1 connects another repository
    response = api.connect("p1", REPOS[provider])
    # then p1 has only the new connection, the old repository is free, one hook remains
    assert response.status == 201
    assert api.read("p1").json()["repositoryUrl"] == REPOS[provider]
    hooks = sim_control.hooks()
    assert [hook["provider"] for hook in hooks] == [provider]
    assert api.connect("p2", "https://github.com/acme/old-repo").status == 201


@pytest.mark.parametrize("provider", sorted(REPOS))
@pytest.mark.parametrize(
    ("token", "url_suffix", "status", "code"),
    [
        ("bad-token", "", 422, "invalid_token"),
        ("ro-token", "", 422, "insufficient_permissions"),
        ("tok-good", "missing", 422, "repository_not_found"),
        ("down-token", "", 502, "provider_unavailable"),
        ("limited-token", "", 503, "provider_rate_limited"),
    ],
)
def test_provider_refusals_map_to_problems_and_leave_nothing(
    api: Api,
    sim_control: SimulatorControl,
    provider: str,
    token: str,
    url_suffix: str,
    status: int,
    code: str,
) -> None:
    url = REPOS[provider]
    if url_suffix:
        url = url.rsplit("/", 1)[0] + "/" + url_suffix
    response = api.connect("p1", url, token)
    assert response.status == status
    problem = response.json()
    assert problem["code"] == code
    assert token not in response.text
    if code == "provider_rate_limited":
        assert int(response.headers["retry-after"]) >= 1
    if code == "insufficient_permissions":
        assert any(word in problem["detail"].lower() for word in ("admin", "maintainer", "webhook"))
    assert sim_control.hooks() == []
    assert api.read("p1", "/exists").json() == {"exists": False}
