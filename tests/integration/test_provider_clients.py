"""The three webhook clients against the provider simulator over real HTTP.

Token conventions (repoconn_local.simulator.server): ``bad-`` invalid, ``ro-`` may read but not
manage hooks, ``down-`` 503, ``limited-`` rate limited, ``slow-`` answers late; a repository
named ``missing`` does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests
from pydantic import SecretStr
from repoconn_core import errors
from repoconn_core.ports import WebhookClient
from repoconn_core.providers import WEBHOOK_EVENTS, ProviderEndpoint, RepositoryRef, ServiceType
from repoconn_core.settings import Settings
from repoconn_local.simulator.server import ProviderSimulator
from repoconn_providers.bitbucket import BitbucketClient
from repoconn_providers.github import GitHubClient
from repoconn_providers.gitlab import GitLabClient
from repoconn_providers.registry import build_http, client_for, close_clients

from tests.support.deliveries import listed_secret
from tests.support.environment import simulator_settings
from tests.support.simulator_control import SimHook, SimRequest, SimulatorControl

TOKEN = SecretStr("tok-integration-0123456789")
SECRET = SecretStr("whsec-integration-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
NEW_SECRET = SecretStr("whsec-integration-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")
CALLBACK = "https://hooks.example.test/webhooks/5f0c2a1e"
NEW_CALLBACK = "https://hooks.example.test/webhooks/9b7d4e33"
PAGE_SIZE = 10
MAX_RETRIES = 1

# Provider → (host, repository path, sim provider name, how it records our events)
LAYOUT: dict[ServiceType, tuple[str, str, str]] = {
    ServiceType.GITHUB: ("github.com", "acme/api", "github"),
    ServiceType.GITLAB: ("gitlab.com", "acme/platform/api", "gitlab"),
    ServiceType.BITBUCKET: ("bitbucket.org", "acme/api", "bitbucket"),
}
MISSING_DETAIL = {
    ServiceType.GITHUB: "admin permission on the repository (and the admin:repo_hook / repo "
    "scope for classic tokens)",
    ServiceType.GITLAB: "Maintainer role",
    ServiceType.BITBUCKET: "webhook scope",
}


def settings_for(sim: ProviderSimulator) -> Settings:
    return simulator_settings(
        sim,
        provider_connect_timeout=1.0,
        provider_read_timeout=0.5,
        provider_max_retries=MAX_RETRIES,
    )


def endpoint_for(service: ServiceType, settings: Settings) -> ProviderEndpoint:
    host = LAYOUT[service][0]
    return settings.provider_endpoints()[host]


@dataclass
class Target:
    service: ServiceType
    client: WebhookClient
    endpoint: ProviderEndpoint
    sim: SimulatorControl
    sleeps: list[float]

    @property
    def provider(self) -> str:
        return LAYOUT[self.service][2]

    def ref(self, path: str | None = None) -> RepositoryRef:
        host, default_path, _ = LAYOUT[self.service]
        return RepositoryRef(self.service, host, path or default_path, self.endpoint)

    @property
    def repo(self) -> RepositoryRef:
        return self.ref()

    def hooks(self) -> list[SimHook]:
        return self.sim.hooks(self.provider)

    def requests_log(self) -> list[SimRequest]:
        return self.sim.requests(self.provider)


CLIENTS: dict[ServiceType, Callable[..., WebhookClient]] = {
    ServiceType.GITHUB: GitHubClient,
    ServiceType.GITLAB: GitLabClient,
    ServiceType.BITBUCKET: BitbucketClient,
}


@pytest.fixture(params=list(ServiceType), ids=lambda s: s.value)
def target(request: pytest.FixtureRequest, sim: ProviderSimulator) -> Target:
    service: ServiceType = request.param
    settings = settings_for(sim)
    endpoint = endpoint_for(service, settings)
    sleeps: list[float] = []
    http = build_http(endpoint, settings, sleep=sleeps.append)
    # Small pages so the pagination tests cross page boundaries.
    client = CLIENTS[service](http, page_size=PAGE_SIZE)
    return Target(service, client, endpoint, SimulatorControl(sim.base_url), sleeps)


def expected_events(service: ServiceType) -> list[str]:
    return sorted(WEBHOOK_EVENTS[service])


# -- preflight ----------------------------------------------------------------------------------


def test_preflight_accepts_a_token_that_may_manage_hooks(target: Target) -> None:
    # when
    target.client.preflight(target.repo, TOKEN)

    # then: the repository lookup and one more call succeeded - a hooks probe (GitHub,
    # Bitbucket: the lookup cannot prove the right to manage hooks) or the token's own scopes
    # (GitLab: the role is in the project's answer, the api scope is not) - and nothing was
    # created
    log = target.requests_log()
    assert [entry["status"] for entry in log] == [200, 200]
    assert target.hooks() == []


def test_preflight_rejects_an_invalid_token(target: Target) -> None:
    with pytest.raises(errors.InvalidToken) as caught:
        target.client.preflight(target.repo, SecretStr("bad-token-0123"))

    assert caught.value.code == "invalid_token"
    assert target.service.value in caught.value.detail


def test_preflight_names_what_a_read_only_token_is_missing(target: Target) -> None:
    with pytest.raises(errors.InsufficientPermissions) as caught:
        target.client.preflight(target.repo, SecretStr("ro-token-0123"))

    assert caught.value.code == "insufficient_permissions"
    assert MISSING_DETAIL[target.service] in caught.value.detail


def test_preflight_reports_a_repository_that_does_not_exist(target: Target) -> None:
    namespace = target.repo.namespace
    with pytest.raises(errors.RepositoryNotFound) as caught:
        target.client.preflight(target.ref(f"{namespace}/missing"), TOKEN)

    assert caught.value.code == "repository_not_found"
    assert "not visible to this token" in caught.value.detail


def test_preflight_maps_an_outage_to_provider_unavailable_after_retrying(target: Target) -> None:
    with pytest.raises(errors.ProviderUnavailable) as caught:
        target.client.preflight(target.repo, SecretStr("down-token-0123"))

    assert caught.value.status == 502
    assert caught.value.detail == f"{target.service.value} answered 503"
    # a GET is retried: one attempt plus MAX_RETRIES, with backoff slept through the injected sleep
    assert [e["status"] for e in target.requests_log()] == [503] * (MAX_RETRIES + 1)
    assert len(target.sleeps) == MAX_RETRIES


def test_preflight_maps_rate_limiting_to_retry_later(target: Target) -> None:
    with pytest.raises(errors.ProviderRateLimited) as caught:
        target.client.preflight(target.repo, SecretStr("limited-token-0123"))

    # GitHub: X-RateLimit-Reset one minute ahead; GitLab: Retry-After 60;
    # Bitbucket: no header, so our one-minute default.
    assert caught.value.status == 503
    assert 55 <= caught.value.retry_after <= 61
    assert caught.value.headers() == {"Retry-After": str(caught.value.retry_after)}
    # a wait this long is not slept through inside a Lambda invocation
    assert target.sleeps == []
    assert len(target.requests_log()) == 1


def test_preflight_maps_a_provider_slower_than_the_read_timeout_to_unavailable(
    target: Target,
) -> None:
    with pytest.raises(errors.ProviderUnavailable) as caught:
        target.client.preflight(target.repo, SecretStr("slow-token-0123"))

    assert caught.value.detail == f"{target.service.value} timed out"
    assert len(target.sleeps) == MAX_RETRIES


# -- hooks --------------------------------------------------------------------------------------


def test_create_hook_registers_url_json_events_and_secret(target: Target) -> None:
    # when
    hook = target.client.create_hook(target.repo, TOKEN, CALLBACK, SECRET)

    # then the provider holds exactly that hook
    [stored] = target.hooks()
    assert stored["id"] == hook.id
    assert stored["url"] == CALLBACK
    assert sorted(stored["events"]) == expected_events(target.service)
    assert stored["secret"] == listed_secret(target.service, SECRET.get_secret_value())
    assert stored["active"] is True
    assert stored["repository"] == target.repo.path
    assert hook.url == CALLBACK
    assert sorted(hook.events) == expected_events(target.service)


def test_update_hook_changes_url_and_secret_in_place(target: Target) -> None:
    # given
    created = target.client.create_hook(target.repo, TOKEN, CALLBACK, SECRET)

    # when
    updated = target.client.update_hook(target.repo, TOKEN, created.id, NEW_CALLBACK, NEW_SECRET)

    # then
    [stored] = target.hooks()
    assert updated.id == created.id == stored["id"]
    assert stored["url"] == NEW_CALLBACK
    assert stored["secret"] == listed_secret(target.service, NEW_SECRET.get_secret_value())
    assert sorted(stored["events"]) == expected_events(target.service)


def test_update_of_a_deleted_hook_raises_hook_not_found(target: Target) -> None:
    # given a hook someone removed at the provider
    created = target.client.create_hook(target.repo, TOKEN, CALLBACK, SECRET)
    assert target.client.delete_hook(target.repo, TOKEN, created.id) is True

    # when / then
    with pytest.raises(errors.HookNotFound):
        target.client.update_hook(target.repo, TOKEN, created.id, NEW_CALLBACK, NEW_SECRET)
    assert target.hooks() == []


def test_get_hook_returns_the_hook_then_none_once_deleted(target: Target) -> None:
    created = target.client.create_hook(target.repo, TOKEN, CALLBACK, SECRET)

    fetched = target.client.get_hook(target.repo, TOKEN, created.id)
    assert fetched is not None
    assert (fetched.id, fetched.url, fetched.active) == (created.id, CALLBACK, True)

    target.client.delete_hook(target.repo, TOKEN, created.id)
    assert target.client.get_hook(target.repo, TOKEN, created.id) is None


def _seed_other_hooks(target: Target, count: int) -> None:
    """Hooks for other receivers. GitHub allows 20 hooks per event per repository, so its
    fillers subscribe to other events; the others take ours."""
    for n in range(count):
        url = f"https://other-{n}.example.test/hook"
        if target.service is ServiceType.GITHUB:
            response = requests.post(
                f"{target.endpoint.api_base_url}/repos/{target.repo.path}/hooks",
                headers={"Authorization": f"Bearer {TOKEN.get_secret_value()}"},
                json={
                    "name": "web",
                    "events": ["issues" if n % 2 else "release"],
                    "config": {"url": url, "content_type": "json"},
                },
                timeout=5,
            )
            assert response.status_code == 201, response.text
        else:
            target.client.create_hook(target.repo, TOKEN, url, SECRET)


def test_find_hook_follows_every_page(target: Target) -> None:
    # given 34 other hooks and ours last: 35 hooks, 4 pages of 10
    _seed_other_hooks(target, 34)
    ours = target.client.create_hook(target.repo, TOKEN, CALLBACK, SECRET)
    assert len(target.hooks()) == 35
    target.sim.clear_requests()

    # when
    found = target.client.find_hook(target.repo, TOKEN, CALLBACK)

    # then it read every page to reach it
    assert found is not None
    assert (found.id, found.url) == (ours.id, CALLBACK)
    listing = [e for e in target.requests_log() if e["method"] == "GET" and "/hooks" in e["path"]]
    assert len(listing) == 4
    assert all(e["status"] == 200 for e in listing)


def test_find_hook_returns_none_when_no_hook_has_the_url(target: Target) -> None:
    _seed_other_hooks(target, 12)

    assert target.client.find_hook(target.repo, TOKEN, CALLBACK) is None


def test_delete_hook_is_true_then_false(target: Target) -> None:
    created = target.client.create_hook(target.repo, TOKEN, CALLBACK, SECRET)

    assert target.client.delete_hook(target.repo, TOKEN, created.id) is True
    assert target.hooks() == []
    assert target.client.delete_hook(target.repo, TOKEN, created.id) is False


def test_hook_calls_with_a_read_only_token_are_refused(target: Target) -> None:
    with pytest.raises(errors.InsufficientPermissions) as caught:
        target.client.create_hook(target.repo, SecretStr("ro-token-0123"), CALLBACK, SECRET)
    assert MISSING_DETAIL[target.service] in caught.value.detail
    assert target.hooks() == []


def test_no_error_carries_the_token_or_the_secret(target: Target) -> None:
    raised: list[errors.DomainError] = []
    for token in (
        "bad-secret-token-1",
        "ro-secret-token-2",
        "down-secret-token-3",
        "limited-secret-token-4",
    ):
        with pytest.raises(errors.DomainError) as caught:
            target.client.create_hook(target.repo, SecretStr(token), CALLBACK, SECRET)
        raised.append(caught.value)
        assert token not in str(caught.value)
        assert token not in repr(caught.value)
        assert token not in caught.value.detail
    for error in raised:
        assert SECRET.get_secret_value() not in str(error)
    assert TOKEN.get_secret_value() not in repr(target.client)


# -- GitLab specifics ---------------------------------------------------------------------------


def test_gitlab_reaches_a_project_in_nested_subgroups(
    sim: ProviderSimulator, sim_control: SimulatorControl
) -> None:
    # given
    settings = settings_for(sim)
    endpoint = endpoint_for(ServiceType.GITLAB, settings)
    client = GitLabClient(build_http(endpoint, settings))
    repo = RepositoryRef(ServiceType.GITLAB, "gitlab.com", "acme/platform/tools/api", endpoint)

    # when
    client.preflight(repo, TOKEN)
    hook = client.create_hook(repo, TOKEN, CALLBACK, SECRET)

    # then the project path went over the wire as one URL-encoded segment
    [stored] = sim_control.hooks("gitlab")
    assert stored["repository"] == "acme/platform/tools/api"
    assert stored["id"] == hook.id
    log = sim_control.requests()
    assert log[0]["path"] == "/gitlab/api/v4/projects/acme%2Fplatform%2Ftools%2Fapi"


# -- registry -----------------------------------------------------------------------------------


def test_client_for_keeps_one_client_per_endpoint_per_container(sim: ProviderSimulator) -> None:
    settings = settings_for(sim)
    github = endpoint_for(ServiceType.GITHUB, settings)
    gitlab = endpoint_for(ServiceType.GITLAB, settings)
    try:
        first = client_for(github, settings)

        assert client_for(github, settings) is first
        assert isinstance(first, GitHubClient)
        assert isinstance(client_for(gitlab, settings), GitLabClient)
        assert client_for(gitlab, settings) is not first
        first.preflight(RepositoryRef(ServiceType.GITHUB, "github.com", "acme/api", github), TOKEN)
    finally:
        close_clients()
