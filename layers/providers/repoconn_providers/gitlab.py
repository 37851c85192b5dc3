"""GitLab REST API v4: project preflight and project webhooks.

Endpoints (docs.gitlab.com/api): ``GET /projects/:id``, ``GET|POST /projects/:id/hooks``,
``GET|PUT|DELETE /projects/:id/hooks/:hook_id``, where ``:id`` is the URL-encoded full path
(``group%2Fsub%2Frepo``), so nested groups need no extra lookup.

Signing tokens (GitLab MRs 230944 and 231325): a hook created or updated with
``signing_token`` (``whsec_`` + base64 of a 32-byte key) signs its deliveries per Standard
Webhooks besides sending ``X-Gitlab-Token``. The token is never returned; the answer says
``signing_token_present``. An instance without the feature ignores the parameter silently, so
the answer, not the request, tells whether the hook signs (``Hook.signing``).

For reconciliation (GitLab 17.4+): ``GET .../hooks/:hook_id/events``,
``POST .../hooks/:hook_id/events/:id/resend`` and ``POST .../hooks/:hook_id/test/:trigger``
(docs.gitlab.com/api/project_webhooks).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests
from pydantic import SecretStr
from repoconn_core.errors import (
    HookNotFound,
    InsufficientPermissions,
    ProviderUnavailable,
    RepositoryNotFound,
)
from repoconn_core.providers import (
    WEBHOOK_EVENTS,
    DeliveryAttempt,
    DeliveryHistory,
    Hook,
    RepositoryRef,
    ServiceType,
)

from repoconn_providers.answers import json_body, unexpected
from repoconn_providers.driver import OK, HookDriver, PageRequest, provider_time, status_code
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
# Every project hook event flag GitLab's API takes (lib/api/project_hooks.rb,
# ``common_hook_parameters``; docs.gitlab.com/api/project_webhooks/#add-a-webhook-to-a-project);
# ours are switched on, the rest explicitly off so an adopted or updated hook ends up exactly as
# we define it. An instance older than a flag ignores it (Grape drops undeclared parameters).
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
    "feature_flag_events",
    "releases_events",
    "milestone_events",
    "emoji_events",
    "resource_access_token_events",
    "resource_deploy_token_events",
    "vulnerability_events",
)
# Managing hooks needs the ``api`` scope; ``read_api`` may list them but not change them.
HOOK_SCOPE = "api"
TOKEN_SELF_PATH = "/personal_access_tokens/self"  # noqa: S105 - an API path


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
        self._check_token_scopes(token)
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

    def _check_token_scopes(self, token: SecretStr) -> None:
        """Refuse a token whose scopes GitLab lists without ``api``. A ``read_api`` token of
        a Maintainer reads the project and even its hooks, and fails only on the create.

        ``GET /personal_access_tokens/self`` (GitLab 15.5+; docs.gitlab.com/api/
        personal_access_tokens/#get-details-on-a-personal-access-token) describes personal,
        project and group access tokens. Any other answer - 404 on an older instance, 401 or
        404 for an OAuth token it does not describe, 403 - says nothing about the scopes, and
        the checks after this one decide as before. A 5xx or rate limit raises as any call."""
        response = self._request("GET", TOKEN_SELF_PATH, token=token)
        if response.status_code != 200:
            return
        try:
            data = response.json()
        except ValueError:
            return
        scopes = data.get("scopes") if isinstance(data, dict) else None
        if not isinstance(scopes, list) or HOOK_SCOPE in scopes:
            return
        # Only scope-shaped names go into the message; the body is provider-controlled.
        granted = sorted(
            {str(s) for s in scopes if isinstance(s, str) and s.replace("_", "").isalnum()}
        )
        raise InsufficientPermissions(
            f"The token lacks the {HOOK_SCOPE} scope GitLab requires for managing webhooks "
            f"(granted scopes: {', '.join(granted) or 'none'}); create the token with the "
            f"{HOOK_SCOPE} scope"
        )

    # -- reconciliation ---------------------------------------------------------------------

    def reenable_hook(self, repo: RepositoryRef, token: SecretStr, hook_id: str) -> bool:
        # GitLab disables a failing hook (alert_status "temporarily_disabled" after 5xx, with
        # a growing disabled_until; "disabled" after 4xx or too many failures) and skips every
        # event meanwhile - they are not even logged. "Send a test request: the webhook is
        # re-enabled if it returns a 2xx" (docs.gitlab.com/user/project/integrations/webhooks,
        # failing webhooks); the API's test call (16.11+) is forced through a disabled hook.
        # A PUT does not re-enable it. The test sends GitLab's sample push (the project's
        # latest commit), which the receiver publishes like any push: docs/decisions.md.
        hook = self.get_hook(repo, token, hook_id)
        if hook is None:
            raise HookNotFound(f"GitLab webhook {hook_id} no longer exists on {repo.path}")
        if hook.active:
            return False
        response = self._request(
            "POST", f"{self._hook_path(repo, hook_id)}/test/{TEST_TRIGGER}", token=token
        )
        self._check_access(response, repo)
        self._expect(response, CREATED_OR_OK, "testing the webhook to re-enable it")
        return True

    def delivery_history(
        self,
        repo: RepositoryRef,
        token: SecretStr,
        hook_id: str,
        since: datetime,
        *,
        max_pages: int,
    ) -> DeliveryHistory | None:
        # Every logged request of the past seven days (no ``status`` filter: an event counts as
        # delivered when any of its attempts succeeded). A resend keeps the event's
        # Idempotency-Key, which groups its attempts.
        page = PageRequest(
            f"{self._hook_path(repo, hook_id)}/events", {"per_page": 100, "page": "1"}
        )
        attempts: list[DeliveryAttempt] = []
        for _ in range(max_pages):
            response = self._request("GET", page.path_or_url, token=token, params=page.params)
            if response.status_code == 404:
                if _no_such_route(response):
                    return None  # GitLab before 17.4: no events API
                raise HookNotFound(f"GitLab webhook {hook_id} no longer exists on {repo.path}")
            self._check_access(response, repo)
            self._expect(response, OK, "listing webhook events")
            body = json_body(response, self.service)
            listed = [_hook_event(item, since) for item in (body if isinstance(body, list) else ())]
            attempts.extend(attempt for attempt in listed if attempt.at >= since)
            next_page = self._next_page(response, body, page)
            if next_page is None or all(attempt.at < since for attempt in listed):
                return DeliveryHistory(tuple(attempts))
            page = next_page
        return DeliveryHistory(tuple(attempts), truncated=True)

    def redeliver(
        self, repo: RepositoryRef, token: SecretStr, hook_id: str, attempt: DeliveryAttempt
    ) -> None:
        path = f"{self._hook_path(repo, hook_id)}/events/{quote(attempt.id, safe='')}/resend"
        response = self._request("POST", path, token=token)
        if response.status_code == 404:
            raise HookNotFound(f"GitLab hook event {attempt.id} of webhook {hook_id} is gone")
        self._check_access(response, repo)
        # 422: the hook's URL changed since, and GitLab will not resend to the new one.
        self._expect(response, CREATED_OR_OK, "resending a webhook event")


TEST_TRIGGER = "push_events"
CREATED_OR_OK = frozenset({200, 201})


def _hook_event(item: Any, since: datetime) -> DeliveryAttempt:
    """One item of GitLab's hook events: id, url, trigger, request_headers, request_data,
    response_headers, response_body, execution_duration, response_status (a status as a
    string, or "internal error" when nothing answered), created_at. Without created_at it is
    taken as inside the window (GitLab keeps seven days)."""
    try:
        headers = {str(k).lower(): str(v) for k, v in (item.get("request_headers") or {}).items()}
        key = headers.get("idempotency-key") or headers.get("x-gitlab-event-uuid")
        return DeliveryAttempt(
            id=str(item["id"]),
            event_key=key or f"log-{item['id']}",
            event=str(item.get("trigger") or ""),
            status_code=status_code(item.get("response_status")),
            at=provider_time(item["created_at"], "GitLab") if item.get("created_at") else since,
        )
    except (KeyError, TypeError, AttributeError):
        raise ProviderUnavailable("GitLab answered a hook event the client cannot read") from None


def _no_such_route(response: requests.Response) -> bool:
    """GitLab's 404 for a route it does not have (``{"error": "404 Not Found"}``), unlike a
    missing hook (``{"message": "404 Not found"}``)."""
    try:
        data = response.json()
    except ValueError:
        return False
    return isinstance(data, dict) and "error" in data and "message" not in data


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
