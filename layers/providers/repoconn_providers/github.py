"""GitHub REST API: repository preflight and repository webhooks.

Endpoints (docs.github.com/rest): ``GET /repos/{owner}/{repo}``,
``GET|POST /repos/{owner}/{repo}/hooks``, ``GET|PATCH|DELETE /repos/{owner}/{repo}/hooks/{id}``,
and for reconciliation ``GET .../hooks/{id}/deliveries`` and
``POST .../hooks/{id}/deliveries/{delivery_id}/attempts``
(docs.github.com/rest/repos/webhooks#list-deliveries-for-a-repository-webhook).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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

from repoconn_providers.answers import json_body, scrub, unexpected
from repoconn_providers.driver import (
    OK,
    HookDriver,
    PageRequest,
    listed_hook,
    path_segment,
    provider_time,
    status_code,
    two_level_path,
)

PATH_KIND = "GitHub owner/repository"
API_VERSION = "2022-11-28"
ADMIN_NEEDED = (
    "admin permission on the repository (and the admin:repo_hook / repo scope for classic tokens)"
)
# Classic tokens: either scope lets the token create, update and delete repository hooks
# (write:repo_hook cannot delete them). docs.github.com/apps/oauth-apps/.../scopes-for-oauth-apps
HOOK_SCOPES = frozenset({"repo", "admin:repo_hook"})
# GitHub App installation access tokens start with ``ghs_`` (GitHub's token formats:
# github.blog/engineering/platform-security/behind-githubs-new-authentication-token-formats).
INSTALLATION_TOKEN_PREFIX = "ghs_"  # noqa: S105 - a prefix, not a secret
INSTALLATION_NEEDS = (
    "The GitHub App installation token cannot list the repository's webhooks: the app needs "
    'the "Webhooks" repository permission (read and write) and access to this repository'
)

DEFAULT_HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": API_VERSION,
}


class GitHubClient(HookDriver):
    """``WebhookClient`` for github.com and GitHub Enterprise Server (``/api/v3``)."""

    service_type = ServiceType.GITHUB
    default_page_size = 100  # GitHub's maximum per_page is 100
    request_headers = DEFAULT_HEADERS

    # -- paths and bodies -------------------------------------------------------------------

    def _repository_path(self, repo: RepositoryRef) -> str:
        return two_level_path("/repos", repo, PATH_KIND)

    def _hook_id_segment(self, hook_id: str) -> str:
        return path_segment(hook_id, PATH_KIND)

    def _hook_body(self, callback_url: str, secret: SecretStr) -> dict[str, Any]:
        return {
            "name": "web",  # the only hook type the REST API accepts
            "active": True,
            "events": list(WEBHOOK_EVENTS[ServiceType.GITHUB]),
            "config": {
                "url": callback_url,
                "content_type": "json",
                "insecure_ssl": "0",  # "0" = GitHub verifies our TLS certificate
                "secret": secret.get_secret_value(),
            },
        }

    @staticmethod
    def _hook(data: Any) -> Hook:
        config = data.get("config") or {}
        return listed_hook(data, data["id"], config.get("url", ""))

    # -- paging -----------------------------------------------------------------------------

    def _first_page(self, repo: RepositoryRef) -> PageRequest:
        return PageRequest(self._hooks_path(repo), self._page_params())

    def _next_page(
        self, response: requests.Response, body: Any, current: PageRequest
    ) -> PageRequest | None:
        # Pagination is by Link header (rel="next"); its URL already carries per_page.
        # docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api
        url = response.links.get("next", {}).get("url")
        return PageRequest(url) if url else None

    # -- status mapping ---------------------------------------------------------------------

    def _raise_for_access(
        self, response: requests.Response, repo: RepositoryRef, *, hooks: bool = True
    ) -> None:
        status = response.status_code
        if status == 403:
            if "X-GitHub-SSO" in response.headers:
                raise InsufficientPermissions(
                    "The token is not authorized for this organization's SAML single sign-on; "
                    f"authorize it for SSO. It also needs {ADMIN_NEEDED}"
                )
            raise InsufficientPermissions(f"The token lacks {ADMIN_NEEDED}")
        if status == 404 and hooks:
            # Hook endpoints answer 404, not 403, when the token lacks admin rights; the
            # repository itself was visible at preflight, so permission is the likely cause.
            raise InsufficientPermissions(
                f"GitHub hid the webhooks of {repo.path} from this token (404): the token "
                f"lacks {ADMIN_NEEDED}, or the repository is no longer visible to it"
            )
        if status == 404:
            # GitHub answers 404, not 403, for private repositories the token cannot see.
            raise RepositoryNotFound(
                f"Repository {repo.path} was not found on GitHub or is not visible to this token"
            )

    # -- WebhookClient ----------------------------------------------------------------------

    def preflight(self, repo: RepositoryRef, token: SecretStr) -> None:
        response, data = self._lookup_repository(repo, token, "the repository lookup")

        installation = _is_installation_token(token)
        # ``permissions`` is present for authenticated requests and reflects the token's
        # user; managing repository hooks requires admin. An installation token acts as its
        # GitHub App, not as a user with a repository role, so ``admin`` says nothing about
        # it: its "Webhooks" repository permission decides, and the hooks probe below asks.
        permissions = data.get("permissions") or {}
        if not installation and not permissions.get("admin"):
            raise InsufficientPermissions(f"The token lacks {ADMIN_NEEDED}")

        # Classic PATs and OAuth tokens list their scopes in X-OAuth-Scopes; fine-grained
        # tokens and GitHub App tokens send no such header, so absence is not a failure.
        scopes_header = response.headers.get("X-OAuth-Scopes")
        if scopes_header is not None:
            scopes = {s.strip() for s in scopes_header.split(",") if s.strip()}
            if not scopes & HOOK_SCOPES:
                granted = ", ".join(sorted(scopes)) or "none"
                raise InsufficientPermissions(
                    "The classic token lacks the admin:repo_hook (or repo) scope needed to "
                    f"manage webhooks (granted scopes: {granted})"
                )

        # A fine-grained token can belong to an admin yet lack the "Webhooks" repository
        # permission; GitHub then answers 403/404 on the hooks endpoints only.
        # For an installation token this is the check: 200 means the app may read hooks;
        # whether it may write them (Webhooks: write) only the create can tell.
        probe = self._probe_hooks(repo, token)
        if probe.status_code in (403, 404):
            if installation:
                raise InsufficientPermissions(INSTALLATION_NEEDS)
            raise InsufficientPermissions(
                f"The token cannot list the repository's webhooks; it needs {ADMIN_NEEDED} "
                "(fine-grained tokens: the Webhooks read and write permission)"
            )
        self._check_access(probe, repo)
        self._expect(probe, OK, "the webhook list")

    # -- reconciliation ---------------------------------------------------------------------

    def delivery_history(
        self,
        repo: RepositoryRef,
        token: SecretStr,
        hook_id: str,
        since: datetime,
        *,
        max_pages: int,
    ) -> DeliveryHistory | None:
        # Newest first, 100 a page at most, cursor-paged through the Link header; GitHub keeps
        # three days. Every attempt is listed (redeliveries with ``redelivery: true``), each
        # with the event's ``guid``: the X-GitHub-Delivery value all attempts share.
        page = PageRequest(f"{self._hook_path(repo, hook_id)}/deliveries", {"per_page": 100})
        attempts: list[DeliveryAttempt] = []
        for _ in range(max_pages):
            response = self._request("GET", page.path_or_url, token=token, params=page.params)
            if response.status_code == 404:
                raise HookNotFound(f"GitHub webhook {hook_id} no longer exists on {repo.path}")
            self._check_access(response, repo)
            self._expect(response, OK, "listing webhook deliveries")
            body = json_body(response, self.service)
            listed = [_delivery(item) for item in (body if isinstance(body, list) else ())]
            attempts.extend(attempt for attempt in listed if attempt.at >= since)
            next_url = response.links.get("next", {}).get("url")
            if not next_url or not listed or min(a.at for a in listed) < since:
                return DeliveryHistory(tuple(attempts))
            page = PageRequest(next_url)
        return DeliveryHistory(tuple(attempts), truncated=True)

    def redeliver(
        self, repo: RepositoryRef, token: SecretStr, hook_id: str, attempt: DeliveryAttempt
    ) -> None:
        # 202: GitHub queues the attempt; it sends the same payload with the same guid.
        path = (
            f"{self._hook_path(repo, hook_id)}/deliveries/"
            f"{path_segment(attempt.id, PATH_KIND)}/attempts"
        )
        response = self._request("POST", path, token=token)
        if response.status_code == 404:
            raise HookNotFound(f"GitHub delivery {attempt.id} of webhook {hook_id} is gone")
        self._check_access(response, repo)
        self._expect(response, ACCEPTED, "redelivering a webhook delivery")

    # -- quirks -----------------------------------------------------------------------------

    def _already_exists(self, response: requests.Response) -> bool:
        # GitHub refuses a second hook with the same URL and events ("Hook already exists
        # on this repository"): adopt the existing one and give it our secret.
        return response.status_code == 422 and "already exists" in _message(response).lower()

    def _raise_for_refused_create(
        self, response: requests.Response, token: SecretStr, secret: SecretStr
    ) -> None:
        if response.status_code == 422:
            # e.g. a callback URL GitHub will not deliver to; a configuration fault on our side.
            message = scrub(_message(response), (token, secret))[:200]
            raise unexpected(response, self.service, f"creating the webhook ({message})")

    def _send_update(
        self, repo: RepositoryRef, token: SecretStr, hook_id: str, body: dict[str, Any]
    ) -> requests.Response:
        # The update endpoint takes no ``name``: the hook's type is fixed when it is created.
        body.pop("name")
        # PATCH replaces config as a whole (an omitted secret is *removed*), and we send the
        # complete desired state, so repeating it is harmless: idempotent for our use.
        return self._request(
            "PATCH", self._hook_path(repo, hook_id), token=token, json=body, idempotent=True
        )


ACCEPTED = frozenset({202})


def _is_installation_token(token: SecretStr) -> bool:
    """A GitHub App installation access token (server-to-server, ``ghs_``)."""
    return token.get_secret_value().startswith(INSTALLATION_TOKEN_PREFIX)


def _delivery(item: Any) -> DeliveryAttempt:
    """One item of GitHub's delivery list: id, guid, delivered_at, redelivery, duration,
    status, status_code (0 or a 5xx when nothing answered), event, action."""
    try:
        return DeliveryAttempt(
            id=str(item["id"]),
            event_key=str(item["guid"]),
            event=str(item.get("event") or ""),
            status_code=status_code(item.get("status_code")),
            at=provider_time(item["delivered_at"], "GitHub"),
        )
    except (KeyError, TypeError, AttributeError):
        raise ProviderUnavailable("GitHub answered a delivery the client cannot read") from None


def _message(response: requests.Response) -> str:
    """GitHub's error text: the top-level message plus any per-field messages."""
    try:
        data = response.json()
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    parts = [str(data.get("message", ""))]
    for error in data.get("errors") or ():
        if isinstance(error, dict) and error.get("message"):
            parts.append(str(error["message"]))
    return "; ".join(p for p in parts if p)
