"""The provider simulator's in-memory world: repositories (created on first sight), hooks,
the request log, delivery attempts and each hook's delivery log. One re-entrant lock guards
all of it; callers hold `state.lock` while they read or change anything here."""

from __future__ import annotations

import threading
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import count
from typing import Any


def utc_now() -> datetime:
    return datetime.now(UTC)


MISSING_REPOSITORY_NAME = "missing"
REQUEST_LOG_LIMIT = 10_000
RATE_WINDOW_SECONDS = 3600

# Id ranges that look like the real ones and never collide across providers in a test log.
_GITHUB_REPO_IDS = 700_000_001
_GITHUB_HOOK_IDS = 490_000_001
_GITLAB_PROJECT_IDS = 1001
_GITLAB_HOOK_IDS = 1


def braced_uuid() -> str:
    """Bitbucket wraps every UUID in braces: {0f3c...}."""
    return "{" + str(uuid.uuid4()) + "}"


@dataclass
class Repository:
    provider: str
    key: str  # lower-case full path: the providers treat names case-insensitively
    full_path: str  # as first addressed, e.g. "Acme/Widgets" or "group/sub/repo"
    number: int  # GitHub repository id / GitLab project id
    uuid: str  # Bitbucket repository uuid, braced
    created_at: datetime

    @property
    def name(self) -> str:
        return self.full_path.rsplit("/", 1)[-1]

    @property
    def namespace(self) -> str:
        return self.full_path.rsplit("/", 1)[0] if "/" in self.full_path else ""


@dataclass
class StoredHook:
    provider: str
    id: str  # as the provider gives it: "490000001", "7", "{uuid}"
    repo: Repository
    url: str
    events: list[str]
    secret: str | None
    active: bool
    created_at: datetime
    updated_at: datetime
    settings: dict[str, Any] = field(default_factory=dict)  # provider-specific fields

    def snapshot(self) -> StoredHook:
        return replace(self, events=list(self.events), settings=dict(self.settings))


