"""What the core knows about Git providers: their names, a parsed repository, a hook, the
events a hook subscribes to. No HTTP here; the client interface is ``ports.WebhookClient``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


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
    # The hook signs its deliveries per Standard Webhooks with a key we gave it (GitLab's
    # signing token, where the instance supports it: ``signing_token_present`` in its answer).
    signing: bool = False


# A connection's ``webhook_signing`` when its hook signs per Standard Webhooks (the receiver
# then requires the signature); None when the hook proves deliveries with its token alone.
STANDARD_WEBHOOKS = "standard-webhooks"


def webhook_signing(hook: Hook) -> str | None:
    """What a connection stores of how ``hook`` proves its deliveries."""
    return STANDARD_WEBHOOKS if hook.signing else None


@dataclass(frozen=True)
class DeliveryAttempt:
    """One attempt a provider made to deliver an event to a hook, as its delivery log shows
    it (GitHub's hook deliveries, GitLab's hook events)."""

    id: str  # what a redelivery names: GitHub's delivery id, GitLab's hook log id
    # The same on every attempt of one event: GitHub's guid (X-GitHub-Delivery), GitLab's
    # Idempotency-Key (X-Gitlab-Event-UUID on versions without it).
    event_key: str
    event: str
    status_code: int  # the receiver's answer; 0 when there was none (refused, timed out)
    at: datetime

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300


@dataclass(frozen=True)
class DeliveryHistory:
    """A hook's delivery attempts back to a point in time, newest first."""

    attempts: tuple[DeliveryAttempt, ...]
    # True when paging stopped at its limit before reaching that point.
    truncated: bool = False


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
# The event kinds (the event header, as signatures.event_kind normalises it) a hook registered
# with WEBHOOK_EVENTS delivers. Any other kind, correctly signed or not, is acknowledged and
# dropped (receive.py): a captured delivery relabelled "release" is not published as one.
# GitHub and Bitbucket name the kinds as they are subscribed; GitLab subscribes by flag
# (push_events) and names the kind in its header ("Push Hook" → push).
DELIVERED_EVENT_KINDS: dict[ServiceType, frozenset[str]] = {
    ServiceType.GITHUB: frozenset(WEBHOOK_EVENTS[ServiceType.GITHUB]),
    ServiceType.GITLAB: frozenset({"push", "merge_request"}),
    ServiceType.BITBUCKET: frozenset(WEBHOOK_EVENTS[ServiceType.BITBUCKET]),
}
# Sent when a hook is created (GitHub's ping): verified and acknowledged, never published.
PING_EVENT_KINDS: dict[ServiceType, frozenset[str]] = {
    ServiceType.GITHUB: frozenset({"ping"}),
    ServiceType.GITLAB: frozenset(),
    ServiceType.BITBUCKET: frozenset(),
}
