"""How each client reads its provider's answers: status → typed error, request shapes, and
pagination. Scripted provider answers on loopback; the simulator tests cover the happy flows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from repoconn_core.errors import (
    HookNotFound,
    InsufficientPermissions,
    InvalidToken,
    ProviderUnavailable,
    RepositoryNotFound,
)
from repoconn_core.providers import ProviderEndpoint, RepositoryRef, ServiceType
from repoconn_providers.bitbucket import BitbucketClient
from repoconn_providers.github import GitHubClient
from repoconn_providers.gitlab import GitLabClient
from repoconn_providers.http import ProviderHttp, RetryPolicy
from repoconn_providers.signatures import gitlab_signing_token, gitlab_token

from tests.unit.scripted_http import ScriptedServer, Step

TOKEN = SecretStr("tok-unit-0123456789")
SECRET = SecretStr("whsec-unit-abcdefghijklmnop")
CALLBACK = "https://hooks.example.test/webhooks/c-1"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer().start()
    yield srv
    srv.stop()


def http_for(base_url: str, service: str) -> ProviderHttp:
    return ProviderHttp(
        service,
        base_url,
        connect_timeout=1,
        read_timeout=2,
        retry=RetryPolicy(max_retries=0),
        allow_plain_http_loopback=True,
        sleep=lambda _: None,
    )


def github(server: ScriptedServer, **kwargs: int) -> tuple[GitHubClient, RepositoryRef]:
    endpoint = ProviderEndpoint(ServiceType.GITHUB, server.url)
    repo = RepositoryRef(ServiceType.GITHUB, "github.com", "acme/api", endpoint)
    return GitHubClient(http_for(server.url, "GitHub"), **kwargs), repo


def gitlab(
    server: ScriptedServer, path: str = "acme/platform/api", **kwargs: int
) -> tuple[GitLabClient, RepositoryRef]:
    endpoint = ProviderEndpoint(ServiceType.GITLAB, server.url + "/api/v4")
    repo = RepositoryRef(ServiceType.GITLAB, "gitlab.com", path, endpoint)
    return GitLabClient(http_for(endpoint.api_base_url, "GitLab"), **kwargs), repo


def bitbucket(server: ScriptedServer) -> tuple[BitbucketClient, RepositoryRef]:
    endpoint = ProviderEndpoint(ServiceType.BITBUCKET, server.url + "/2.0")
    repo = RepositoryRef(ServiceType.BITBUCKET, "bitbucket.org", "acme/api", endpoint)
    return BitbucketClient(http_for(endpoint.api_base_url, "Bitbucket")), repo


def gh_hook(hook_id: int, url: str) -> dict[str, object]:
    return {
        "id": hook_id,
        "name": "web",
        "active": True,
        "events": ["push", "pull_request"],
        "config": {"url": url, "content_type": "json", "insecure_ssl": "0", "secret": "********"},
    }


# -- GitHub -------------------------------------------------------------------------------------


def test_github_preflight_passes_for_an_admin_classic_token(server: ScriptedServer) -> None:
    client, repo = github(server)
    server.route(
        "GET",
        "/repos/acme/api",
        Step(200, {"permissions": {"admin": True}}, {"X-OAuth-Scopes": "repo, read:org"}),
    )
    server.route("GET", "/repos/acme/api/hooks", Step(200, []))

    client.preflight(repo, TOKEN)

    assert [s.path for s in server.seen] == ["/repos/acme/api", "/repos/acme/api/hooks?per_page=1"]
    assert server.seen[0].headers["accept"] == "application/vnd.github+json"


@pytest.mark.parametrize(
    ("step", "error", "words"),
    [
        (Step(401, {"message": "Bad credentials"}), InvalidToken, "invalid"),
        (Step(404, {"message": "Not Found"}), RepositoryNotFound, "not visible to this token"),
        (
            Step(200, {"permissions": {"admin": False, "push": True}}),
            InsufficientPermissions,
            "admin permission on the repository (and the admin:repo_hook / repo scope for "
            "classic tokens)",
        ),
        (
            Step(200, {"permissions": {"admin": True}}, {"X-OAuth-Scopes": "public_repo"}),
            InsufficientPermissions,
            "admin:repo_hook (or repo) scope",
        ),
    ],
)
def test_github_preflight_maps_refusals(
    server: ScriptedServer, step: Step, error: type[Exception], words: str
) -> None:
    client, repo = github(server)
    server.route("GET", "/repos/acme/api", step)

    with pytest.raises(error) as caught:
        client.preflight(repo, TOKEN)
    assert words in str(caught.value)


def test_github_preflight_catches_a_fine_grained_token_without_webhook_permission(
    server: ScriptedServer,
) -> None:
    client, repo = github(server)
    server.route("GET", "/repos/acme/api", Step(200, {"permissions": {"admin": True}}))
    server.route(
        "GET",
        "/repos/acme/api/hooks",
        Step(403, {"message": "Resource not accessible by personal access token"}),
    )

    with pytest.raises(InsufficientPermissions) as caught:
        client.preflight(repo, TOKEN)
    assert "Webhooks read and write permission" in caught.value.detail


def test_github_create_sends_a_json_hook_with_tls_verification_and_secret(
    server: ScriptedServer,
) -> None:
    client, repo = github(server)
    server.route("POST", "/repos/acme/api/hooks", Step(201, gh_hook(7, CALLBACK)))

    hook = client.create_hook(repo, TOKEN, CALLBACK, SECRET)

    assert hook.id == "7"
    assert hook.url == CALLBACK
    assert json.loads(server.seen[0].body) == {
        "name": "web",
        "active": True,
        "events": ["push", "pull_request"],
        "config": {
            "url": CALLBACK,
            "content_type": "json",
            "insecure_ssl": "0",
            "secret": SECRET.get_secret_value(),
        },
    }


def test_github_create_adopts_an_existing_hook_with_the_same_url(server: ScriptedServer) -> None:
    client, repo = github(server)
    server.route(
        "POST",
        "/repos/acme/api/hooks",
        Step(
            422,
            {
                "message": "Validation Failed",
                "errors": [
                    {"resource": "Hook", "message": "Hook already exists on this repository"}
                ],
            },
        ),
    )
    server.route("GET", "/repos/acme/api/hooks", Step(200, [gh_hook(9, CALLBACK)]))
    server.route("PATCH", "/repos/acme/api/hooks/9", Step(200, gh_hook(9, CALLBACK)))

    hook = client.create_hook(repo, TOKEN, CALLBACK, SECRET)

    assert hook.id == "9"
    patch = server.seen[-1]
    assert patch.method == "PATCH"
    assert json.loads(patch.body)["config"]["secret"] == SECRET.get_secret_value()


def test_github_find_follows_link_rel_next_across_pages(server: ScriptedServer) -> None:
    client, repo = github(server, page_size=2)
    page2 = f"{server.url}/repositories/42/hooks?per_page=2&page=2"
    page3 = f"{server.url}/repositories/42/hooks?per_page=2&page=3"
    server.route(
        "GET",
        "/repos/acme/api/hooks?per_page=2",
        Step(
            200,
            [gh_hook(1, "https://a.test/1"), gh_hook(2, "https://a.test/2")],
            {"Link": f'<{page2}>; rel="next", <{page3}>; rel="last"'},
        ),
    )
    server.route(
        "GET",
        "/repositories/42/hooks?per_page=2&page=2",
        Step(
            200,
            [gh_hook(3, "https://a.test/3"), gh_hook(4, "https://a.test/4")],
            {"Link": f'<{page3}>; rel="next", <{page3}>; rel="last"'},
        ),
    )
    server.route(
        "GET", "/repositories/42/hooks?per_page=2&page=3", Step(200, [gh_hook(5, CALLBACK)])
    )

    hook = client.find_hook(repo, TOKEN, CALLBACK)

    assert hook is not None and hook.id == "5"
    assert len(server.seen) == 3


def test_github_find_returns_none_when_no_page_has_the_url(server: ScriptedServer) -> None:
    client, repo = github(server)
    server.route("GET", "/repos/acme/api/hooks", Step(200, [gh_hook(1, "https://a.test/1")]))

    assert client.find_hook(repo, TOKEN, CALLBACK) is None


def test_github_update_of_a_missing_hook_raises_hook_not_found(server: ScriptedServer) -> None:
    client, repo = github(server)
    server.route("PATCH", "/repos/acme/api/hooks/5", Step(404, {"message": "Not Found"}))

    with pytest.raises(HookNotFound):
        client.update_hook(repo, TOKEN, "5", CALLBACK, SECRET)


def test_github_delete_is_true_then_false(server: ScriptedServer) -> None:
    client, repo = github(server)
    server.route("DELETE", "/repos/acme/api/hooks/5", Step(204), Step(404, {"message": "x"}))

    assert client.delete_hook(repo, TOKEN, "5") is True
    assert client.delete_hook(repo, TOKEN, "5") is False


def test_github_rejects_dot_segments_in_the_repository_path(server: ScriptedServer) -> None:
    client, repo = github(server)
    bad = RepositoryRef(ServiceType.GITHUB, "github.com", "../api", repo.endpoint)

    with pytest.raises(RepositoryNotFound):
        client.preflight(bad, TOKEN)
    assert server.seen == []


# -- GitLab -------------------------------------------------------------------------------------


def test_gitlab_encodes_the_nested_group_path_as_one_segment(server: ScriptedServer) -> None:
    client, repo = gitlab(server, "acme/platform/tools/api")
    server.route(
        "GET",
        "/api/v4/projects/acme%2Fplatform%2Ftools%2Fapi",
        Step(200, {"permissions": {"project_access": None, "group_access": {"access_level": 50}}}),
    )
    # an instance before GitLab 15.5: no token self-inspection route
    server.route(
        "GET", "/api/v4/personal_access_tokens/self", Step(404, {"error": "404 Not Found"})
    )

    client.preflight(repo, TOKEN)

    assert [s.path for s in server.seen] == [
        "/api/v4/projects/acme%2Fplatform%2Ftools%2Fapi",
        "/api/v4/personal_access_tokens/self",
    ]


def test_gitlab_developer_is_refused_naming_the_maintainer_role(server: ScriptedServer) -> None:
    client, repo = gitlab(server)
    server.route(
        "GET",
        "/api/v4/projects/acme%2Fplatform%2Fapi",
        Step(200, {"permissions": {"project_access": {"access_level": 30}, "group_access": None}}),
    )
    server.route(
        "GET",
        "/api/v4/projects/acme%2Fplatform%2Fapi/hooks",
        Step(403, {"message": "403 Forbidden"}),
    )

    with pytest.raises(InsufficientPermissions) as caught:
        client.preflight(repo, TOKEN)
    assert "Maintainer role" in caught.value.detail
    assert "Developer" in caught.value.detail


def test_gitlab_inherited_access_reported_as_null_is_confirmed_by_the_hooks_probe(
    server: ScriptedServer,
) -> None:
    client, repo = gitlab(server)
    server.route(
        "GET",
        "/api/v4/projects/acme%2Fplatform%2Fapi",
        Step(200, {"permissions": {"project_access": None, "group_access": None}}),
    )
    server.route("GET", "/api/v4/projects/acme%2Fplatform%2Fapi/hooks", Step(200, []))

    client.preflight(repo, TOKEN)

    assert server.seen[-1].path == "/api/v4/projects/acme%2Fplatform%2Fapi/hooks?per_page=1"


def test_gitlab_read_api_token_is_refused_naming_the_api_scope(server: ScriptedServer) -> None:
    client, repo = gitlab(server)
    server.route(
        "POST",
        "/api/v4/projects/acme%2Fplatform%2Fapi/hooks",
        Step(
            403,
            {
                "error": "insufficient_scope",
                "error_description": "The request requires higher privileges than provided.",
                "scope": "api",
            },
        ),
    )

    with pytest.raises(InsufficientPermissions) as caught:
        client.create_hook(repo, TOKEN, CALLBACK, SECRET)
    assert "api scope" in caught.value.detail


def test_gitlab_create_sends_token_events_and_tls_verification(server: ScriptedServer) -> None:
    client, repo = gitlab(server)
    server.route(
        "POST",
        "/api/v4/projects/acme%2Fplatform%2Fapi/hooks",
        Step(
            201,
            {
                "id": 3,
                "url": CALLBACK,
                "push_events": True,
                "merge_requests_events": True,
                "alert_status": "executable",
                "token_present": True,
                "signing_token_present": True,
            },
        ),
    )

    hook = client.create_hook(repo, TOKEN, CALLBACK, SECRET)

    body = json.loads(server.seen[0].body)
    assert body["url"] == CALLBACK
    # Both derived from the secret (signatures.py), never the secret itself.
    assert body["token"] == gitlab_token(SECRET)
    assert body["signing_token"] == gitlab_signing_token(SECRET)
    assert SECRET.get_secret_value() not in server.seen[0].body.decode()
    assert body["enable_ssl_verification"] is True
    assert body["push_events"] is True and body["merge_requests_events"] is True
    assert body["issues_events"] is False
    assert hook.id == "3"
    assert hook.events == ("push_events", "merge_requests_events")
    assert hook.signing is True


@pytest.mark.parametrize(
    ("answer", "signing"),
    [
        pytest.param({"signing_token_present": True}, True, id="present"),
        pytest.param({"signing_token_present": False}, False, id="feature-off"),
        pytest.param({}, False, id="older-gitlab"),
        pytest.param({"signing_token_present": "true"}, False, id="not-a-boolean"),
    ],
)
def test_gitlab_hook_signs_only_when_the_answer_says_so(
    server: ScriptedServer, answer: dict[str, object], signing: bool
) -> None:
    # given GitLab's answer to an update (an instance without the feature ignores the token)
    client, repo = gitlab(server)
    server.route(
        "PUT",
        "/api/v4/projects/acme%2Fplatform%2Fapi/hooks/3",
        Step(200, {"id": 3, "url": CALLBACK, "push_events": True, **answer}),
    )
    # when the hook is updated, then it signs only if the answer says a signing token is there
    hook = client.update_hook(repo, TOKEN, "3", CALLBACK, SECRET)
    assert json.loads(server.seen[0].body)["signing_token"] == gitlab_signing_token(SECRET)
    assert hook.signing is signing


def test_gitlab_find_follows_x_next_page(server: ScriptedServer) -> None:
    client, repo = gitlab(server, page_size=1)
    base = "/api/v4/projects/acme%2Fplatform%2Fapi/hooks"
    server.route(
        "GET",
        f"{base}?per_page=1&page=1",
        Step(200, [{"id": 1, "url": "https://a.test/1"}], {"X-Next-Page": "2"}),
    )
    server.route(
        "GET",
        f"{base}?per_page=1&page=2",
        Step(200, [{"id": 2, "url": CALLBACK}], {"X-Next-Page": ""}),
    )

    hook = client.find_hook(repo, TOKEN, CALLBACK)

    assert hook is not None and hook.id == "2"


def test_gitlab_update_of_a_missing_hook_raises_hook_not_found(server: ScriptedServer) -> None:
    client, repo = gitlab(server)
    server.route(
        "PUT",
        "/api/v4/projects/acme%2Fplatform%2Fapi/hooks/3",
        Step(404, {"message": "404 Not found"}),
    )

    with pytest.raises(HookNotFound):
        client.update_hook(repo, TOKEN, "3", CALLBACK, SECRET)


# -- Bitbucket ----------------------------------------------------------------------------------


def test_bitbucket_preflight_names_the_missing_webhook_scope(server: ScriptedServer) -> None:
    client, repo = bitbucket(server)
    server.route("GET", "/2.0/repositories/acme/api", Step(200, {"full_name": "acme/api"}))
    server.route(
        "GET",
        "/2.0/repositories/acme/api/hooks",
        Step(
            403,
            {
                "type": "error",
                "error": {
                    "message": "Your credentials lack one or more required privilege scopes.",
                    "detail": {"granted": ["repository"], "required": ["webhook"]},
                },
            },
        ),
    )

    with pytest.raises(InsufficientPermissions) as caught:
        client.preflight(repo, TOKEN)
    assert "webhook scope" in caught.value.detail
    assert server.seen[-1].path == "/2.0/repositories/acme/api/hooks?pagelen=1"


def test_bitbucket_hook_uuid_keeps_its_braces_url_encoded(server: ScriptedServer) -> None:
    client, repo = bitbucket(server)
    uid = "{0f3c0ee4-5c8e-4a7e-9f2b-1d2c3b4a5e6f}"
    server.route(
        "PUT",
        "/2.0/repositories/acme/api/hooks/%7B0f3c0ee4-5c8e-4a7e-9f2b-1d2c3b4a5e6f%7D",
        Step(200, {"uuid": uid, "url": CALLBACK, "active": True, "events": ["repo:push"]}),
    )

    hook = client.update_hook(repo, TOKEN, uid, CALLBACK, SECRET)

    assert hook.id == uid
    assert json.loads(server.seen[0].body)["secret"] == SECRET.get_secret_value()


def test_bitbucket_find_follows_next_and_refuses_another_host(server: ScriptedServer) -> None:
    client, repo = bitbucket(server)
    server.route(
        "GET",
        "/2.0/repositories/acme/api/hooks",
        Step(
            200,
            {
                "values": [{"uuid": "{a}", "url": "https://a.test/1"}],
                "next": f"{server.url}/2.0/repositories/acme/api/hooks?page=2",
            },
        ),
        Step(
            200,
            {"values": [], "next": "https://elsewhere.example/2.0/repositories/acme/api/hooks"},
        ),
    )
    server.route(
        "GET",
        "/2.0/repositories/acme/api/hooks?page=2",
        Step(200, {"values": [{"uuid": "{b}", "url": CALLBACK}]}),
    )

    hook = client.find_hook(repo, TOKEN, CALLBACK)
    assert hook is not None and hook.id == "{b}"

    # and a next link to another host is not followed with the token
    with pytest.raises(ProviderUnavailable):
        client.find_hook(repo, TOKEN, "https://never.test/")


def test_an_html_error_page_is_a_provider_fault_not_a_crash(server: ScriptedServer) -> None:
    client, repo = bitbucket(server)
    server.route(
        "GET",
        "/2.0/repositories/acme/api",
        Step(200, "<html>oops</html>", {"Content-Type": "text/html"}),
    )

    with pytest.raises(ProviderUnavailable):
        client.preflight(repo, TOKEN)
