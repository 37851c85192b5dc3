"""GitHub REST API: repository preflight and repository webhooks.

Endpoints (docs.github.com/rest): ``GET /repos/{owner}/{repo}``,
``GET|POST /repos/{owner}/{repo}/hooks``, ``GET|PATCH|DELETE /repos/{owner}/{repo}/hooks/{id}``.
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

from repoconn_providers.http import (
    MAX_PAGES,
    ProviderHttp,
    json_body,
    scrub,
    too_many_pages,
    unexpected,
)

SERVICE = "GitHub"
API_VERSION = "2022-11-28"
ADMIN_NEEDED = (
    "admin permission on the repository (and the admin:repo_hook / repo scope for classic tokens)"
)
# Classic tokens: either scope lets the token create, update and delete repository hooks
# (write:repo_hook cannot delete them). docs.github.com/apps/oauth-apps/.../scopes-for-oauth-apps
HOOK_SCOPES = frozenset({"repo", "admin:repo_hook"})

DEFAULT_HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": API_VERSION,
}


def _segment(value: str) -> str:
    # urllib3 removes "." and ".." path segments, which would turn a crafted owner into a
    # different endpoint; the URL rules reject them already, this keeps it so here too.
    if value in {"", ".", ".."}:
        raise RepositoryNotFound("Repository path is not a GitHub owner/repository")
    return quote(value, safe="")


def _hook(data: Any) -> Hook:
    config = data.get("config") or {}
    return Hook(
        id=str(data["id"]),
        url=str(config.get("url", "")),
        active=bool(data.get("active", True)),
        events=tuple(data.get("events") or ()),
    )


class GitHubClient:
    """``WebhookClient`` for github.com and GitHub Enterprise Server (``/api/v3``)."""

    service_type = ServiceType.GITHUB

    def __init__(self, http: ProviderHttp, *, page_size: int = 100) -> None:
        self._http = http
        self._page_size = page_size  # GitHub's maximum per_page is 100

    def __repr__(self) -> str:
        return f"GitHubClient({self._http!r})"

    def _request(self, method: str, path_or_url: str, **kwargs: Any) -> requests.Response:
        return self._http.request(method, path_or_url, headers=DEFAULT_HEADERS, **kwargs)

    # -- paths ------------------------------------------------------------------------------

    def _repo_path(self, repo: RepositoryRef) -> str:
        if "/" in repo.namespace:
            raise RepositoryNotFound(f"{repo.path} is not a GitHub owner/repository path")
        return f"/repos/{_segment(repo.namespace)}/{_segment(repo.name)}"

    def _hook_path(self, repo: RepositoryRef, hook_id: str) -> str:
        return f"{self._repo_path(repo)}/hooks/{_segment(hook_id)}"

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

    # -- shared status mapping --------------------------------------------------------------

    def _raise_for_access(
        self, response: requests.Response, repo: RepositoryRef, *, hooks: bool = True
    ) -> None:
        status = response.status_code
        if status == 401:
            raise InvalidToken(
                "GitHub rejected the access token: it is invalid, expired or revoked"
            )
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
        response = self._request("GET", self._repo_path(repo), token=token)
        self._raise_for_access(response, repo, hooks=False)
        if response.status_code != 200:
            raise unexpected(response, SERVICE, "the repository lookup")
        data = json_body(response, SERVICE)

        # ``permissions`` is present for authenticated requests and reflects the token's
        # user; managing repository hooks requires admin.
        permissions = data.get("permissions") or {}
        if not permissions.get("admin"):
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
        probe = self._request(
            "GET", f"{self._repo_path(repo)}/hooks", token=token, params={"per_page": 1}
        )
        if probe.status_code in (403, 404):
            raise InsufficientPermissions(
                f"The token cannot list the repository's webhooks; it needs {ADMIN_NEEDED} "
                "(fine-grained tokens: the Webhooks read and write permission)"
            )
        self._raise_for_access(probe, repo)
        if probe.status_code != 200:
            raise unexpected(probe, SERVICE, "the webhook list")

    def create_hook(
        self, repo: RepositoryRef, token: SecretStr, callback_url: str, secret: SecretStr
    ) -> Hook:
        response = self._request(
            "POST",
            f"{self._repo_path(repo)}/hooks",
            token=token,
            json=self._hook_body(callback_url, secret),
        )
        if response.status_code == 422 and "already exists" in _message(response).lower():
            # GitHub refuses a second hook with the same URL and events ("Hook already exists
            # on this repository"): adopt the existing one and give it our secret.
            existing = self.find_hook(repo, token, callback_url)
            if existing is not None:
                return self.update_hook(repo, token, existing.id, callback_url, secret)
        self._raise_for_access(response, repo)
        if response.status_code == 422:
            # e.g. a callback URL GitHub will not deliver to; a configuration fault on our side.
            message = scrub(_message(response), (token, secret))[:200]
            raise unexpected(response, SERVICE, f"creating the webhook ({message})")
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
        body = self._hook_body(callback_url, secret)
        body.pop("name")
        # PATCH replaces config as a whole (an omitted secret is *removed*), and we send the
        # complete desired state, so repeating it is harmless: idempotent for our use.
        response = self._request(
            "PATCH", self._hook_path(repo, hook_id), token=token, json=body, idempotent=True
        )
        if response.status_code == 404:
            raise HookNotFound(f"GitHub webhook {hook_id} no longer exists on {repo.path}")
        self._raise_for_access(response, repo)
        if response.status_code != 200:
            raise unexpected(response, SERVICE, "updating the webhook")
        return _hook(json_body(response, SERVICE))

    def get_hook(self, repo: RepositoryRef, token: SecretStr, hook_id: str) -> Hook | None:
        response = self._request("GET", self._hook_path(repo, hook_id), token=token)
        if response.status_code == 404:
            return None
        self._raise_for_access(response, repo)
        if response.status_code != 200:
            raise unexpected(response, SERVICE, "reading the webhook")
        return _hook(json_body(response, SERVICE))

    def find_hook(self, repo: RepositoryRef, token: SecretStr, callback_url: str) -> Hook | None:
        url: str | None = f"{self._repo_path(repo)}/hooks"
        params: dict[str, str | int] | None = {"per_page": self._page_size}
        for _ in range(MAX_PAGES):
            assert url is not None
            response = self._request("GET", url, token=token, params=params)
            self._raise_for_access(response, repo)
            if response.status_code != 200:
                raise unexpected(response, SERVICE, "listing webhooks")
            for item in json_body(response, SERVICE):
                hook = _hook(item)
                if hook.url == callback_url:
                    return hook
            # Pagination is by Link header (rel="next"); its URL already carries per_page.
            # docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api
            url = response.links.get("next", {}).get("url")
            if not url:
                return None
            params = None
        raise too_many_pages(SERVICE)

    def delete_hook(self, repo: RepositoryRef, token: SecretStr, hook_id: str) -> bool:
        response = self._request("DELETE", self._hook_path(repo, hook_id), token=token)
        if response.status_code == 404:
            return False
        self._raise_for_access(response, repo)
        if response.status_code != 204:
            raise unexpected(response, SERVICE, "deleting the webhook")
        return True


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
