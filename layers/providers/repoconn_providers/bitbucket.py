"""Bitbucket Cloud REST API 2.0: repository preflight and repository webhooks.

Endpoints (developer.atlassian.com/cloud/bitbucket/rest): ``GET /repositories/{ws}/{slug}``,
``GET|POST /repositories/{ws}/{slug}/hooks``, ``GET|PUT|DELETE .../hooks/{uid}``, where
``uid`` is the hook's UUID *with* its curly braces (``{1b2c...}``), URL-encoded in the path.

Tokens are sent as ``Authorization: Bearer`` — repository, project and workspace access tokens
and OAuth tokens. (Atlassian API tokens and app passwords need Basic auth with a user name,
which the connect request does not carry.)
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

SERVICE = "Bitbucket"
HOOK_DESCRIPTION = "repoconn"
ADMIN_NEEDED = "admin permission on the repository (Bitbucket lets only admins manage webhooks)"


def _segment(value: str) -> str:
    if value in {"", ".", ".."}:
        raise RepositoryNotFound("Repository path is not a Bitbucket workspace/repository")
    return quote(value, safe="")


def _hook_uid(hook_id: str) -> str:
    # Bitbucket shows hook UUIDs wrapped in braces and expects them that way in the path.
    uid = hook_id.strip()
    if not uid.startswith("{"):
        uid = "{" + uid + "}"
    return quote(uid, safe="")


def _hook(data: Any) -> Hook:
    return Hook(
        id=str(data["uuid"]),
        url=str(data.get("url", "")),
        active=bool(data.get("active", True)),
        events=tuple(data.get("events") or ()),
    )


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


class BitbucketClient:
    """``WebhookClient`` for Bitbucket Cloud (api.bitbucket.org/2.0)."""

    service_type = ServiceType.BITBUCKET

    def __init__(self, http: ProviderHttp, *, page_size: int | None = None) -> None:
        self._http = http
        # None: Bitbucket's default page length (10). The documented maximum is 100, but
        # "individual APIs may enforce different values", so we do not push it.
        self._page_size = page_size

    def __repr__(self) -> str:
        return f"BitbucketClient({self._http!r})"

    # -- paths ------------------------------------------------------------------------------

    def _repo_path(self, repo: RepositoryRef) -> str:
        if "/" in repo.namespace:
            raise RepositoryNotFound(f"{repo.path} is not a Bitbucket workspace/repository path")
        return f"/repositories/{_segment(repo.namespace)}/{_segment(repo.name)}"

    def _hook_path(self, repo: RepositoryRef, hook_id: str) -> str:
        return f"{self._repo_path(repo)}/hooks/{_hook_uid(hook_id)}"

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

    # -- shared status mapping --------------------------------------------------------------

    def _raise_for_access(
        self, response: requests.Response, repo: RepositoryRef, *, hooks: bool
    ) -> None:
        status = response.status_code
        if status == 401:
            raise InvalidToken(
                "Bitbucket rejected the access token: it is invalid, expired or not supported"
            )
        if status == 403:
            required = _required_scopes(response)
            if required is not None:
                names = ", ".join(required) if required else ("webhook" if hooks else "repository")
                if hooks:
                    raise InsufficientPermissions(
                        "The token lacks the webhook scope Bitbucket requires for managing "
                        f"webhooks (required: {names})"
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
        response = self._http.request("GET", self._repo_path(repo), token=token)
        self._raise_for_access(response, repo, hooks=False)
        if response.status_code != 200:
            raise unexpected(response, SERVICE, "the repository lookup")
        json_body(response, SERVICE)
        # The repository answer says nothing about the token's scopes; listing hooks needs
        # the webhook scope and admin permission, the same as creating one.
        probe = self._http.request(
            "GET", f"{self._repo_path(repo)}/hooks", token=token, params={"pagelen": 1}
        )
        self._raise_for_access(probe, repo, hooks=True)
        if probe.status_code != 200:
            raise unexpected(probe, SERVICE, "the webhook list")

    def create_hook(
        self, repo: RepositoryRef, token: SecretStr, callback_url: str, secret: SecretStr
    ) -> Hook:
        response = self._http.request(
            "POST",
            f"{self._repo_path(repo)}/hooks",
            token=token,
            json=self._hook_body(callback_url, secret),
        )
        self._raise_for_access(response, repo, hooks=True)
        if response.status_code not in (200, 201):
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
            raise HookNotFound(f"Bitbucket webhook {hook_id} no longer exists on {repo.path}")
        self._raise_for_access(response, repo, hooks=True)
        if response.status_code != 200:
            raise unexpected(response, SERVICE, "updating the webhook")
        return _hook(json_body(response, SERVICE))

    def get_hook(self, repo: RepositoryRef, token: SecretStr, hook_id: str) -> Hook | None:
        response = self._http.request("GET", self._hook_path(repo, hook_id), token=token)
        if response.status_code == 404:
            return None
        self._raise_for_access(response, repo, hooks=True)
        if response.status_code != 200:
            raise unexpected(response, SERVICE, "reading the webhook")
        return _hook(json_body(response, SERVICE))

    def find_hook(self, repo: RepositoryRef, token: SecretStr, callback_url: str) -> Hook | None:
        url = f"{self._repo_path(repo)}/hooks"
        params: dict[str, str | int] | None = (
            {"pagelen": self._page_size} if self._page_size else None
        )
        for _ in range(MAX_PAGES):
            response = self._http.request("GET", url, token=token, params=params)
            self._raise_for_access(response, repo, hooks=True)
            if response.status_code != 200:
                raise unexpected(response, SERVICE, "listing webhooks")
            page = json_body(response, SERVICE)
            for item in page.get("values") or ():
                hook = _hook(item)
                if hook.url == callback_url:
                    return hook
            # Paged collections carry an absolute ``next`` URL until the last page; clients
            # are told to follow it rather than build their own.
            next_url = page.get("next")
            if not next_url:
                return None
            url, params = str(next_url), None
        raise too_many_pages(SERVICE)

    def delete_hook(self, repo: RepositoryRef, token: SecretStr, hook_id: str) -> bool:
        response = self._http.request("DELETE", self._hook_path(repo, hook_id), token=token)
        if response.status_code == 404:
            return False
        self._raise_for_access(response, repo, hooks=True)
        if response.status_code not in (200, 204):
            raise unexpected(response, SERVICE, "deleting the webhook")
        return True
