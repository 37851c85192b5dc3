"""Bitbucket Cloud REST API 2.0: repository preflight and repository webhooks.

Endpoints (developer.atlassian.com/cloud/bitbucket/rest): ``GET /repositories/{ws}/{slug}``,
``GET|POST /repositories/{ws}/{slug}/hooks``, ``GET|PUT|DELETE .../hooks/{uid}``, where
``uid`` is the hook's UUID *with* its curly braces (``{1b2c...}``), URL-encoded in the path.

Tokens are sent as ``Authorization: Bearer`` — repository, project and workspace access tokens
and OAuth tokens. (Atlassian API tokens and app passwords need Basic auth with a user name,
which the connect request does not carry.)

No delivery log through the API: Bitbucket Cloud's webhook request history ("View requests",
opt-in) and its "Resend request" button are UI-only, and Bitbucket retries a 5xx answer itself
up to two more times. The reconciliation therefore asks Bitbucket nothing (``HookDriver``'s
defaults); docs/decisions.md says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import requests
from pydantic import SecretStr
from repoconn_core.errors import InsufficientPermissions, RepositoryNotFound
from repoconn_core.providers import WEBHOOK_EVENTS, Hook, RepositoryRef, ServiceType

from repoconn_providers.driver import OK, HookDriver, PageRequest, listed_hook, two_level_path

PATH_KIND = "Bitbucket workspace/repository"
# The scopes a hook needs: ``webhook`` to manage it, and for each event it subscribes to the
# scope that reads what the event is about (developer.atlassian.com/cloud/bitbucket/
# bitbucket-cloud-rest-api-scopes): a token without ``pullrequest`` may create a repository's
# hooks but not one subscribed to pullrequest:* events.
EVENT_SCOPES = {"repo": "repository", "pullrequest": "pullrequest"}
# Which granted scopes satisfy a needed one (a :write scope implies its read scope, and
# ``pullrequest`` implies ``repository``).
SATISFIED_BY = {
    "webhook": frozenset({"webhook"}),
    "pullrequest": frozenset({"pullrequest", "pullrequest:write"}),
    "repository": frozenset(
        {
            "repository",
            "repository:write",
            "repository:admin",
            "repository:delete",
            "pullrequest",
            "pullrequest:write",
        }
    ),
}


def hook_scopes(events: Iterable[str]) -> list[str]:
    """The scopes a hook subscribed to ``events`` needs, ``webhook`` first."""
    needed = {
        EVENT_SCOPES[e.split(":", 1)[0]] for e in events if e.split(":", 1)[0] in EVENT_SCOPES
    }
    return ["webhook", *sorted(needed)]


def _granted_scopes(response: requests.Response) -> set[str] | None:
    """The scopes Bitbucket lists in ``X-OAuth-Scopes`` for access and OAuth tokens (Atlassian
    KB, "How to fetch the scope of a token via command line"); None without the header."""
    header = response.headers.get("X-OAuth-Scopes")
    if header is None:
        return None
    return {scope for scope in header.replace(",", " ").split() if scope}


HOOK_DESCRIPTION = "repoconn"
ADMIN_NEEDED = "admin permission on the repository (Bitbucket lets only admins manage webhooks)"


def _required_scopes(response: requests.Response) -> list[str] | None:
    """The scopes Bitbucket says are missing, from its 403 body:
    ``{"type": "error", "error": {"message": "Your credentials lack one or more required
    privilege scopes.", "detail": {"granted": [...], "required": ["webhook"]}}}``.
    None when the 403 is not about scopes (the user lacks repository permission)."""
    if response.status_code != 403:
        return None
    try:
        data = response.json()
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    detail = error.get("detail") if isinstance(error, dict) else None
    required = detail.get("required") if isinstance(detail, dict) else None
    if isinstance(required, list) and required:
        # Only scope-shaped names go into a message; the body is provider-controlled.
        return [s for s in map(str, required) if s.replace(":", "").replace("_", "").isalnum()]
    if "privilege scope" in message.lower():
        return []
    return None


class BitbucketClient(HookDriver):
    """``WebhookClient`` for Bitbucket Cloud (api.bitbucket.org/2.0)."""

    service_type = ServiceType.BITBUCKET
    # None: Bitbucket's default page length (10). The documented maximum is 100, but
    # "individual APIs may enforce different values", so we do not push it.
    default_page_size = None
    page_size_param = "pagelen"
    # Atlassian API tokens and app passwords are refused too: they need Basic auth.
    unauthorized_reasons = "invalid, expired or not supported"
    created = frozenset({200, 201})
    deleted = frozenset({200, 204})

    # -- paths and bodies -------------------------------------------------------------------

    def _repository_path(self, repo: RepositoryRef) -> str:
        return two_level_path("/repositories", repo, PATH_KIND)

    def _hook_id_segment(self, hook_id: str) -> str:
        # Bitbucket shows hook UUIDs wrapped in braces and expects them that way in the path.
        uid = hook_id.strip()
        if not uid.startswith("{"):
            uid = "{" + uid + "}"
        return quote(uid, safe="")

    def _hook_body(self, callback_url: str, secret: SecretStr) -> dict[str, Any]:
        return {
            "description": HOOK_DESCRIPTION,
            "url": callback_url,
            "active": True,
            "events": list(WEBHOOK_EVENTS[ServiceType.BITBUCKET]),
            # Bitbucket signs deliveries with it (X-Hub-Signature: sha256=...).
            "secret": secret.get_secret_value(),
            "skip_cert_verification": False,
        }

    @staticmethod
    def _hook(data: Any) -> Hook:
        return listed_hook(data, data["uuid"], data.get("url", ""))

    # -- paging -----------------------------------------------------------------------------

    def _first_page(self, repo: RepositoryRef) -> PageRequest:
        return PageRequest(self._hooks_path(repo), self._page_params() or None)

    def _page_items(self, body: Any) -> Iterable[Any]:
        return body.get("values") or ()

    def _next_page(
        self, response: requests.Response, body: Any, current: PageRequest
    ) -> PageRequest | None:
        # Paged collections carry an absolute ``next`` URL until the last page; clients
        # are told to follow it rather than build their own.
        next_url = body.get("next")
        return PageRequest(str(next_url)) if next_url else None

    # -- status mapping ---------------------------------------------------------------------

    def _raise_for_access(
        self, response: requests.Response, repo: RepositoryRef, *, hooks: bool = True
    ) -> None:
        status = response.status_code
        if status == 403:
            required = _required_scopes(response)
            if required is not None:
                names = ", ".join(required) if required else ("webhook" if hooks else "repository")
                if hooks:
                    # Name what Bitbucket says is missing: `webhook` for any hook call, or the
                    # scope of the events a create or update subscribes to (`pullrequest`).
                    raise InsufficientPermissions(
                        f"The token lacks the {names} scope Bitbucket requires for managing "
                        f"this webhook (required: {names})"
                    )
                raise InsufficientPermissions(
                    f"The token lacks a scope Bitbucket requires (required: {names})"
                )
            if hooks:
                raise InsufficientPermissions(f"The token's user lacks {ADMIN_NEEDED}")
            raise InsufficientPermissions(
                f"The token's user has no read access to {repo.path}; it also needs {ADMIN_NEEDED}"
            )
        if status == 404:
            raise RepositoryNotFound(
                f"Repository {repo.path} was not found on Bitbucket or is not visible to this token"
            )

    # -- WebhookClient ----------------------------------------------------------------------

    def preflight(self, repo: RepositoryRef, token: SecretStr) -> None:
        response, _ = self._lookup_repository(repo, token, "the repository lookup")
        # Access and OAuth tokens list their scopes on every answer: a token that could list
        # hooks but not subscribe one to pull request events is refused here, not at create.
        granted = _granted_scopes(response)
        if granted is not None:
            needed = hook_scopes(WEBHOOK_EVENTS[ServiceType.BITBUCKET])
            missing = [scope for scope in needed if not granted & SATISFIED_BY[scope]]
            if missing:
                shown = sorted(s for s in granted if s.replace(":", "").isalnum())
                raise InsufficientPermissions(
                    f"The token lacks the {', '.join(missing)} scope Bitbucket requires for a "
                    "webhook on push and pull request events (granted scopes: "
                    f"{', '.join(shown) or 'none'})"
                )
        # Listing hooks needs the webhook scope and admin permission, the same as creating
        # one; without the header this is the only check of either.
        probe = self._probe_hooks(repo, token)
        self._check_access(probe, repo, hooks=True)
        self._expect(probe, OK, "the webhook list")
