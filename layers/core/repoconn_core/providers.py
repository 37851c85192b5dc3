"""What the core knows about Git providers: their names, a parsed repository, a hook, and the
client interface the provider layer implements. No HTTP here."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from pydantic import SecretStr


class ServiceType(StrEnum):
    GITHUB = "GitHub"
    GITLAB = "GitLab"
    BITBUCKET = "Bitbucket"


@dataclass(frozen=True)
class ProviderEndpoint:
    """Where the REST API for one repository host lives."""

    service_type: ServiceType
    api_base_url: str  # e.g. https://api.github.com, https://gitlab.com/api/v4
    self_hosted: bool = False


@dataclass(frozen=True)
class RepositoryRef:
    """A repository URL that passed the URL rules, in canonical form."""

    service_type: ServiceType
    host: str  # lower-case host, no port
    path: str  # lower-case "owner/repo" or, on GitLab, "group/sub/repo"
    endpoint: ProviderEndpoint

    @property
    def canonical_url(self) -> str:
        return f"https://{self.host}/{self.path}"

    @property
    def namespace(self) -> str:
        return self.path.rsplit("/", 1)[0]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]


@dataclass(frozen=True)
class Hook:
    id: str
    url: str
    active: bool = True
    events: tuple[str, ...] = field(default_factory=tuple)


class WebhookClient(Protocol):
    """One provider's REST API, as far as connections need it.

    Every method raises the typed errors of ``repoconn_core.errors`` (InvalidToken,
    InsufficientPermissions, RepositoryNotFound, ProviderUnavailable, ProviderRateLimited).
    """

    def preflight(self, repo: RepositoryRef, token: SecretStr) -> None:
        """Token valid, repository visible, token may manage hooks."""

    def create_hook(
        self, repo: RepositoryRef, token: SecretStr, callback_url: str, secret: SecretStr
    ) -> Hook: ...

    def update_hook(
        self,
        repo: RepositoryRef,
        token: SecretStr,
        hook_id: str,
        callback_url: str,
        secret: SecretStr,
    ) -> Hook:
        """Raises HookNotFound when the hook no longer exists."""

    def get_hook(self, repo: RepositoryRef, token: SecretStr, hook_id: str) -> Hook | None: ...

    def find_hook(self, repo: RepositoryRef, token: SecretStr, callback_url: str) -> Hook | None:
        """The first hook whose URL equals callback_url, across all pages."""

    def delete_hook(self, repo: RepositoryRef, token: SecretStr, hook_id: str) -> bool:
        """True when deleted, False when it was already gone (provider 404)."""


WEBHOOK_EVENTS: dict[ServiceType, tuple[str, ...]] = {
    ServiceType.GITHUB: ("push", "pull_request"),
    ServiceType.GITLAB: ("push_events", "merge_requests_events"),
    ServiceType.BITBUCKET: (
        "repo:push",
        "pullrequest:created",
        "pullrequest:updated",
        "pullrequest:fulfilled",
        "pullrequest:rejected",
    ),
}
