"""The providers' corners (issue 17) as each client reads them: GitHub's 307 on writes to a
renamed repository and its App installation tokens, GitLab's token scopes and every hook flag,
Bitbucket's granted scopes. Scripted provider answers on loopback; the simulator tests
(tests/integration/test_provider_corners.py) run the same corners end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from repoconn_core.errors import InsufficientPermissions, ProviderUnavailable
from repoconn_providers.gitlab import ALL_EVENT_FLAGS

from tests.unit.scripted_http import ScriptedServer, Step
from tests.unit.test_provider_responses import (
    CALLBACK,
    SECRET,
    TOKEN,
    bitbucket,
    gh_hook,
    github,
    gitlab,
)

INSTALLATION_TOKEN = SecretStr("ghs_unit0123456789abcdefghijklmnopqrstu")
PROJECT = "/api/v4/projects/acme%2Fplatform%2Fapi"
TOKEN_SELF = "/api/v4/personal_access_tokens/self"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer().start()
    yield srv
    srv.stop()


# -- GitHub: 307 on a write to a renamed repository ---------------------------------------------


def test_github_create_follows_a_307_resending_method_and_body(server: ScriptedServer) -> None:
    # given the repository was renamed: its old path answers writes with 307
    client, repo = github(server)
    moved = f"{server.url}/repositories/42/hooks"
    server.route("POST", "/repos/acme/api/hooks", Step(307, {}, {"Location": moved}))
    server.route("POST", "/repositories/42/hooks", Step(201, gh_hook(7, CALLBACK)))

    # when a hook is created under the old name
    hook = client.create_hook(repo, TOKEN, CALLBACK, SECRET)

    # then the same POST, body and token were sent again to the new location
    assert hook.id == "7"
    assert [(s.method, s.path) for s in server.seen] == [
        ("POST", "/repos/acme/api/hooks"),
        ("POST", "/repositories/42/hooks"),
    ]
    assert server.seen[1].body == server.seen[0].body
    assert json.loads(server.seen[1].body)["config"]["url"] == CALLBACK
    assert server.seen[1].headers["authorization"] == server.seen[0].headers["authorization"]


def test_github_update_and_delete_follow_a_307_too(server: ScriptedServer) -> None:
    client, repo = github(server)
    server.route(
        "PATCH",
        "/repos/acme/api/hooks/7",
        Step(307, {}, {"Location": "/repositories/42/hooks/7"}),  # relative: resolved
    )
    server.route("PATCH", "/repositories/42/hooks/7", Step(200, gh_hook(7, CALLBACK)))
    server.route(
        "DELETE", "/repos/acme/api/hooks/7", Step(307, {}, {"Location": "/repositories/42/hooks/7"})
    )
    server.route("DELETE", "/repositories/42/hooks/7", Step(204))

    assert client.update_hook(repo, TOKEN, "7", CALLBACK, SECRET).id == "7"
    assert client.delete_hook(repo, TOKEN, "7") is True
    assert [(s.method, s.path) for s in server.seen] == [
        ("PATCH", "/repos/acme/api/hooks/7"),
        ("PATCH", "/repositories/42/hooks/7"),
        ("DELETE", "/repos/acme/api/hooks/7"),
        ("DELETE", "/repositories/42/hooks/7"),
    ]


def test_github_refuses_a_307_to_another_host_without_sending_the_token_there(
    server: ScriptedServer,
) -> None:
    client, repo = github(server)
    server.route(
        "POST",
        "/repos/acme/api/hooks",
        Step(307, {}, {"Location": "https://elsewhere.example.test/repositories/42/hooks"}),
    )

    with pytest.raises(ProviderUnavailable) as caught:
        client.create_hook(repo, TOKEN, CALLBACK, SECRET)

    assert caught.value.detail == "GitHub redirected the request to another host; not following it"
    assert len(server.seen) == 1


def test_github_stops_following_307s_after_two(server: ScriptedServer) -> None:
    client, repo = github(server)
    server.route(
        "POST", "/repos/acme/api/hooks", Step(307, {}, {"Location": "/repos/acme/api/hooks"})
    )

    with pytest.raises(ProviderUnavailable) as caught:
        client.create_hook(repo, TOKEN, CALLBACK, SECRET)

    assert caught.value.detail == "GitHub redirected the request more than 2 times"
    assert len(server.seen) == 3


# -- GitHub: App installation tokens -----------------------------------------------------------


def test_github_installation_token_is_judged_by_the_hooks_probe_not_admin(
    server: ScriptedServer,
) -> None:
    # given an installation token: no role on the repository, no scopes header
    client, repo = github(server)
    server.route("GET", "/repos/acme/api", Step(200, {"permissions": {"admin": False}}))
    server.route("GET", "/repos/acme/api/hooks", Step(200, []))

    # when / then it passes: the app may list hooks (Webhooks permission)
    client.preflight(repo, INSTALLATION_TOKEN)
    assert [s.path for s in server.seen] == ["/repos/acme/api", "/repos/acme/api/hooks?per_page=1"]


def test_github_installation_token_without_the_webhooks_permission_is_refused(
    server: ScriptedServer,
) -> None:
    client, repo = github(server)
    server.route("GET", "/repos/acme/api", Step(200, {"permissions": {"admin": False}}))
    server.route(
        "GET",
        "/repos/acme/api/hooks",
        Step(
            403,
            {"message": "Resource not accessible by integration"},
            {"X-Accepted-GitHub-Permissions": "repository_hooks=read"},
        ),
    )

    with pytest.raises(InsufficientPermissions) as caught:
        client.preflight(repo, INSTALLATION_TOKEN)
    assert '"Webhooks" repository permission' in caught.value.detail
    assert INSTALLATION_TOKEN.get_secret_value() not in caught.value.detail


def test_github_a_non_admin_user_token_is_still_refused_before_the_probe(
    server: ScriptedServer,
) -> None:
    client, repo = github(server)
    server.route("GET", "/repos/acme/api", Step(200, {"permissions": {"admin": False}}))

    with pytest.raises(InsufficientPermissions):
        client.preflight(repo, SecretStr("github_pat_unit0123456789"))
    assert len(server.seen) == 1


# -- GitLab: the token's scopes, every hook flag ------------------------------------------------


def maintainer_project(server: ScriptedServer) -> None:
    server.route(
        "GET",
        PROJECT,
        Step(200, {"permissions": {"project_access": {"access_level": 40}, "group_access": None}}),
    )


def test_gitlab_a_maintainers_read_api_token_is_refused_at_preflight(
    server: ScriptedServer,
) -> None:
    client, repo = gitlab(server)
    maintainer_project(server)
    server.route("GET", TOKEN_SELF, Step(200, {"id": 4, "scopes": ["read_api", "read_user"]}))

    with pytest.raises(InsufficientPermissions) as caught:
        client.preflight(repo, TOKEN)

    assert caught.value.detail == (
        "The token lacks the api scope GitLab requires for managing webhooks (granted scopes: "
        "read_api, read_user); create the token with the api scope"
    )


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(Step(200, {"id": 4, "scopes": ["api"]}), id="api-scope"),
        pytest.param(Step(404, {"error": "404 Not Found"}), id="older-gitlab"),
        pytest.param(Step(401, {"message": "401 Unauthorized"}), id="oauth-token"),
        pytest.param(Step(403, {"message": "403 Forbidden"}), id="forbidden"),
        pytest.param(Step(200, "<html>"), id="not-json"),
        pytest.param(Step(200, {"id": 4}), id="no-scopes-listed"),
    ],
)
def test_gitlab_preflight_passes_when_the_scopes_allow_it_or_cannot_be_read(
    server: ScriptedServer, answer: Step
) -> None:
    client, repo = gitlab(server)
    maintainer_project(server)
    server.route("GET", TOKEN_SELF, answer)

    client.preflight(repo, TOKEN)

    assert [s.path for s in server.seen] == [PROJECT, TOKEN_SELF]


def test_gitlab_hook_body_sets_every_event_flag_the_api_lists(server: ScriptedServer) -> None:
    client, repo = gitlab(server)
    server.route("PUT", f"{PROJECT}/hooks/3", Step(200, {"id": 3, "url": CALLBACK}))

    client.update_hook(repo, TOKEN, "3", CALLBACK, SECRET)

    body = json.loads(server.seen[0].body)
    assert {flag: body[flag] for flag in ALL_EVENT_FLAGS} == {
        flag: flag in ("push_events", "merge_requests_events") for flag in ALL_EVENT_FLAGS
    }
    for flag in (
        "feature_flag_events",
        "milestone_events",
        "emoji_events",
        "resource_access_token_events",
        "resource_deploy_token_events",
        "vulnerability_events",
    ):
        assert body[flag] is False


# -- Bitbucket: the scopes the hook's events need -----------------------------------------------


def test_bitbucket_preflight_refuses_a_token_without_the_pullrequest_scope(
    server: ScriptedServer,
) -> None:
    client, repo = bitbucket(server)
    server.route(
        "GET",
        "/2.0/repositories/acme/api",
        Step(200, {"full_name": "acme/api"}, {"X-OAuth-Scopes": "repository:write, webhook"}),
    )

    with pytest.raises(InsufficientPermissions) as caught:
        client.preflight(repo, TOKEN)

    assert caught.value.detail == (
        "The token lacks the pullrequest scope Bitbucket requires for a webhook on push and "
        "pull request events (granted scopes: repository:write, webhook)"
    )
    assert len(server.seen) == 1


@pytest.mark.parametrize(
    "scopes", ["pullrequest, webhook", "pullrequest:write webhook", "account,pullrequest,webhook"]
)
def test_bitbucket_preflight_accepts_the_scopes_a_hook_needs(
    server: ScriptedServer, scopes: str
) -> None:
    client, repo = bitbucket(server)
    server.route(
        "GET",
        "/2.0/repositories/acme/api",
        Step(200, {"full_name": "acme/api"}, {"X-OAuth-Scopes": scopes}),
    )
    server.route("GET", "/2.0/repositories/acme/api/hooks", Step(200, {"values": []}))

    client.preflight(repo, TOKEN)

    assert len(server.seen) == 2


def test_bitbucket_create_refused_for_its_events_names_the_scope_bitbucket_requires(
    server: ScriptedServer,
) -> None:
    client, repo = bitbucket(server)
    server.route(
        "POST",
        "/2.0/repositories/acme/api/hooks",
        Step(
            403,
            {
                "type": "error",
                "error": {
                    "message": "Your credentials lack one or more required privilege scopes.",
                    "detail": {"granted": ["repository", "webhook"], "required": ["pullrequest"]},
                },
            },
        ),
    )

    with pytest.raises(InsufficientPermissions) as caught:
        client.create_hook(repo, TOKEN, CALLBACK, SECRET)

    assert caught.value.detail == (
        "The token lacks the pullrequest scope Bitbucket requires for managing this webhook "
        "(required: pullrequest)"
    )
