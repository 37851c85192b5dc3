"""The providers' corners (issue 17) against the simulator over real HTTP: each corner first as
the simulator reproduces it (what failed late before), then what the client and connect do now.

Token conventions (repoconn_local.simulator.server): ``nopr-`` Bitbucket token without the
`pullrequest` scope, ``readapi-`` GitLab Maintainer's `read_api` token, ``oauth-`` GitLab token
the self-inspection endpoint does not describe, ``ghs_`` GitHub App installation token with the
Webhooks permission, ``ghs_nohooks`` one without; ``POST /_sim/renames`` renames a GitHub
repository, whose old path then answers 301 (GET) and 307 (other methods).
"""

from __future__ import annotations

import pytest
import requests
from pydantic import SecretStr
from repoconn_core import errors
from repoconn_core.providers import RepositoryRef, ServiceType
from repoconn_local.simulator.server import ProviderSimulator
from repoconn_providers.bitbucket import BitbucketClient
from repoconn_providers.github import GitHubClient
from repoconn_providers.gitlab import ALL_EVENT_FLAGS, GitLabClient
from repoconn_providers.registry import build_http

from tests.integration.test_provider_clients import CALLBACK, SECRET, endpoint_for, settings_for
from tests.support.api import Api, given_connected
from tests.support.simulator_control import SimulatorControl

GITHUB_PATH, GITLAB_PATH, BITBUCKET_PATH = "acme/api", "acme/platform/api", "acme/api"
NO_PULLREQUEST = SecretStr("nopr-token-0123456789")
READ_API = SecretStr("readapi-token-0123456789")
INSTALLATION = SecretStr("ghs_corners0123456789abcdefghijklmnop")
INSTALLATION_NO_HOOKS = SecretStr("ghs_nohooks0123456789abcdefghijklmn")
FULL = SecretStr("tok-corners-0123456789")


def client_and_ref(
    sim: ProviderSimulator, service: ServiceType
) -> tuple[GitHubClient | GitLabClient | BitbucketClient, RepositoryRef]:
    settings = settings_for(sim)
    endpoint = endpoint_for(service, settings)
    http = build_http(endpoint, settings, sleep=lambda _: None)
    host, path, client_type = {
        ServiceType.GITHUB: ("github.com", GITHUB_PATH, GitHubClient),
        ServiceType.GITLAB: ("gitlab.com", GITLAB_PATH, GitLabClient),
        ServiceType.BITBUCKET: ("bitbucket.org", BITBUCKET_PATH, BitbucketClient),
    }[service]
    return client_type(http), RepositoryRef(service, host, path, endpoint)


# -- Bitbucket: the pullrequest scope -----------------------------------------------------------


def test_bitbucket_without_pullrequest_fails_the_create_naming_the_scope_bitbucket_requires(
    sim: ProviderSimulator, sim_control: SimulatorControl
) -> None:
    # given a token that may list hooks but lacks the scope of the hook's pullrequest:* events
    client, repo = client_and_ref(sim, ServiceType.BITBUCKET)
    # when a hook is created with it (what a passed preflight used to lead to)
    with pytest.raises(errors.InsufficientPermissions) as caught:
        client.create_hook(repo, NO_PULLREQUEST, CALLBACK, SECRET)
    # then Bitbucket refuses it for `pullrequest`, and the detail says so (it said `webhook`)
    assert caught.value.detail == (
        "The token lacks the pullrequest scope Bitbucket requires for managing this webhook "
        "(required: pullrequest)"
    )
    assert sim_control.hooks() == []


def test_bitbucket_preflight_refuses_a_token_without_pullrequest(
    sim: ProviderSimulator, sim_control: SimulatorControl
) -> None:
    client, repo = client_and_ref(sim, ServiceType.BITBUCKET)

    with pytest.raises(errors.InsufficientPermissions) as caught:
        client.preflight(repo, NO_PULLREQUEST)

    assert caught.value.detail == (
        "The token lacks the pullrequest scope Bitbucket requires for a webhook on push and "
        "pull request events (granted scopes: account, repository, webhook)"
    )
    # decided from the lookup's X-OAuth-Scopes: no hooks call was needed
    assert [entry["path"] for entry in sim_control.requests("bitbucket")] == [
        "/bitbucket/2.0/repositories/acme/api"
    ]