@dataclass(frozen=True)
class LoggedDelivery:
    """One attempt to deliver to a hook, as the provider's delivery log keeps it: enough to
    list it (GitHub's hook deliveries, GitLab's hook events) and to send it again."""

    id: int  # the log entry's id (GitHub delivery id, GitLab hook log id)
    provider: str
    hook_id: str
    guid: str  # the event's id, the same on every attempt (X-GitHub-Delivery, Idempotency-Key)
    event: str
    action: str | None
    status: int | None  # the receiver's status; None when nothing answered
    delivered_at: datetime
    duration: float
    redelivery: bool
    body: bytes
    content_type: str
    request_headers: dict[str, str] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class SimState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            # Whether the GitLab instance has signing tokens (GitLab MRs 230944, 231325); off,
            # `signing_token` is ignored as by an instance without the feature.
            self.gitlab_signing_tokens = True
            # Whether the GitLab instance has GET /personal_access_tokens/self (15.5+).
            self.gitlab_token_self = True
            self._repos: dict[tuple[str, str], Repository] = {}
            # (provider, old lower-case path) -> the repository renamed or transferred from it.
            self._renames: dict[tuple[str, str], Repository] = {}
            self._hooks: dict[tuple[str, str], StoredHook] = {}
            self._requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)
            self._attempts: dict[tuple[str, str], int] = {}
            # provider -> (event, payload) to deliver during that provider's next hook update.
            self._update_deliveries: dict[str, list[tuple[str, Any]]] = {}
            self._delivery_log: dict[tuple[str, str], list[LoggedDelivery]] = {}
            self._delivery_numbers = count(12_000_000_001)
            self._calls: dict[tuple[str, str], int] = {}
            self._window_start = utc_now().timestamp()
            self._repo_numbers = {
                "github": count(_GITHUB_REPO_IDS),
                "gitlab": count(_GITLAB_PROJECT_IDS),
            }
            self._hook_numbers = {
                "github": count(_GITHUB_HOOK_IDS),
                "gitlab": count(_GITLAB_HOOK_IDS),
            }

    # Repositories -------------------------------------------------------------------------

    def repository(self, provider: str, path: str) -> Repository | None:
        """The repository at `path`, created on first sight; None when it "does not exist"."""
        parts = [part for part in path.split("/") if part]
        if len(parts) < 2 or parts[-1].lower() == MISSING_REPOSITORY_NAME:
            return None
        full_path = "/".join(parts)
        key = (provider, full_path.lower())
        repo = self._repos.get(key)
        if repo is None:
            numbers = self._repo_numbers.get(provider)
            repo = Repository(
                provider=provider,
                key=key[1],
                full_path=full_path,
                number=next(numbers) if numbers else 0,
                uuid=braced_uuid(),
                created_at=utc_now(),
            )
            self._repos[key] = repo
        return repo

    def rename(self, provider: str, old_path: str, new_path: str) -> Repository | None:
        """Rename (or transfer) the repository at ``old_path`` to ``new_path``, keeping its id
        and hooks; the old path then names it through ``renamed``. None when either path is
        not a repository path or ``new_path`` is taken."""
        new_parts = [part for part in new_path.split("/") if part]
        if len(new_parts) < 2 or (provider, "/".join(new_parts).lower()) in self._repos:
            return None
        repo = self.repository(provider, old_path)
        if repo is None:
            return None
        del self._repos[(provider, repo.key)]
        self._renames[(provider, repo.key)] = repo
        repo.full_path = "/".join(new_parts)
        repo.key = repo.full_path.lower()
        self._repos[(provider, repo.key)] = repo
        self._renames.pop((provider, repo.key), None)
        return repo

    def renamed(self, provider: str, path: str) -> Repository | None:
        """The repository once at ``path`` and since renamed or transferred, if any."""
        key = "/".join(part for part in path.split("/") if part).lower()
        if (provider, key) in self._repos:
            return None
        return self._renames.get((provider, key))

    def repository_by_number(self, provider: str, number: int) -> Repository | None:
        for repo in self._repos.values():
            if repo.provider == provider and repo.number == number:
                return repo
        return None

    # Hooks --------------------------------------------------------------------------------

    def add_hook(
        self,
        repo: Repository,
        *,
        url: str,
        events: list[str],
        secret: str | None,
        active: bool = True,
        settings: dict[str, Any] | None = None,
    ) -> StoredHook:
        numbers = self._hook_numbers.get(repo.provider)
        hook_id = str(next(numbers)) if numbers else braced_uuid()
        now = utc_now()
        hook = StoredHook(
            provider=repo.provider,
            id=hook_id,
            repo=repo,
            url=url,
            events=list(events),
            secret=secret,
            active=active,
            created_at=now,
            updated_at=now,
            settings=dict(settings or {}),
        )
        self._hooks[(repo.provider, hook_id)] = hook
        return hook

    def hook(self, provider: str, hook_id: str) -> StoredHook | None:
        return self._hooks.get((provider, hook_id))

    def repo_hook(self, repo: Repository, hook_id: str) -> StoredHook | None:
        hook = self._hooks.get((repo.provider, hook_id))
        return hook if hook is not None and hook.repo is repo else None

    def hooks_for(self, repo: Repository) -> list[StoredHook]:
        return [hook for hook in self._hooks.values() if hook.repo is repo]

    def all_hooks(self, provider: str | None = None) -> list[StoredHook]:
        return [h for h in self._hooks.values() if provider is None or h.provider == provider]

    def remove_hook(self, provider: str, hook_id: str) -> bool:
        return self._hooks.pop((provider, hook_id), None) is not None

    # Request log, rate counters, delivery attempts ------------------------------------------

    def record_request(self, entry: dict[str, Any]) -> None:
        self._requests.append(entry)

    def requests(self) -> list[dict[str, Any]]:
        return list(self._requests)

    def clear_requests(self) -> None:
        self._requests.clear()

    def count_call(self, provider: str, fingerprint: str) -> tuple[int, int]:
        """(calls used in the current window, window reset as epoch seconds)."""
        now = utc_now().timestamp()
        if now - self._window_start >= RATE_WINDOW_SECONDS:
            self._window_start = now
            self._calls.clear()
        key = (provider, fingerprint)
        self._calls[key] = self._calls.get(key, 0) + 1
        return self._calls[key], int(self._window_start + RATE_WINDOW_SECONDS)

    def queue_update_delivery(self, provider: str, event: str, payload: Any) -> None:
        self._update_deliveries.setdefault(provider, []).append((event, payload))

    def take_update_deliveries(self, provider: str) -> list[tuple[str, Any]]:
        return self._update_deliveries.pop(provider, [])

    def next_attempt(self, provider: str, delivery_id: str) -> int:
        key = (provider, delivery_id)
        self._attempts[key] = self._attempts.get(key, 0) + 1
        return self._attempts[key]

    # Delivery log ---------------------------------------------------------------------------

    def next_delivery_number(self) -> int:
        return next(self._delivery_numbers)

    def log_delivery(self, entry: LoggedDelivery) -> None:
        self._delivery_log.setdefault((entry.provider, entry.hook_id), []).append(entry)

    def delivery_log(self, provider: str, hook_id: str) -> list[LoggedDelivery]:
        """Every attempt to deliver to the hook, oldest first."""
        return list(self._delivery_log.get((provider, hook_id), ()))

    def logged_delivery(self, provider: str, hook_id: str, number: int) -> LoggedDelivery | None:
        for entry in self._delivery_log.get((provider, hook_id), ()):
            if entry.id == number:
                return entry
        return None
