"""The provider simulator over real HTTP: each provider's REST subset, the token conventions,
pagination as the real APIs page, the control API, and signed deliveries to a receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import pytest
import requests
from repoconn_local.simulator.server import ProviderSimulator
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.loopback import LoopbackServer, Received, Reply
from tests.support.simulator_control import SimulatorControl

ROOT = Path(__file__).resolve().parents[2]
SLOW_SECONDS = 0.5
TIMEOUT = 5
FULL_TOKEN = "tok-full"
GITHUB_SECRET = "s3cret"
GITLAB_SECRET = "gl-secret"
BITBUCKET_SECRET = "bb-secret"


# Fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[ProviderSimulator]:
    simulator = ProviderSimulator(slow_seconds=SLOW_SECONDS)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="module")
def control(sim: ProviderSimulator) -> SimulatorControl:
    return SimulatorControl(sim.base_url, timeout=TIMEOUT)


@pytest.fixture(autouse=True)
def clean_state(control: SimulatorControl) -> None:
    control.reset()


class Receiver(LoopbackServer):
    """A webhook receiver that records what it gets and answers the status in its path's last
    segment (`/hook/401` answers 401), 200 otherwise."""

    def __init__(self) -> None:
        super().__init__(self._status_in_path)

    @staticmethod
    def _status_in_path(request: Received) -> Reply:
        last = request.path.rstrip("/").rsplit("/", 1)[-1]
        status = int(last) if last.isdigit() else 200
        return Reply(status, json.dumps({"received": True, "status": status}).encode())

    def last(self) -> Received:
        return self.received[-1]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


# Helpers ----------------------------------------------------------------------------------


def gh(token: str | None = FULL_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token is not None else {}


def gl(token: str = FULL_TOKEN) -> dict[str, str]:
    return {"PRIVATE-TOKEN": token}


def bb(token: str = FULL_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def github_hook_body(
    url: str, *, secret: str | None = GITHUB_SECRET, events: list[str] | None = None
) -> dict[str, Any]:
    config: dict[str, Any] = {"url": url, "content_type": "json", "insecure_ssl": "0"}
    if secret is not None:
        config["secret"] = secret
    return {
        "name": "web",
        "active": True,
        "events": events or ["push", "pull_request"],
        "config": config,
    }


def create_github_hook(
    sim: ProviderSimulator, url: str, repo: str = "acme/widgets", **kw: Any
) -> dict[str, Any]:
    r = requests.post(
        f"{sim.github_api_url}/repos/{repo}/hooks",
        json=github_hook_body(url, **kw),
        headers=gh(),
        timeout=TIMEOUT,
    )
    assert r.status_code == 201, r.text
    return r.json()


def create_gitlab_hook(
    sim: ProviderSimulator,
    url: str,
    project: str = "group%2Fsub%2Frepo",
    token: str | None = GITLAB_SECRET,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "url": url,
        "push_events": True,
        "merge_requests_events": True,
        "enable_ssl_verification": True,
    }
    if token is not None:
        body["token"] = token
    r = requests.post(
        f"{sim.gitlab_api_url}/projects/{project}/hooks", json=body, headers=gl(), timeout=TIMEOUT
    )
    assert r.status_code == 201, r.text
    return r.json()


def create_bitbucket_hook(
    sim: ProviderSimulator, url: str, repo: str = "ws/slug", secret: str | None = BITBUCKET_SECRET
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "description": "repoconn",
        "url": url,
        "active": True,
        "events": ["repo:push", "pullrequest:created"],
    }
    if secret is not None:
        body["secret"] = secret
    r = requests.post(
        f"{sim.bitbucket_api_url}/repositories/{repo}/hooks",
        json=body,
        headers=bb(),
        timeout=TIMEOUT,
    )
    assert r.status_code == 201, r.text
    return r.json()


def hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# GitHub -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["Bearer", "token"])
def test_github_full_token_reads_repository_with_admin_permission(
    sim: ProviderSimulator, scheme: str
) -> None:
    # Given a token with full rights, sent in either scheme GitHub accepts
    # When the repository is fetched
    r = requests.get(
        f"{sim.github_api_url}/repos/Acme/Widgets",
        headers={"Authorization": f"{scheme} tok-full"},
        timeout=TIMEOUT,
    )
    # Then it is there, with admin permission and the headers GitHub sends
    assert r.status_code == 200
    repo = r.json()
    assert repo["full_name"] == "Acme/Widgets"
    assert isinstance(repo["id"], int)
    assert repo["private"] is False
    assert repo["permissions"] == {
        "admin": True,
        "maintain": True,
        "push": True,
        "triage": True,
        "pull": True,
    }
    assert r.headers["X-OAuth-Scopes"] == "admin:repo_hook, repo"
    assert r.headers["X-RateLimit-Limit"] == "5000"
    assert r.headers["X-RateLimit-Resource"] == "core"
    assert int(r.headers["X-RateLimit-Remaining"]) == 5000 - int(r.headers["X-RateLimit-Used"])
    assert int(r.headers["X-RateLimit-Reset"]) > time.time()


def test_github_read_only_token_sees_repository_without_admin(sim: ProviderSimulator) -> None:
    r = requests.get(
        f"{sim.github_api_url}/repos/acme/widgets", headers=gh("ro-reader"), timeout=TIMEOUT
    )
    assert r.status_code == 200
    assert r.json()["permissions"] == {
        "admin": False,
        "maintain": False,
        "push": False,
        "triage": False,
        "pull": True,
    }
    assert r.headers["X-OAuth-Scopes"] == "public_repo"


@pytest.mark.parametrize(
    "headers", [gh("bad-token"), gh(None), {"Authorization": "Basic dXNlcjpwYXNz"}]
)
def test_github_invalid_or_missing_token_is_401_bad_credentials(
    sim: ProviderSimulator, headers: dict[str, str]
) -> None:
    r = requests.get(f"{sim.github_api_url}/repos/acme/widgets", headers=headers, timeout=TIMEOUT)
    assert r.status_code == 401
    assert r.json()["message"] == "Bad credentials"
    assert r.headers["X-RateLimit-Limit"] == "60"


def test_github_missing_repository_is_404_not_found(sim: ProviderSimulator) -> None:
    r = requests.get(f"{sim.github_api_url}/repos/acme/missing", headers=gh(), timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.json()["message"] == "Not Found"


def test_github_down_token_is_503(sim: ProviderSimulator) -> None:
    r = requests.get(
        f"{sim.github_api_url}/repos/acme/widgets", headers=gh("down-x"), timeout=TIMEOUT
    )
    assert r.status_code == 503
    assert r.headers["Content-Type"].startswith("text/html")


def test_github_limited_token_is_403_with_exhausted_rate_limit(sim: ProviderSimulator) -> None:
    r = requests.get(
        f"{sim.github_api_url}/repos/acme/widgets", headers=gh("limited-x"), timeout=TIMEOUT
    )
    assert r.status_code == 403
    assert r.json()["message"].startswith("API rate limit exceeded")
    assert r.headers["X-RateLimit-Remaining"] == "0"
    assert time.time() < int(r.headers["X-RateLimit-Reset"]) <= time.time() + 120


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_github_read_only_token_gets_404_on_hook_calls(
    sim: ProviderSimulator, control: SimulatorControl, method: str
) -> None:
    # GitHub hides hooks from callers without admin rights instead of answering 403.
    r = requests.request(
        method,
        f"{sim.github_api_url}/repos/acme/widgets/hooks",
        json=github_hook_body("http://h.example/x"),
        headers=gh("ro-reader"),
        timeout=TIMEOUT,
    )
    assert r.status_code == 404
    assert r.json()["message"] == "Not Found"
    assert control.hooks() == []


def test_github_creates_hook_with_masked_secret(sim: ProviderSimulator) -> None:
    hook = create_github_hook(sim, "https://app.example/webhooks/1")
    assert isinstance(hook["id"], int)
    assert hook["type"] == "Repository"
    assert hook["name"] == "web"
    assert hook["active"] is True
    assert hook["events"] == ["push", "pull_request"]
    assert hook["config"] == {
        "url": "https://app.example/webhooks/1",
        "content_type": "json",
        "insecure_ssl": "0",
        "secret": "********",
    }
    assert hook["url"] == f"{sim.github_api_url}/repos/acme/widgets/hooks/{hook['id']}"
    assert hook["last_response"] == {"code": None, "status": "unused", "message": None}
    assert {"created_at", "updated_at", "ping_url", "test_url", "deliveries_url"} <= hook.keys()


def test_github_repository_names_are_case_insensitive(sim: ProviderSimulator) -> None:
    hook = create_github_hook(sim, "https://app.example/webhooks/1", repo="Acme/Widgets")
    r = requests.get(
        f"{sim.github_api_url}/repos/acme/widgets/hooks/{hook['id']}", headers=gh(), timeout=TIMEOUT
    )
    assert r.status_code == 200


def test_github_lists_all_35_hooks_by_following_link_next(sim: ProviderSimulator) -> None:
    # Given 35 hooks (GitHub allows at most 20 per event, so split over two events)
    for i in range(35):
        create_github_hook(
            sim, f"https://app.example/hooks/{i}", events=["push"] if i < 18 else ["issues"]
        )
    # When the list is read page by page, following rel="next"
    url: str | None = f"{sim.github_api_url}/repos/acme/widgets/hooks?per_page=10"
    seen: list[str] = []
    pages = 0
    while url:
        r = requests.get(url, headers=gh(), timeout=TIMEOUT)
        assert r.status_code == 200
        seen += [h["config"]["url"] for h in r.json()]
        pages += 1
        url = r.links.get("next", {}).get("url")
    # Then every hook came back once, over four pages
    assert pages == 4
    assert seen == [f"https://app.example/hooks/{i}" for i in range(35)]


def test_github_link_header_names_next_and_last_pages(sim: ProviderSimulator) -> None:
    for i in range(5):
        create_github_hook(sim, f"https://app.example/hooks/{i}")
    r = requests.get(
        f"{sim.github_api_url}/repos/acme/widgets/hooks?per_page=2&page=2",
        headers=gh(),
        timeout=TIMEOUT,
    )
    repo_id = requests.get(
        f"{sim.github_api_url}/repos/acme/widgets", headers=gh(), timeout=TIMEOUT
    ).json()["id"]
    base = f"{sim.github_api_url}/repositories/{repo_id}/hooks"
    assert r.links["next"]["url"] == f"{base}?per_page=2&page=3"
    assert r.links["last"]["url"] == f"{base}?per_page=2&page=3"
    assert r.links["prev"]["url"] == f"{base}?per_page=2&page=1"
    assert r.links["first"]["url"] == f"{base}?per_page=2&page=1"


def test_github_last_page_has_no_next_link(sim: ProviderSimulator) -> None:
    create_github_hook(sim, "https://app.example/hooks/1")
    r = requests.get(
        f"{sim.github_api_url}/repos/acme/widgets/hooks", headers=gh(), timeout=TIMEOUT
    )
    assert len(r.json()) == 1
    assert "Link" not in r.headers


def test_github_refuses_a_21st_hook_for_one_event(sim: ProviderSimulator) -> None:
    for i in range(20):
        create_github_hook(sim, f"https://app.example/hooks/{i}", events=["push"])
    r = requests.post(
        f"{sim.github_api_url}/repos/acme/widgets/hooks",
        json=github_hook_body("https://app.example/hooks/20", events=["push"]),
        headers=gh(),
        timeout=TIMEOUT,
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"] == 'The "push" event cannot have more than 20 hooks'


def test_github_refuses_a_second_hook_with_the_same_url(sim: ProviderSimulator) -> None:
    create_github_hook(sim, "https://app.example/hooks/1")
    r = requests.post(
        f"{sim.github_api_url}/repos/acme/widgets/hooks",
        json=github_hook_body("https://app.example/hooks/1"),
        headers=gh(),
        timeout=TIMEOUT,
    )
    assert r.status_code == 422
    assert r.json()["message"] == "Validation Failed"
    assert r.json()["errors"][0]["message"] == "Hook already exists on this repository"


def test_github_hook_without_config_url_is_422(sim: ProviderSimulator) -> None:
    r = requests.post(
        f"{sim.github_api_url}/repos/acme/widgets/hooks",
        json={"name": "web", "config": {}},
        headers=gh(),
        timeout=TIMEOUT,
    )
    assert r.status_code == 422
    assert r.json()["message"] == "Validation Failed"


def test_github_patch_updates_hook_and_removes_secret_not_sent_again(
    sim: ProviderSimulator,
    control: SimulatorControl,
) -> None:
    # Given a hook with a secret
    hook = create_github_hook(sim, "https://app.example/hooks/1")
    # When its config is patched without the secret
    r = requests.patch(
        f"{sim.github_api_url}/repos/acme/widgets/hooks/{hook['id']}",
        json={
            "active": False,
            "events": ["push"],
            "config": {"url": "https://app.example/hooks/2", "content_type": "json"},
        },
        headers=gh(),
        timeout=TIMEOUT,
    )
    # Then the change is applied and the secret is gone, as GitHub documents
    assert r.status_code == 200
    updated = r.json()
    assert updated["id"] == hook["id"]
    assert updated["active"] is False
    assert updated["events"] == ["push"]
    assert updated["config"] == {
        "url": "https://app.example/hooks/2",
        "content_type": "json",
        "insecure_ssl": "0",
    }
    assert control.hooks()[0]["secret"] is None


def test_github_patch_with_secret_keeps_a_secret(
    sim: ProviderSimulator, control: SimulatorControl
) -> None:
    hook = create_github_hook(sim, "https://app.example/hooks/1")
    r = requests.patch(
        f"{sim.github_api_url}/repos/acme/widgets/hooks/{hook['id']}",
        json={
            "config": {
                "url": "https://app.example/hooks/1",
                "content_type": "json",
                "secret": "new-secret",
            }
        },
        headers=gh(),
        timeout=TIMEOUT,
    )
    assert r.status_code == 200
    assert r.json()["config"]["secret"] == "********"
    assert control.hooks()[0]["secret"] == "new-secret"


def test_github_delete_hook_is_204_then_404(sim: ProviderSimulator) -> None:
    hook = create_github_hook(sim, "https://app.example/hooks/1")
    url = f"{sim.github_api_url}/repos/acme/widgets/hooks/{hook['id']}"
    assert requests.delete(url, headers=gh(), timeout=TIMEOUT).status_code == 204
    assert requests.get(url, headers=gh(), timeout=TIMEOUT).status_code == 404
    assert requests.delete(url, headers=gh(), timeout=TIMEOUT).status_code == 404


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_github_unknown_hook_id_is_404(sim: ProviderSimulator, method: str) -> None:
    r = requests.request(
        method,
        f"{sim.github_api_url}/repos/acme/widgets/hooks/12345",
        json={"active": True},
        headers=gh(),
        timeout=TIMEOUT,
    )
    assert r.status_code == 404
    assert r.json()["message"] == "Not Found"


# GitLab -----------------------------------------------------------------------------------


def test_gitlab_project_by_encoded_path_has_maintainer_access(sim: ProviderSimulator) -> None:
    r = requests.get(
        f"{sim.gitlab_api_url}/projects/group%2Fsub%2Frepo", headers=gl(), timeout=TIMEOUT
    )
    assert r.status_code == 200
    project = r.json()
    assert project["path_with_namespace"] == "group/sub/repo"
    assert isinstance(project["id"], int)
    assert project["permissions"] == {
        "project_access": {"access_level": 40, "notification_level": 3},
        "group_access": None,
    }
    assert r.headers["RateLimit-Limit"] == "2000"
    assert int(r.headers["RateLimit-Remaining"]) < 2000
    assert int(r.headers["RateLimit-Reset"]) > time.time()


def test_gitlab_accepts_bearer_token_and_numeric_project_id(sim: ProviderSimulator) -> None:
    project_id = requests.get(
        f"{sim.gitlab_api_url}/projects/group%2Frepo", headers=gl(), timeout=TIMEOUT
    ).json()["id"]
    r = requests.get(
        f"{sim.gitlab_api_url}/projects/{project_id}",
        headers={"Authorization": "Bearer tok-full"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 200
    assert r.json()["path_with_namespace"] == "group/repo"


def test_gitlab_read_only_token_has_reporter_access(sim: ProviderSimulator) -> None:
    r = requests.get(
        f"{sim.gitlab_api_url}/projects/group%2Frepo", headers=gl("ro-reader"), timeout=TIMEOUT
    )
    assert r.status_code == 200
    assert r.json()["permissions"]["project_access"]["access_level"] == 20


def test_gitlab_bad_token_is_401(sim: ProviderSimulator) -> None:
    r = requests.get(
        f"{sim.gitlab_api_url}/projects/group%2Frepo", headers=gl("bad-token"), timeout=TIMEOUT
    )
    assert r.status_code == 401
    assert r.json() == {"message": "401 Unauthorized"}


def test_gitlab_missing_project_is_404_project_not_found(sim: ProviderSimulator) -> None:
    r = requests.get(
        f"{sim.gitlab_api_url}/projects/group%2Fmissing", headers=gl(), timeout=TIMEOUT
    )
    assert r.status_code == 404
    assert r.json() == {"message": "404 Project Not Found"}


def test_gitlab_unencoded_project_path_matches_no_route(sim: ProviderSimulator) -> None:
    r = requests.get(f"{sim.gitlab_api_url}/projects/group/sub/repo", headers=gl(), timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.json() == {"error": "404 Not Found"}


def test_gitlab_down_token_is_503(sim: ProviderSimulator) -> None:
    r = requests.get(
        f"{sim.gitlab_api_url}/projects/group%2Frepo", headers=gl("down-x"), timeout=TIMEOUT
    )
    assert r.status_code == 503


def test_gitlab_limited_token_is_429_with_retry_after(sim: ProviderSimulator) -> None:
    r = requests.get(
        f"{sim.gitlab_api_url}/projects/group%2Frepo", headers=gl("limited-x"), timeout=TIMEOUT
    )
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "60"
    assert r.headers["RateLimit-Remaining"] == "0"
    assert r.text == "Retry later\n"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_gitlab_reporter_gets_403_on_hooks(sim: ProviderSimulator, method: str) -> None:
    r = requests.request(
        method,
        f"{sim.gitlab_api_url}/projects/group%2Frepo/hooks",
        json={"url": "https://h.example/x"},
        headers=gl("ro-reader"),
        timeout=TIMEOUT,
    )
    assert r.status_code == 403
    assert r.json() == {"message": "403 Forbidden"}


def test_gitlab_missing_project_is_404_before_role_check(sim: ProviderSimulator) -> None:
    r = requests.get(
        f"{sim.gitlab_api_url}/projects/group%2Fmissing/hooks",
        headers=gl("ro-reader"),
        timeout=TIMEOUT,
    )
    assert r.status_code == 404
    assert r.json() == {"message": "404 Project Not Found"}


def test_gitlab_creates_hook_without_returning_token(
    sim: ProviderSimulator, control: SimulatorControl
) -> None:
    hook = create_gitlab_hook(sim, "https://app.example/webhooks/1")
    assert isinstance(hook["id"], int)
    assert hook["url"] == "https://app.example/webhooks/1"
    assert hook["push_events"] is True
    assert hook["merge_requests_events"] is True
    assert hook["issues_events"] is False
    assert hook["enable_ssl_verification"] is True
    assert hook["alert_status"] == "executable"
    assert "token" not in hook
    assert control.hooks()[0]["secret"] == "gl-secret"


def test_gitlab_accepts_form_encoded_hook_parameters(sim: ProviderSimulator) -> None:
    r = requests.post(
        f"{sim.gitlab_api_url}/projects/group%2Frepo/hooks",
        data={
            "url": "https://app.example/1",
            "push_events": "true",
            "merge_requests_events": "false",
        },
        headers=gl(),
        timeout=TIMEOUT,
    )
    assert r.status_code == 201
    assert (r.json()["push_events"], r.json()["merge_requests_events"]) == (True, False)


def test_gitlab_hook_without_url_is_400(sim: ProviderSimulator) -> None:
    r = requests.post(
        f"{sim.gitlab_api_url}/projects/group%2Frepo/hooks",
        json={"push_events": True},
        headers=gl(),
        timeout=TIMEOUT,
    )
    assert r.status_code == 400
    assert r.json() == {"error": "url is missing"}


def test_gitlab_lists_all_35_hooks_by_following_x_next_page(sim: ProviderSimulator) -> None:
    for i in range(35):
        create_gitlab_hook(sim, f"https://app.example/hooks/{i}")
    base = f"{sim.gitlab_api_url}/projects/group%2Fsub%2Frepo/hooks"
    seen: list[str] = []
    page = "1"
    while page:
        r = requests.get(
            base, params={"per_page": "10", "page": page}, headers=gl(), timeout=TIMEOUT
        )
        assert r.status_code == 200
        assert r.headers["X-Total"] == "35"
        assert r.headers["X-Total-Pages"] == "4"
        seen += [h["url"] for h in r.json()]
        page = r.headers["X-Next-Page"]
    assert seen == [f"https://app.example/hooks/{i}" for i in range(35)]


def test_gitlab_link_header_follows_to_the_same_hooks(sim: ProviderSimulator) -> None:
    for i in range(25):
        create_gitlab_hook(sim, f"https://app.example/hooks/{i}")
    url: str | None = f"{sim.gitlab_api_url}/projects/group%2Fsub%2Frepo/hooks"
    seen = 0
    while url:
        r = requests.get(url, headers=gl(), timeout=TIMEOUT)
        seen += len(r.json())
        url = r.links.get("next", {}).get("url")
    assert seen == 25
    assert r.headers["X-Page"] == "2"
    assert r.headers["X-Per-Page"] == "20"
    assert r.headers["X-Prev-Page"] == "1"
    assert r.headers["X-Next-Page"] == ""


def test_gitlab_put_updates_hook(sim: ProviderSimulator, control: SimulatorControl) -> None:
    hook = create_gitlab_hook(sim, "https://app.example/hooks/1")
    r = requests.put(
        f"{sim.gitlab_api_url}/projects/group%2Fsub%2Frepo/hooks/{hook['id']}",
        json={
            "url": "https://app.example/hooks/2",
            "token": "rotated",
            "merge_requests_events": False,
        },
        headers=gl(),
        timeout=TIMEOUT,
    )
    assert r.status_code == 200
    assert (r.json()["url"], r.json()["merge_requests_events"], r.json()["push_events"]) == (
        "https://app.example/hooks/2",
        False,
        True,
    )
    assert control.hooks()[0]["secret"] == "rotated"


def test_gitlab_url_change_without_token_clears_the_secret(
    sim: ProviderSimulator, control: SimulatorControl
) -> None:
    # GitLab's WebHook#reset_token: a new URL without the token again drops the secret.
    hook = create_gitlab_hook(sim, "https://app.example/hooks/1")
    r = requests.put(
        f"{sim.gitlab_api_url}/projects/group%2Fsub%2Frepo/hooks/{hook['id']}",
        json={"url": "https://app.example/hooks/2"},
        headers=gl(),
        timeout=TIMEOUT,
    )
    assert r.status_code == 200
    assert control.hooks()[0]["secret"] is None


def test_gitlab_delete_hook_is_204_then_404(sim: ProviderSimulator) -> None:
    hook = create_gitlab_hook(sim, "https://app.example/hooks/1")
    url = f"{sim.gitlab_api_url}/projects/group%2Fsub%2Frepo/hooks/{hook['id']}"
    assert requests.delete(url, headers=gl(), timeout=TIMEOUT).status_code == 204
    r = requests.get(url, headers=gl(), timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.json() == {"message": "404 Not found"}


def test_gitlab_user_and_membership_report_the_role(sim: ProviderSimulator) -> None:
    user = requests.get(
        f"{sim.gitlab_api_url}/user", headers=gl("ro-reader"), timeout=TIMEOUT
    ).json()
    r = requests.get(
        f"{sim.gitlab_api_url}/projects/group%2Frepo/members/all/{user['id']}",
        headers=gl("ro-reader"),
        timeout=TIMEOUT,
    )
    assert r.status_code == 200
    assert r.json()["access_level"] == 20
    assert r.json()["username"] == user["username"]


# Bitbucket --------------------------------------------------------------------------------


def test_bitbucket_repository_is_readable(sim: ProviderSimulator) -> None:
    r = requests.get(f"{sim.bitbucket_api_url}/repositories/ws/slug", headers=bb(), timeout=TIMEOUT)
    assert r.status_code == 200
    repo = r.json()
    assert repo["type"] == "repository"
    assert repo["full_name"] == "ws/slug"
    assert repo["uuid"].startswith("{") and repo["uuid"].endswith("}")
    assert repo["is_private"] is True


def test_bitbucket_read_only_token_reads_repository(sim: ProviderSimulator) -> None:
    r = requests.get(
        f"{sim.bitbucket_api_url}/repositories/ws/slug", headers=bb("ro-reader"), timeout=TIMEOUT
    )
    assert r.status_code == 200


def test_bitbucket_accepts_basic_auth_with_app_password(sim: ProviderSimulator) -> None:
    credentials = base64.b64encode(b"someone:tok-full").decode()
    r = requests.get(
        f"{sim.bitbucket_api_url}/repositories/ws/slug",
        headers={"Authorization": f"Basic {credentials}"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 200


def test_bitbucket_bad_token_is_401(sim: ProviderSimulator) -> None:
    r = requests.get(
        f"{sim.bitbucket_api_url}/repositories/ws/slug", headers=bb("bad-token"), timeout=TIMEOUT
    )
    assert r.status_code == 401
    assert r.json()["type"] == "error"


def test_bitbucket_missing_repository_is_404(sim: ProviderSimulator) -> None:
    r = requests.get(
        f"{sim.bitbucket_api_url}/repositories/ws/missing", headers=bb(), timeout=TIMEOUT
    )
    assert r.status_code == 404
    assert r.json() == {"type": "error", "error": {"message": "Repository ws/missing not found"}}


def test_bitbucket_down_token_is_503(sim: ProviderSimulator) -> None:
    r = requests.get(
        f"{sim.bitbucket_api_url}/repositories/ws/slug", headers=bb("down-x"), timeout=TIMEOUT
    )
    assert r.status_code == 503


def test_bitbucket_limited_token_is_429_without_retry_after(sim: ProviderSimulator) -> None:
    r = requests.get(
        f"{sim.bitbucket_api_url}/repositories/ws/slug", headers=bb("limited-x"), timeout=TIMEOUT
    )
    assert r.status_code == 429
    assert "Retry-After" not in r.headers


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_bitbucket_read_only_token_lacks_webhook_scope(sim: ProviderSimulator, method: str) -> None:
    r = requests.request(
        method,
        f"{sim.bitbucket_api_url}/repositories/ws/slug/hooks",
        json={"url": "https://h.example/x", "events": ["repo:push"]},
        headers=bb("ro-reader"),
        timeout=TIMEOUT,
    )
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["message"] == "Your credentials lack one or more required privilege scopes."
    assert error["detail"]["required"] == ["webhook"]
    assert "webhook" not in error["detail"]["granted"]


def test_bitbucket_creates_hook_without_returning_secret(sim: ProviderSimulator) -> None:
    hook = create_bitbucket_hook(sim, "https://app.example/webhooks/1")
    assert hook["type"] == "webhook_subscription"
    assert hook["uuid"].startswith("{") and hook["uuid"].endswith("}")
    assert hook["url"] == "https://app.example/webhooks/1"
    assert hook["active"] is True
    assert hook["events"] == ["pullrequest:created", "repo:push"]
    assert hook["secret_set"] is True
    assert "secret" not in hook
    assert hook["subject"]["full_name"] == "ws/slug"


def test_bitbucket_refuses_unknown_event(sim: ProviderSimulator) -> None:
    r = requests.post(
        f"{sim.bitbucket_api_url}/repositories/ws/slug/hooks",
        json={"url": "https://h.example/x", "events": ["push"]},
        headers=bb(),
        timeout=TIMEOUT,
    )
    assert r.status_code == 400
    assert "events" in r.json()["error"]["fields"]


def test_bitbucket_lists_all_35_hooks_by_following_next(sim: ProviderSimulator) -> None:
    for i in range(35):
        create_bitbucket_hook(sim, f"https://app.example/hooks/{i}")
    url: str | None = f"{sim.bitbucket_api_url}/repositories/ws/slug/hooks"
    seen: list[str] = []
    pages = []
    while url:
        r = requests.get(url, headers=bb(), timeout=TIMEOUT)
        assert r.status_code == 200
        page = r.json()
        pages.append((page["page"], page["pagelen"], page["size"]))
        seen += [h["url"] for h in page["values"]]
        url = page.get("next")
    assert pages == [(1, 10, 35), (2, 10, 35), (3, 10, 35), (4, 10, 35)]
    assert seen == [f"https://app.example/hooks/{i}" for i in range(35)]


@pytest.mark.parametrize("braces", [True, False])
def test_bitbucket_hook_is_addressable_with_or_without_braces(
    sim: ProviderSimulator, braces: bool
) -> None:
    hook = create_bitbucket_hook(sim, "https://app.example/hooks/1")
    uid = hook["uuid"] if braces else hook["uuid"].strip("{}")
    r = requests.get(
        f"{sim.bitbucket_api_url}/repositories/ws/slug/hooks/{quote(uid, safe='')}",
        headers=bb(),
        timeout=TIMEOUT,
    )
    assert r.status_code == 200
    assert r.json()["uuid"] == hook["uuid"]


def test_bitbucket_put_keeps_secret_unless_sent_as_null(sim: ProviderSimulator) -> None:
    hook = create_bitbucket_hook(sim, "https://app.example/hooks/1")
    url = f"{sim.bitbucket_api_url}/repositories/ws/slug/hooks/{quote(hook['uuid'], safe='')}"
    r = requests.put(
        url,
        json={"url": "https://app.example/hooks/2", "active": False},
        headers=bb(),
        timeout=TIMEOUT,
    )
    assert r.status_code == 200
    assert (r.json()["url"], r.json()["active"], r.json()["secret_set"]) == (
        "https://app.example/hooks/2",
        False,
        True,
    )
    r = requests.put(url, json={"secret": None}, headers=bb(), timeout=TIMEOUT)
    assert r.json()["secret_set"] is False


def test_bitbucket_delete_hook_is_204_then_404(sim: ProviderSimulator) -> None:
    hook = create_bitbucket_hook(sim, "https://app.example/hooks/1")
    url = f"{sim.bitbucket_api_url}/repositories/ws/slug/hooks/{quote(hook['uuid'], safe='')}"
    assert requests.delete(url, headers=bb(), timeout=TIMEOUT).status_code == 204
    r = requests.get(url, headers=bb(), timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.json()["type"] == "error"


def test_bitbucket_permissions_endpoint_reports_admin(sim: ProviderSimulator) -> None:
    r = requests.get(
        f"{sim.bitbucket_api_url}/user/permissions/repositories",
        params={"q": 'repository.full_name="ws/slug"'},
        headers=bb(),
        timeout=TIMEOUT,
    )
    assert r.status_code == 200
    assert [v["permission"] for v in r.json()["values"]] == ["admin"]


# Token conventions shared by all providers -------------------------------------------------


def test_slow_token_answers_only_after_the_delay(sim: ProviderSimulator) -> None:
    url = f"{sim.github_api_url}/repos/acme/widgets"
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(url, headers=gh("slow-x"), timeout=(1, SLOW_SECONDS / 5))
    started = time.monotonic()
    r = requests.get(url, headers=gh("slow-x"), timeout=TIMEOUT)
    assert r.status_code == 200
    assert time.monotonic() - started >= SLOW_SECONDS


# Control API ------------------------------------------------------------------------------


def test_control_lists_hooks_of_every_provider(
    sim: ProviderSimulator, control: SimulatorControl
) -> None:
    github = create_github_hook(sim, "https://app.example/gh")
    gitlab = create_gitlab_hook(sim, "https://app.example/gl")
    bitbucket = create_bitbucket_hook(sim, "https://app.example/bb")
    assert control.hooks() == [
        {
            "provider": "github",
            "repository": "acme/widgets",
            "id": str(github["id"]),
            "url": "https://app.example/gh",
            "events": ["push", "pull_request"],
            "secret": "s3cret",
            "active": True,
        },
        {
            "provider": "gitlab",
            "repository": "group/sub/repo",
            "id": str(gitlab["id"]),
            "url": "https://app.example/gl",
            "events": ["push_events", "merge_requests_events"],
            "secret": "gl-secret",
            "active": True,
            "signingToken": None,
        },
        {
            "provider": "bitbucket",
            "repository": "ws/slug",
            "id": bitbucket["uuid"],
            "url": "https://app.example/bb",
            "events": ["pullrequest:created", "repo:push"],
            "secret": "bb-secret",
            "active": True,
        },
    ]


def test_control_filters_hooks_by_provider(
    sim: ProviderSimulator, control: SimulatorControl
) -> None:
    create_github_hook(sim, "https://app.example/gh")
    create_gitlab_hook(sim, "https://app.example/gl")
    assert [h["provider"] for h in control.hooks("gitlab")] == ["gitlab"]


def test_hook_deleted_through_provider_api_is_gone_from_control_list(
    sim: ProviderSimulator,
    control: SimulatorControl,
) -> None:
    hook = create_github_hook(sim, "https://app.example/gh")
    requests.delete(
        f"{sim.github_api_url}/repos/acme/widgets/hooks/{hook['id']}", headers=gh(), timeout=TIMEOUT
    )
    assert control.hooks() == []


def test_control_delete_removes_hook_at_the_provider(
    sim: ProviderSimulator, control: SimulatorControl
) -> None:
    hook = create_bitbucket_hook(sim, "https://app.example/bb")
    r = control.send("POST", f"/hooks/bitbucket/{quote(hook['uuid'], safe='')}/delete")
    assert r.status_code == 204
    url = f"{sim.bitbucket_api_url}/repositories/ws/slug/hooks/{quote(hook['uuid'], safe='')}"
    assert requests.get(url, headers=bb(), timeout=TIMEOUT).status_code == 404


def test_control_deactivate_shows_in_each_provider_api(
    sim: ProviderSimulator, control: SimulatorControl
) -> None:
    github = create_github_hook(sim, "https://app.example/gh")
    gitlab = create_gitlab_hook(sim, "https://app.example/gl")
    bitbucket = create_bitbucket_hook(sim, "https://app.example/bb")
    for provider, hook_id in (
        ("github", str(github["id"])),
        ("gitlab", str(gitlab["id"])),
        ("bitbucket", bitbucket["uuid"]),
    ):
        r = control.send("POST", f"/hooks/{provider}/{quote(hook_id, safe='')}/deactivate")
        assert r.status_code == 200
        assert r.json()["active"] is False
    gh_hook = requests.get(
        f"{sim.github_api_url}/repos/acme/widgets/hooks/{github['id']}",
        headers=gh(),
        timeout=TIMEOUT,
    ).json()
    gl_hook = requests.get(
        f"{sim.gitlab_api_url}/projects/group%2Fsub%2Frepo/hooks/{gitlab['id']}",
        headers=gl(),
        timeout=TIMEOUT,
    ).json()
    bb_hook = requests.get(
        f"{sim.bitbucket_api_url}/repositories/ws/slug/hooks/{quote(bitbucket['uuid'], safe='')}",
        headers=bb(),
        timeout=TIMEOUT,
    ).json()
    assert gh_hook["active"] is False
    assert gl_hook["alert_status"] == "disabled"
    assert bb_hook["active"] is False


def test_control_unknown_hook_is_404(sim: ProviderSimulator, control: SimulatorControl) -> None:
    r = control.send("POST", "/hooks/github/999/deactivate")
    assert r.status_code == 404


def test_request_log_records_calls_without_credentials(
    sim: ProviderSimulator, control: SimulatorControl
) -> None:
    # Given calls carrying a distinctive token in a header and in a query string
    token = "tok-very-distinctive-4711"
    requests.get(f"{sim.github_api_url}/repos/acme/widgets", headers=gh(token), timeout=TIMEOUT)
    requests.get(
        f"{sim.gitlab_api_url}/projects/group%2Frepo",
        params={"private_token": token, "statistics": "false"},
        timeout=TIMEOUT,
    )
    # When the log is read
    r = control.send("GET", "/requests")
    # Then it records each call, and the token appears nowhere
    assert token not in r.text
    entries = [
        {k: e[k] for k in ("method", "provider", "path", "status")} for e in r.json()["requests"]
    ]
    assert entries == [
        {
            "method": "GET",
            "provider": "github",
            "path": "/github/repos/acme/widgets",
            "status": 200,
        },
        {
            "method": "GET",
            "provider": "gitlab",
            "path": "/gitlab/api/v4/projects/group%2Frepo?statistics=false",
            "status": 200,
        },
    ]


def test_request_log_can_be_cleared(sim: ProviderSimulator, control: SimulatorControl) -> None:
    requests.get(f"{sim.github_api_url}/repos/acme/widgets", headers=gh(), timeout=TIMEOUT)
    assert control.send("DELETE", "/requests").status_code == 204
    assert control.send("GET", "/requests").json() == {"requests": []}


def test_reset_forgets_hooks(sim: ProviderSimulator, control: SimulatorControl) -> None:
    create_github_hook(sim, "https://app.example/gh")
    control.reset()
    assert control.hooks() == []


# Deliveries -------------------------------------------------------------------------------


def test_github_delivery_is_signed_with_hmac_sha256(
    sim: ProviderSimulator, control: SimulatorControl, receiver: Receiver
) -> None:
    # Given a GitHub hook with a secret pointing at the receiver
    hook = create_github_hook(sim, f"{receiver.url}/webhooks/gh", secret="gh-secret")
    # When a push is delivered
    r = control.deliver_raw(
        "github", str(hook["id"]), {"event": "push", "payload": {"ref": "refs/heads/main"}}
    )
    # Then the receiver got GitHub's headers and a signature it can recompute
    assert r.status_code == 200
    assert r.json()["status"] == 200
    assert r.json()["body"] == {"received": True, "status": 200}
    got = receiver.last()
    headers = got.headers
    assert json.loads(got.body) == {"ref": "refs/heads/main"}
    assert headers["X-GitHub-Event"] == "push"
    assert headers["X-GitHub-Delivery"] == r.json()["deliveryId"]
    assert headers["X-GitHub-Hook-ID"] == str(hook["id"])
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Hub-Signature-256"] == "sha256=" + hmac_hex("gh-secret", got.body)


def test_github_form_hook_delivers_payload_form_encoded(
    sim: ProviderSimulator, control: SimulatorControl, receiver: Receiver
) -> None:
    body = github_hook_body(f"{receiver.url}/webhooks/form", secret="form-secret")
    body["config"]["content_type"] = "form"
    hook = requests.post(
        f"{sim.github_api_url}/repos/acme/widgets/hooks", json=body, headers=gh(), timeout=TIMEOUT
    ).json()
    control.deliver_raw("github", str(hook["id"]), {"event": "push", "payload": {"a": 1}})
    got = receiver.last()
    assert got.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert json.loads(parse_qs(got.body.decode())["payload"][0]) == {"a": 1}
    assert got.headers["X-Hub-Signature-256"] == "sha256=" + hmac_hex("form-secret", got.body)


def test_github_hook_records_last_response_of_a_delivery(
    sim: ProviderSimulator, control: SimulatorControl, receiver: Receiver
) -> None:
    hook = create_github_hook(sim, f"{receiver.url}/webhooks/500")
    control.deliver_raw("github", str(hook["id"]), {"event": "push", "payload": {}})
    r = requests.get(
        f"{sim.github_api_url}/repos/acme/widgets/hooks/{hook['id']}", headers=gh(), timeout=TIMEOUT
    )
    assert r.json()["last_response"]["code"] == 500
    assert r.json()["last_response"]["status"] == "failed"


def test_gitlab_delivery_carries_token_and_idempotency_key(
    sim: ProviderSimulator, control: SimulatorControl, receiver: Receiver
) -> None:
    hook = create_gitlab_hook(sim, f"{receiver.url}/webhooks/gl", token="gl-secret")
    r = control.deliver_raw(
        "gitlab", str(hook["id"]), {"event": "Push Hook", "payload": {"object_kind": "push"}}
    )
    assert r.status_code == 200
    headers = receiver.last().headers
    assert headers["X-Gitlab-Event"] == "Push Hook"
    assert headers["X-Gitlab-Token"] == "gl-secret"
    assert headers["Idempotency-Key"] == r.json()["deliveryId"]
    assert headers["X-Gitlab-Event-UUID"] == r.json()["deliveryId"]
    assert headers["X-Gitlab-Webhook-UUID"]
    assert headers["User-Agent"].startswith("GitLab/")


# GitLab signing tokens (GitLab MRs 230944, 231325) ------------------------------------------

SIGNING_TOKEN = "whsec_" + base64.b64encode(bytes(range(32))).decode()


def gitlab_hook_request(
    sim: ProviderSimulator, method: str, path: str, body: dict[str, Any]
) -> requests.Response:
    return requests.request(
        method,
        f"{sim.gitlab_api_url}/projects/group%2Fsub%2Frepo/hooks{path}",
        json=body,
        headers=gl(),
        timeout=TIMEOUT,
    )


def test_gitlab_stores_a_signing_token_and_never_returns_it(
    sim: ProviderSimulator, control: SimulatorControl
) -> None:
    # when a hook is created with a token and a signing token
    r = gitlab_hook_request(
        sim,
        "POST",
        "",
        {"url": "https://app.example/1", "token": "gl-secret", "signing_token": SIGNING_TOKEN},
    )
    # then the answer says both are present and holds neither; the control API lists both
    assert r.status_code == 201
    assert (r.json()["token_present"], r.json()["signing_token_present"]) == (True, True)
    assert SIGNING_TOKEN not in r.text and "gl-secret" not in r.text
    listed = control.hooks()[0]
    assert (listed["secret"], listed["signingToken"]) == ("gl-secret", SIGNING_TOKEN)
    # and a GET says the same, a PUT that sends none keeps it, one that sends "" clears it
    got = requests.get(
        f"{sim.gitlab_api_url}/projects/group%2Fsub%2Frepo/hooks/{r.json()['id']}",
        headers=gl(),
        timeout=TIMEOUT,
    )
    assert got.json()["signing_token_present"] is True and SIGNING_TOKEN not in got.text
    kept = gitlab_hook_request(sim, "PUT", f"/{r.json()['id']}", {"push_events": False})
    assert kept.json()["signing_token_present"] is True
    cleared = gitlab_hook_request(sim, "PUT", f"/{r.json()['id']}", {"signing_token": ""})
    assert cleared.json()["signing_token_present"] is False
    assert control.hooks()[0]["signingToken"] is None


def test_gitlab_sets_a_signing_token_on_update(
    sim: ProviderSimulator, control: SimulatorControl
) -> None:
    hook = create_gitlab_hook(sim, "https://app.example/1")
    assert hook["signing_token_present"] is False
    r = gitlab_hook_request(sim, "PUT", f"/{hook['id']}", {"signing_token": SIGNING_TOKEN})
    assert r.status_code == 200 and r.json()["signing_token_present"] is True
    assert control.hooks()[0]["signingToken"] == SIGNING_TOKEN


@pytest.mark.parametrize(
    "bad",
    [
        "not-a-signing-token",
        "whsec_" + base64.b64encode(bytes(16)).decode(),  # a 16-byte key
        "whsec_not*base64",
        SIGNING_TOKEN[len("whsec_") :],  # no prefix
        42,
    ],
)
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_gitlab_refuses_a_malformed_signing_token(
    sim: ProviderSimulator, control: SimulatorControl, bad: Any, method: str
) -> None:
    hook = create_gitlab_hook(sim, "https://app.example/1")
    path = "" if method == "POST" else f"/{hook['id']}"
    r = gitlab_hook_request(
        sim, method, path, {"url": "https://app.example/2", "signing_token": bad}
    )
    assert (r.status_code, r.json()) == (400, {"error": "signing_token is invalid"})
    assert len(control.hooks()) == 1 and control.hooks()[0]["signingToken"] is None


def test_gitlab_without_the_feature_ignores_signing_tokens(
    sim: ProviderSimulator, control: SimulatorControl, receiver: Receiver
) -> None:
    # given an instance without signing tokens
    control.gitlab_signing_tokens(False)
    assert control.send("GET", "/features").json() == {
        "gitlabSigningTokens": False,
        "gitlabTokenSelf": True,
    }
    # when a hook is created with one (even a malformed one: the parameter is unknown there)
    r = gitlab_hook_request(
        sim,
        "POST",
        "",
        {"url": f"{receiver.url}/webhooks/gl", "token": "gl-secret", "signing_token": "junk"},
    )
    # then it is created without it, and its deliveries carry the token alone
    assert r.status_code == 201 and r.json()["signing_token_present"] is False
    assert control.hooks()[0]["signingToken"] is None
    control.deliver_raw("gitlab", str(r.json()["id"]), {"event": "push", "payload": {}})
    headers = {name.lower() for name in receiver.last().headers}
    assert "x-gitlab-token" in headers
    assert headers.isdisjoint({"webhook-id", "webhook-timestamp", "webhook-signature"})
    # and a reset brings the feature back
    control.reset()
    assert control.send("GET", "/features").json() == {
        "gitlabSigningTokens": True,
        "gitlabTokenSelf": True,
    }


def test_the_features_switch_refuses_anything_but_a_boolean(control: SimulatorControl) -> None:
    for body in (
        {"gitlabSigningTokens": "no"},
        {},
        {"gitlabSigningTokens": True, "x": 1},
        {"gitlabTokenSelf": None},
    ):
        assert control.send("PUT", "/features", json=body).status_code == 400


def test_gitlab_delivery_with_a_signing_token_is_signed_per_standard_webhooks(
    sim: ProviderSimulator, control: SimulatorControl, receiver: Receiver
) -> None:
    # given a hook with a signing token
    r = gitlab_hook_request(
        sim,
        "POST",
        "",
        {
            "url": f"{receiver.url}/webhooks/gl",
            "token": "gl-secret",
            "signing_token": SIGNING_TOKEN,
        },
    )
    # when it delivers
    answer = control.deliver_raw(
        "gitlab", str(r.json()["id"]), {"event": "push", "payload": {"object_kind": "push"}}
    )
    # then the delivery has the token, webhook-id = Idempotency-Key, and a signature the
    # reference implementation verifies with the signing token (and not with the token)
    delivered = receiver.last()
    headers = delivered.headers
    assert headers["X-Gitlab-Token"] == "gl-secret"
    assert headers["webhook-id"] == headers["Idempotency-Key"] == answer.json()["deliveryId"]
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(SIGNING_TOKEN).verify(delivered.body, headers) == {"object_kind": "push"}
    with pytest.raises(WebhookVerificationError):
        Webhook(b"gl-secret").verify(delivered.body, headers)


def test_gitlab_delivery_maps_short_event_names_to_headers(
    sim: ProviderSimulator, control: SimulatorControl, receiver: Receiver
) -> None:
    hook = create_gitlab_hook(sim, f"{receiver.url}/webhooks/gl")
    control.deliver_raw("gitlab", str(hook["id"]), {"event": "merge_request", "payload": {}})
    assert receiver.last().headers["X-Gitlab-Event"] == "Merge Request Hook"


def test_bitbucket_delivery_is_signed_and_names_the_hook(
    sim: ProviderSimulator, control: SimulatorControl, receiver: Receiver
) -> None:
    hook = create_bitbucket_hook(sim, f"{receiver.url}/webhooks/bb", secret="bb-secret")
    r = control.deliver_raw(
        "bitbucket", hook["uuid"], {"event": "repo:push", "payload": {"push": {"changes": []}}}
    )
    assert r.status_code == 200
    got = receiver.last()
    headers = got.headers
    assert headers["X-Event-Key"] == "repo:push"
    assert headers["X-Hook-UUID"] == hook["uuid"].strip("{}")
    assert headers["X-Request-UUID"] == r.json()["deliveryId"]
    assert headers["X-Attempt-Number"] == "1"
    assert headers["X-Hub-Signature"] == "sha256=" + hmac_hex("bb-secret", got.body)


def test_delivery_replays_a_given_delivery_id(
    sim: ProviderSimulator, control: SimulatorControl, receiver: Receiver
) -> None:
    hook = create_bitbucket_hook(sim, f"{receiver.url}/webhooks/bb")
    first = control.deliver_raw(
        "bitbucket", hook["uuid"], {"event": "repo:push", "payload": {}}
    ).json()
    again = control.deliver_raw(
        "bitbucket",
        hook["uuid"],
        {"event": "repo:push", "payload": {}, "deliveryId": first["deliveryId"]},
    ).json()
    assert again["deliveryId"] == first["deliveryId"]
    assert again["attempt"] == 2
    assert receiver.last().headers["X-Request-UUID"] == first["deliveryId"]
    assert receiver.last().headers["X-Attempt-Number"] == "2"


def test_delivery_without_secret_sends_no_signature(
    sim: ProviderSimulator, control: SimulatorControl, receiver: Receiver
) -> None:
    hook = create_github_hook(sim, f"{receiver.url}/webhooks/nosecret", secret=None)
    control.deliver_raw("github", str(hook["id"]), {"event": "push", "payload": {}})
    assert "X-Hub-Signature-256" not in receiver.last().headers


def test_delivery_answers_the_receiver_status(
    sim: ProviderSimulator, control: SimulatorControl, receiver: Receiver
) -> None:
    hook = create_gitlab_hook(sim, f"{receiver.url}/webhooks/401")
    r = control.deliver_raw("gitlab", str(hook["id"]), {"event": "push", "payload": {}})
    assert r.status_code == 200
    assert r.json()["status"] == 401
    assert r.json()["body"] == {"received": True, "status": 401}


def test_delivery_to_inactive_hook_is_refused(
    sim: ProviderSimulator, control: SimulatorControl, receiver: Receiver
) -> None:
    hook = create_github_hook(sim, f"{receiver.url}/webhooks/gh")
    control.hook_action("github", str(hook["id"]), "deactivate")
    before = len(receiver.received)
    r = control.deliver_raw("github", str(hook["id"]), {"event": "push", "payload": {}})
    assert r.status_code == 409
    assert len(receiver.received) == before


def test_delivery_to_unreachable_receiver_is_502(
    sim: ProviderSimulator, control: SimulatorControl
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hook = create_github_hook(sim, f"http://127.0.0.1:{port}/nobody")
    r = control.deliver_raw("github", str(hook["id"]), {"event": "push", "payload": {}})
    assert r.status_code == 502
    assert r.json()["deliveryId"]


# Standalone -------------------------------------------------------------------------------


def test_standalone_server_logs_requests_without_credentials() -> None:
    # Given the simulator started as `python -m repoconn_local.simulator.server`
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "infra" / "local")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "repoconn_local.simulator.server", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                SimulatorControl(base, timeout=1).send("GET", "/health").raise_for_status()
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.05)
        # When a call carries its token in the query string
        token = "tok-standalone-secret-9000"
        r = requests.get(
            f"{base}/gitlab/api/v4/projects/a%2Fb", params={"private_token": token}, timeout=TIMEOUT
        )
        assert r.status_code == 200
    finally:
        # SIGTERM, not SIGINT: a process started in the background by a non-interactive shell
        # (CI, `make test &`) inherits SIGINT as ignored. Each log record is already flushed.
        proc.terminate()
        # Generous: on a loaded 2-core CI machine a fresh interpreter can be slow to wind down.
        _, stderr = proc.communicate(timeout=60)
    # Then stderr logs the call and never the token
    assert "gitlab GET /gitlab/api/v4/projects/a%2Fb -> 200" in stderr
    assert token not in stderr