# -- GitLab: every event flag -------------------------------------------------------------------


def test_gitlab_an_adopted_hook_ends_with_every_other_event_flag_off(
    sim: ProviderSimulator, sim_control: SimulatorControl
) -> None:
    # given a hook at our callback URL with flags we never asked for switched on
    others = (
        "feature_flag_events",
        "milestone_events",
        "emoji_events",
        "resource_access_token_events",
        "resource_deploy_token_events",
        "vulnerability_events",
        "issues_events",
    )
    answer = requests.post(
        f"{sim.gitlab_api_url}/projects/acme%2Fplatform%2Fapi/hooks",
        headers={"PRIVATE-TOKEN": FULL.get_secret_value()},
        json={"url": CALLBACK, "push_events": True, **dict.fromkeys(others, True)},
        timeout=5,
    )
    assert answer.status_code == 201
    assert set(others) <= set(sim_control.hooks("gitlab")[0]["events"])
    client, repo = client_and_ref(sim, ServiceType.GITLAB)
    # when the client adopts it (connect's find-then-update)
    found = client.find_hook(repo, FULL, CALLBACK)
    assert found is not None
    client.update_hook(repo, FULL, found.id, CALLBACK, SECRET)
    # then exactly our two events are on
    (hook,) = sim_control.hooks("gitlab")
    assert hook["events"] == ["push_events", "merge_requests_events"]
    assert set(ALL_EVENT_FLAGS) >= set(others)


# -- GitLab: a read_api token -------------------------------------------------------------------


def test_gitlab_a_read_api_token_lists_hooks_but_cannot_create_one(
    sim: ProviderSimulator, sim_control: SimulatorControl
) -> None:
    # given a Maintainer's read_api token: it reads the project and its hooks
    client, repo = client_and_ref(sim, ServiceType.GITLAB)
    assert client.find_hook(repo, READ_API, CALLBACK) is None
    # when it creates a hook, GitLab refuses it for the api scope
    with pytest.raises(errors.InsufficientPermissions) as caught:
        client.create_hook(repo, READ_API, CALLBACK, SECRET)
    assert "api scope" in caught.value.detail
    assert sim_control.hooks() == []


def test_gitlab_preflight_refuses_a_read_api_token(sim: ProviderSimulator) -> None:
    client, repo = client_and_ref(sim, ServiceType.GITLAB)

    with pytest.raises(errors.InsufficientPermissions) as caught:
        client.preflight(repo, READ_API)

    assert caught.value.detail == (
        "The token lacks the api scope GitLab requires for managing webhooks (granted scopes: "
        "read_api); create the token with the api scope"
    )


@pytest.mark.parametrize("self_endpoint", [True, False], ids=["with-self", "older-gitlab"])
@pytest.mark.parametrize("token", ["oauth-token-0123456789", "tok-full-0123456789"])
def test_gitlab_preflight_passes_when_the_token_self_endpoint_gives_no_answer(
    sim: ProviderSimulator, sim_control: SimulatorControl, self_endpoint: bool, token: str
) -> None:
    sim_control.gitlab_token_self(self_endpoint)
    client, repo = client_and_ref(sim, ServiceType.GITLAB)

    client.preflight(repo, SecretStr(token))

    statuses = [entry["status"] for entry in sim_control.requests("gitlab")]
    expected_self = 200 if self_endpoint and token.startswith("tok-") else 404
    if self_endpoint and token.startswith("oauth-"):
        expected_self = 401
    assert statuses == [200, expected_self]


# -- GitHub: a renamed repository ---------------------------------------------------------------


