"""GitLab REST API v4: project preflight and project webhooks.

Endpoints (docs.gitlab.com/api): ``GET /projects/:id``, ``GET|POST /projects/:id/hooks``,
``GET|PUT|DELETE /projects/:id/hooks/:hook_id``, where ``:id`` is the URL-encoded full path
(``group%2Fsub%2Frepo``), so nested groups need no extra lookup.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests
from pydantic import SecretStr
from repoconn_core.errors import (
    HookNotFound,
    InsufficientPermissions,
    InvalidToken,
    RepositoryNotFound,
)
from repoconn_core.providers import WEBHOOK_EVENTS, Hook, RepositoryRef, ServiceType

from repoconn_providers.http import MAX_PAGES, ProviderHttp, json_body, too_many_pages, unexpected

SERVICE = "GitLab"
MAINTAINER = 40
ROLE_NAMES = {
    0: "no access",
    5: "Minimal Access",
    10: "Guest",
    15: "Planner",
    20: "Reporter",
    30: "Developer",
    40: "Maintainer",
    50: "Owner",
}
MAINTAINER_NEEDED = "the Maintainer role (access level 40) or higher on the project"
# Every project hook event flag; ours are switched on, the rest explicitly off so an adopted or
# updated hook ends up exactly as we define it.
ALL_EVENT_FLAGS = (
    "push_events",
    "tag_push_events",
    "merge_requests_events",
    "issues_events",
    "confidential_issues_events",
    "note_events",
    "confidential_note_events",
    "job_events",
    "pipeline_events",
    "wiki_page_events",
    "deployment_events",
    "releases_events",
)


def _hook(data: Any) -> Hook:
    return Hook(
        id=str(data["id"]),
        url=str(data.get("url", "")),
        # GitLab disables a failing hook temporarily or permanently (``alert_status``).
        active=data.get("alert_status", "executable") == "executable",
        events=tuple(flag for flag in ALL_EVENT_FLAGS if data.get(flag)),
    )


def _access_level(permissions: Any, key: str) -> int:
    entry = permissions.get(key) if isinstance(permissions, dict) else None
    if isinstance(entry, dict) and isinstance(entry.get("access_level"), int):
        return int(entry["access_level"])
    return 0


class GitLabClient:
    """``WebhookClient`` for gitlab.com and self-managed GitLab (base URL ends in /api/v4)."""

    service_type = ServiceType.GITLAB

    def __init__(self, http: ProviderHttp, *, page_size: int = 100) -> None:
        self._http = http
        self._page_size = page_size  # GitLab's maximum per_page is 100

    def __repr__(self) -> str:
        return f"GitLabClient({self._http!r})"

    # -- paths ------------------------------------------------------------------------------

    def _project_path(self, repo: RepositoryRef) -> str:
        # The whole namespace path is one URL-encoded path parameter ("/" → %2F).
        # docs.gitlab.com/api/rest/#namespaced-paths
        return f"/projects/{quote(repo.path, safe='')}"

    def _hook_path(self, repo: RepositoryRef, hook_id: str) -> str:
        return f"{self._project_path(repo)}/hooks/{quote(hook_id, safe='')}"

    def _hook_body(self, callback_url: str, secret: SecretStr) -> dict[str, Any]:
        wanted = set(WEBHOOK_EVENTS[ServiceType.GITLAB])
        body: dict[str, Any] = {flag: flag in wanted for flag in ALL_EVENT_FLAGS}
        body.update(
            {
                "url": callback_url,
                # Sent back as X-Gitlab-Token on every delivery; never returned by the API.
                "token": secret.get_secret_value(),
                "enable_ssl_verification": True,
            }
        )
        return body

    # -- shared status mapping --------------------------------------------------------------

    def _raise_for_access(self, response: requests.Response, repo: RepositoryRef) -> None:
        status = response.status_code
        if status == 401:
            raise InvalidToken(
                "GitLab rejected the access token: it is invalid, expired or revoked"
            )
        if status == 403:
            scope = _insufficient_scope(response)
            if scope is not None:
                raise InsufficientPermissions(
                    f"The token lacks the {scope} scope GitLab requires for managing webhooks "
                    "(create the token with the api scope)"
                )
            raise InsufficientPermissions(f"The token's user lacks {MAINTAINER_NEEDED}")
        if status == 404:
            # GitLab answers 404 for private projects the token cannot see.
            raise RepositoryNotFound(
                f"Project {repo.path} was not found on GitLab or is not visible to this token"
            )

    # -- WebhookClient ----------------------------------------------------------------------

    def preflight(self, repo: RepositoryRef, token: SecretStr) -> None:
        response = self._http.request("GET", self._project_path(repo), token=token)
        self._raise_for_access(response, repo)
        if response.status_code != 200:
            raise unexpected(response, SERVICE, "the project lookup")
        data = json_body(response, SERVICE)
        permissions = data.get("permissions")
        level = max(
            _access_level(permissions, "project_access"),
            _access_level(permissions, "group_access"),
        )
        if level >= MAINTAINER:
            return
        # GitLab may report null for access inherited from an ancestor group of a subgroup
        # (gitlab-org/gitlab-foss#43684); listing hooks needs Maintainer too, so ask that
        # before refusing someone who is in fact allowed.
        probe = self._http.request(
            "GET",
            f"{self._project_path(repo)}/hooks",
            token=token,
            params={"per_page": 1},
        )
        if probe.status_code == 200:
            return
        if probe.status_code in (401, 404) or _insufficient_scope(probe) is not None:
            self._raise_for_access(probe, repo)
        if probe.status_code == 403:
            role = ROLE_NAMES.get(level, f"access level {level}")
            raise InsufficientPermissions(
                f"The token's user has {role} on {repo.path} but managing webhooks needs "
                f"{MAINTAINER_NEEDED}"
            )
        raise unexpected(probe, SERVICE, "the webhook list")

    def create_hook(
        self, repo: RepositoryRef, token: SecretStr, callback_url: str, secret: SecretStr
    ) -> Hook:
        response = self._http.request(
            "POST",
            f"{self._project_path(repo)}/hooks",
            token=token,
            json=self._hook_body(callback_url, secret),
        )
        self._raise_for_access(response, repo)
        if response.status_code != 201:
            raise unexpected(response, SERVICE, "creating the webhook")
        return _hook(json_body(response, SERVICE))

    def update_hook(
        self,
        repo: RepositoryRef,
        token: SecretStr,
        hook_id: str,
        callback_url: str,
        secret: SecretStr,
    ) -> Hook:
        response = self._http.request(
            "PUT",
            self._hook_path(repo, hook_id),
            token=token,
            json=self._hook_body(callback_url, secret),
        )
        if response.status_code == 404:
            raise HookNotFound(f"GitLab webhook {hook_id} no longer exists on {repo.path}")
        self._raise_for_access(response, repo)
        if response.status_code != 200:
            raise unexpected(response, SERVICE, "updating the webhook")
        return _hook(json_body(response, SERVICE))

    def get_hook(self, repo: RepositoryRef, token: SecretStr, hook_id: str) -> Hook | None:
        response = self._http.request("GET", self._hook_path(repo, hook_id), token=token)
        if response.status_code == 404:
            return None
        self._raise_for_access(response, repo)
        if response.status_code != 200:
            raise unexpected(response, SERVICE, "reading the webhook")
        return _hook(json_body(response, SERVICE))

    def find_hook(self, repo: RepositoryRef, token: SecretStr, callback_url: str) -> Hook | None:
        page: str = "1"
        for _ in range(MAX_PAGES):
            response = self._http.request(
                "GET",
                f"{self._project_path(repo)}/hooks",
                token=token,
                params={"per_page": self._page_size, "page": page},
            )
            self._raise_for_access(response, repo)
            if response.status_code != 200:
                raise unexpected(response, SERVICE, "listing webhooks")
            items = json_body(response, SERVICE)
            for item in items:
                hook = _hook(item)
                if hook.url == callback_url:
                    return hook
            # Offset pagination: X-Next-Page is empty on the last page. Some endpoints send a
            # next page that then comes back empty (gitlab-org/gitlab#471566), hence both.
            next_page = response.headers.get("X-Next-Page", "").strip()
            if not next_page or not items:
                return None
            page = next_page
        raise too_many_pages(SERVICE)

    def delete_hook(self, repo: RepositoryRef, token: SecretStr, hook_id: str) -> bool:
        response = self._http.request("DELETE", self._hook_path(repo, hook_id), token=token)
        if response.status_code == 404:
            return False
        self._raise_for_access(response, repo)
        # 204 today; older GitLab versions answered 200 with the deleted hook.
        if response.status_code not in (200, 204):
            raise unexpected(response, SERVICE, "deleting the webhook")
        return True


def _insufficient_scope(response: requests.Response) -> str | None:
    """The scope named by GitLab's OAuth-style 403 (``{"error": "insufficient_scope",
    "scope": "api"}``), or None for any other response."""
    if response.status_code != 403:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("error") == "insufficient_scope":
        scope = str(data.get("scope") or "api").split()[0]
        # Only a known scope name goes into a message; the body is provider-controlled.
        return scope if scope.replace("_", "").isalnum() else "api"
    return None
