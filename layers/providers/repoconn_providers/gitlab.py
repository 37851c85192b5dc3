"""GitLab REST API v4: project preflight and project webhooks.

Endpoints (docs.gitlab.com/api): ``GET /projects/:id``, ``GET|POST /projects/:id/hooks``,
``GET|PUT|DELETE /projects/:id/hooks/:hook_id``, where ``:id`` is the URL-encoded full path
(``group%2Fsub%2Frepo``), so nested groups need no extra lookup.

Signing tokens (GitLab MRs 230944 and 231325): a hook created or updated with
``signing_token`` (``whsec_`` + base64 of a 32-byte key) signs its deliveries per Standard
Webhooks besides sending ``X-Gitlab-Token``. The token is never returned; the answer says
``signing_token_present``. An instance without the feature ignores the parameter silently, so
the answer, not the request, tells whether the hook signs (``Hook.signing``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests
from pydantic import SecretStr
from repoconn_core.errors import InsufficientPermissions, RepositoryNotFound
from repoconn_core.providers import WEBHOOK_EVENTS, Hook, RepositoryRef, ServiceType

from repoconn_providers.driver import HookDriver, PageRequest
from repoconn_providers.http import unexpected
from repoconn_providers.signatures import gitlab_signing_token, gitlab_token

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


def _access_level(permissions: Any, key: str) -> int:
    entry = permissions.get(key) if isinstance(permissions, dict) else None
    if isinstance(entry, dict) and isinstance(entry.get("access_level"), int):
        return int(entry["access_level"])
    return 0


class GitLabClient(HookDriver):
    """``WebhookClient`` for gitlab.com and self-managed GitLab (base URL ends in /api/v4)."""

    service_type = ServiceType.GITLAB
    default_page_size = 100  # GitLab's maximum per_page is 100
    # 204 today; older GitLab versions answered 200 with the deleted hook.
    deleted = frozenset({200, 204})

    # -- paths and bodies -------------------------------------------------------------------

    def _repository_path(self, repo: RepositoryRef) -> str:
        # The whole namespace path is one URL-encoded path parameter ("/" → %2F).
        # docs.gitlab.com/api/rest/#namespaced-paths
        return f"/projects/{quote(repo.path, safe='')}"

    def _hook_id_segment(self, hook_id: str) -> str:
        return quote(hook_id, safe="")

    def _hook_body(self, callback_url: str, secret: SecretStr) -> dict[str, Any]:
        wanted = set(WEBHOOK_EVENTS[ServiceType.GITLAB])
        body: dict[str, Any] = {flag: flag in wanted for flag in ALL_EVENT_FLAGS}
        body.update(
            {
                "url": callback_url,
                # Sent back as X-Gitlab-Token on every delivery; never returned by the API.
                # Both are derived from the secret, one label each: the token travels with
                # every delivery and must not reveal the signing key (signatures.py).
                "token": gitlab_token(secret),
                "signing_token": gitlab_signing_token(secret),
                "enable_ssl_verification": True,
            }
        )
        return body

    @staticmethod
    def _hook(data: Any) -> Hook:
        return Hook(
            id=str(data["id"]),
            url=str(data.get("url", "")),
            # GitLab disables a failing hook temporarily or permanently (``alert_status``).
            active=data.get("alert_status", "executable") == "executable",
            events=tuple(flag for flag in ALL_EVENT_FLAGS if data.get(flag)),
            # Absent on versions without signing tokens; false where the feature is off.
            signing=data.get("signing_token_present") is True,
        )

    # -- paging -----------------------------------------------------------------------------

    def _first_page(self, repo: RepositoryRef) -> PageRequest:
        return PageRequest(self._hooks_path(repo), {**self._page_params(), "page": "1"})

    def _next_page(
        self, response: requests.Response, body: Any, current: PageRequest
    ) -> PageRequest | None:
        # Offset pagination: X-Next-Page is empty on the last page. Some endpoints send a
        # next page that then comes back empty (gitlab-org/gitlab#471566), hence both.
        next_page = response.headers.get("X-Next-Page", "").strip()
        if not next_page or not body:
            return None
        return PageRequest(current.path_or_url, {**(current.params or {}), "page": next_page})

    # -- status mapping ---------------------------------------------------------------------

    def _raise_for_access(
        self, response: requests.Response, repo: RepositoryRef, *, hooks: bool = True
    ) -> None:
        scope = _insufficient_scope(response)
        if scope is not None:
            raise InsufficientPermissions(
                f"The token lacks the {scope} scope GitLab requires for managing webhooks "
                "(create the token with the api scope)"
            )
        if response.status_code == 403:
            raise InsufficientPermissions(f"The token's user lacks {MAINTAINER_NEEDED}")
        if response.status_code == 404:
            # GitLab answers 404 for private projects the token cannot see.
            raise RepositoryNotFound(
                f"Project {repo.path} was not found on GitLab or is not visible to this token"
            )

    # -- WebhookClient ----------------------------------------------------------------------

    def preflight(self, repo: RepositoryRef, token: SecretStr) -> None:
        _, data = self._lookup_repository(repo, token, "the project lookup")
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
        probe = self._probe_hooks(repo, token)
        if probe.status_code == 200:
            return
        if probe.status_code in (401, 404) or _insufficient_scope(probe) is not None:
            self._check_access(probe, repo)
        if probe.status_code == 403:
            role = ROLE_NAMES.get(level, f"access level {level}")
            raise InsufficientPermissions(
                f"The token's user has {role} on {repo.path} but managing webhooks needs "
                f"{MAINTAINER_NEEDED}"
            )
        raise unexpected(probe, self.service, "the webhook list")


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