def test_github_hooks_are_managed_under_a_renamed_repositorys_old_name(
    sim: ProviderSimulator, sim_control: SimulatorControl
) -> None:
    # given acme/api was renamed
    client, repo = client_and_ref(sim, ServiceType.GITHUB)
    sim_control.rename_repository("github", "acme/api", "acme/api-v2")
    # when its hooks are managed under the old name
    client.preflight(repo, FULL)
    hook = client.create_hook(repo, FULL, CALLBACK, SECRET)
    client.update_hook(repo, FULL, hook.id, CALLBACK, SECRET)
    assert client.get_hook(repo, FULL, hook.id) is not None
    # then every call reached the renamed repository: GETs through 301, writes through 307
    (stored,) = sim_control.hooks("github")
    assert (stored["repository"], stored["url"], stored["secret"]) == (
        "acme/api-v2",
        CALLBACK,
        SECRET.get_secret_value(),
    )
    assert client.delete_hook(repo, FULL, hook.id) is True
    assert sim_control.hooks("github") == []
    redirects = [
        (entry["method"], entry["status"])
        for entry in sim_control.requests("github")
        if entry["status"] in (301, 307)
    ]
    # (GETs are counted, not ordered: the simulator's log is shared with whatever else of the
    # session still talks to it, and a full run once logged one GET more)
    assert [r for r in redirects if r[0] != "GET"] == [
        ("POST", 307),
        ("PATCH", 307),
        ("DELETE", 307),
    ]
    gets = [status for method, status in redirects if method == "GET"]
    assert len(gets) >= 3 and set(gets) == {301}


# -- GitHub: App installation tokens ------------------------------------------------------------


def test_github_an_installation_token_with_the_webhooks_permission_passes_and_creates(
    sim: ProviderSimulator, sim_control: SimulatorControl
) -> None:
    client, repo = client_and_ref(sim, ServiceType.GITHUB)

    client.preflight(repo, INSTALLATION)
    client.create_hook(repo, INSTALLATION, CALLBACK, SECRET)

    assert [hook["url"] for hook in sim_control.hooks("github")] == [CALLBACK]


def test_github_an_installation_token_without_the_webhooks_permission_is_refused(
    sim: ProviderSimulator,
) -> None:
    client, repo = client_and_ref(sim, ServiceType.GITHUB)

    with pytest.raises(errors.InsufficientPermissions) as caught:
        client.preflight(repo, INSTALLATION_NO_HOOKS)

    assert '"Webhooks" repository permission' in caught.value.detail


# -- connect, through the deployed handler ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "token", "words"),
    [
        ("https://bitbucket.org/acme/api", NO_PULLREQUEST, "pullrequest scope"),
        ("https://gitlab.com/acme/platform/api", READ_API, "api scope"),
        ("https://github.com/acme/api", INSTALLATION_NO_HOOKS, '"Webhooks" repository permission'),
    ],
    ids=["bitbucket-no-pullrequest", "gitlab-read-api", "github-app-without-webhooks"],
)
def test_connect_refuses_these_tokens_at_preflight_and_leaves_nothing(
    api: Api, sim_control: SimulatorControl, url: str, token: SecretStr, words: str
) -> None:
    response = api.connect("p1", url, token.get_secret_value())

    assert response.status == 422
    problem = response.json()
    assert problem["code"] == "insufficient_permissions"
    assert words in problem["detail"]
    assert token.get_secret_value() not in response.text
    assert sim_control.hooks() == []
    assert not [e for e in sim_control.requests() if e["method"] != "GET"]


@pytest.mark.parametrize(
    ("url", "token"),
    [
        ("https://github.com/acme/api", INSTALLATION),
        ("https://gitlab.com/acme/platform/api", SecretStr("oauth-token-0123456789")),
    ],
    ids=["github-app-installation", "gitlab-oauth"],
)
def test_connect_accepts_these_tokens(
    api: Api, sim_control: SimulatorControl, url: str, token: SecretStr
) -> None:
    body = given_connected(api, url, token=token.get_secret_value())

    (hook,) = sim_control.hooks()
    assert hook["url"] == f"https://hooks.example.test/webhooks/{body['id']}"


def test_connect_to_a_renamed_github_repository_creates_its_hook_through_the_307(
    api: Api, sim_control: SimulatorControl
) -> None:
    sim_control.rename_repository("github", "acme/api", "acme/api-v2")

    body = given_connected(api, "https://github.com/acme/api")

    (hook,) = sim_control.hooks()
    assert (hook["repository"], hook["url"]) == (
        "acme/api-v2",
        f"https://hooks.example.test/webhooks/{body['id']}",
    )
