"""Scheduled health check of every active connection — and repair of a missing webhook.

One pass, in order, for each active connection (scanned page by page, at most
``max_workers`` checks in flight):

decrypt the token (one KMS Decrypt) → preflight it with the provider → read the stored hook →
record ``healthStatus`` / ``healthReason`` / ``lastHealthCheckAt``.

Status rules (``verdict_for_hook`` and ``verdict_for_error`` hold them, as pure functions):

- healthy: the token is accepted and the hook exists and is active;
- degraded: the hook exists but the provider disabled it; or the provider was unavailable or
  rate-limited the check — then only the health fields change, nothing else;
- failed: the provider rejects the token, the token lacks permissions, the repository is
  gone, or the stored token cannot be decrypted any more. Each needs a person to reconnect.

Repair: a hook that no longer exists at the provider (or was never stored) is re-created with
a fresh secret — adopting a hook that already points at our callback URL, else creating one —
both secrets are re-encrypted under one data key, and the item is updated only if nobody
changed it since the scan (``replace_webhook`` compares ``updatedAt``). If a connect or
disconnect won that race, a hook this check created is deleted again unless the winner now
points at it (a racing connect finds hooks by callback URL and may have adopted ours).

Rate limits: providers limit per token, so once a call with one token is rate-limited, the
remaining connections holding that same token (on that API) are skipped for this run — their
health fields stay as they are — and every other tenant is still checked. The check never
burns more of a limited token's budget, which its owner's own connects need. (Before issue 16
the whole provider API was skipped: one tenant's exhausted token stopped everyone's check.)

A failure while checking one connection never stops the run; unexpected exceptions are logged
with the connection's ids (never a token or secret) and counted as errors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from aws_lambda_powertools import Logger
from pydantic import SecretStr

from repoconn_core import errors
from repoconn_core.clock import utc_now
from repoconn_core.connection_secrets import ConnectionSecrets
from repoconn_core.hooks import (
    ProviderAccess,
    adopt_or_create_hook,
    delete_hook_quietly,
    drop_pending_quietly,
    stage_pending_secret,
)
from repoconn_core.passes import Deadline, RateLimitedTokens
from repoconn_core.ports import ClientFor, FieldCipher, HealthStore, WebhookClient
from repoconn_core.providers import Hook, RepositoryRef
from repoconn_core.records import StoredConnection
from repoconn_core.settings import Settings

log = Logger(child=True)

DEFAULT_MAX_WORKERS = 4
DEFAULT_PAGE_SIZE = 100
# Stop starting new checks when less than this is left of the Lambda's time: one check makes
# up to five provider calls, and a run that is killed mid-way publishes no metrics at all.
DEFAULT_STOP_MARGIN = timedelta(seconds=30)
# Provider error details name the missing scope or role, which helps whoever reads the reason;
# they never carry a token (see repoconn_providers.answers.scrub), but they can be long.
MAX_DETAIL_CHARS = 300


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILED = "failed"


@dataclass(frozen=True)
class Verdict:
    status: HealthStatus
    reason: str


HEALTHY = Verdict(HealthStatus.HEALTHY, "access token accepted and webhook active")
HOOK_REPAIRED = Verdict(HealthStatus.HEALTHY, "webhook was missing and has been re-created")
HOOK_DISABLED = Verdict(HealthStatus.DEGRADED, "webhook is disabled at the provider")
PROVIDER_RATE_LIMITED = Verdict(
    HealthStatus.DEGRADED, "provider rate-limited the health check; checked again next run"
)
TOKEN_REJECTED = Verdict(HealthStatus.FAILED, "access token rejected by the provider")
REPOSITORY_NOT_FOUND = Verdict(
    HealthStatus.FAILED, "repository not found at the provider or not visible to the token"
)
SECRETS_UNREADABLE = Verdict(
    HealthStatus.FAILED, "stored credentials could not be decrypted; reconnect the repository"
)


def verdict_for_hook(hook: Hook, *, repaired: bool = False) -> Verdict:
    """What an existing hook says about the connection (the token was already accepted)."""
    if not hook.active:
        return HOOK_DISABLED
    return HOOK_REPAIRED if repaired else HEALTHY


def verdict_for_error(error: errors.DomainError) -> Verdict | None:
    """The verdict a provider or cipher error implies; None when it says nothing about the
    connection itself (our own dependencies failing, a bug) — then nothing is recorded."""
    if isinstance(error, errors.InvalidToken):
        return TOKEN_REJECTED
    if isinstance(error, errors.InsufficientPermissions):
        return Verdict(HealthStatus.FAILED, f"insufficient permissions: {_detail(error)}")
    if isinstance(error, errors.RepositoryNotFound):
        return REPOSITORY_NOT_FOUND
    if isinstance(error, errors.StoredSecretUnreadable):
        return SECRETS_UNREADABLE
    if isinstance(error, errors.ProviderRateLimited):
        return PROVIDER_RATE_LIMITED
    if isinstance(error, errors.ProviderUnavailable):
        return Verdict(
            HealthStatus.DEGRADED,
            f"provider unavailable ({_detail(error)}); checked again next run",
        )
    return None


def _detail(error: errors.DomainError) -> str:
    detail = error.detail.strip()
    return detail if len(detail) <= MAX_DETAIL_CHARS else detail[: MAX_DETAIL_CHARS - 1] + "…"


class Outcome(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILED = "failed"
    # Not checked: its provider endpoint rate-limited an earlier check in this run.
    SKIPPED = "skipped"
    # Changed or removed by a connect/disconnect while being checked; nothing recorded.
    SUPERSEDED = "superseded"
    ERROR = "error"


@dataclass(frozen=True)
class CheckResult:
    outcome: Outcome
    repaired: bool = False


@dataclass(frozen=True)
class HealthReport:
    """What one run did. ``healthy + degraded + failed`` connections got new health fields."""

    healthy: int = 0
    degraded: int = 0
    failed: int = 0
    repaired: int = 0
    skipped: int = 0
    superseded: int = 0
    errors: int = 0
    # False when the run stopped early to finish within the function's time limit.
    completed: bool = True

    @property
    def checked(self) -> int:
        return self.healthy + self.degraded + self.failed

    def as_dict(self) -> dict[str, int | bool]:
        return {
            "checked": self.checked,
            "healthy": self.healthy,
            "degraded": self.degraded,
            "failed": self.failed,
            "repaired": self.repaired,
            "skipped": self.skipped,
            "superseded": self.superseded,
            "errors": self.errors,
            "completed": self.completed,
        }


class HealthCheck:
    def __init__(
        self,
        *,
        store: HealthStore,
        cipher: FieldCipher,
        providers: ProviderAccess,
        clock: Callable[[], datetime] = utc_now,
        max_workers: int = DEFAULT_MAX_WORKERS,
        page_size: int = DEFAULT_PAGE_SIZE,
        stop_margin: timedelta = DEFAULT_STOP_MARGIN,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._store = store
        self._secrets = ConnectionSecrets(cipher)
        self._providers = providers
        self._clock = clock
        self._max_workers = max_workers
        self._page_size = page_size
        self._stop_margin = stop_margin

    @classmethod
    def from_settings(
        cls, config: Settings, *, store: HealthStore, cipher: FieldCipher, client_for: ClientFor
    ) -> HealthCheck:
        """The check as deployed, from its parts; the settings supply the rest."""
        return cls(
            store=store,
            cipher=cipher,
            providers=ProviderAccess.from_settings(config, client_for),
            max_workers=config.health_check_max_workers,
            page_size=config.health_check_page_size,
            stop_margin=timedelta(seconds=config.health_check_stop_margin_seconds),
        )

    def run(self, *, time_left_ms: Callable[[], int] | None = None) -> HealthReport:
        """Check every active connection once. ``time_left_ms`` (Lambda's
        ``context.get_remaining_time_in_millis``) lets the run stop starting new checks
        before the function times out."""
        outcomes: Counter[Outcome] = Counter()
        repaired = 0
        completed = True
        limited = RateLimitedTokens()
        deadline = Deadline(time_left_ms, self._stop_margin)

        def tally(done: set[Future[CheckResult]]) -> None:
            nonlocal repaired
            for future in done:
                result = future.result()  # _check_safely never raises
                outcomes[result.outcome] += 1
                repaired += result.repaired

        with ThreadPoolExecutor(self._max_workers, thread_name_prefix="health-check") as pool:
            in_flight: set[Future[CheckResult]] = set()
            # The scan is lazy (one page at a time) and a new check is submitted only when a
            # slot is free, so memory holds one page plus max_workers connections at most.
            for stored in self._store.scan_connections(page_size=self._page_size):
                if not stored.is_active:
                    continue
                if deadline.near():
                    completed = False
                    log.warning("health check stopped early to finish within the time limit")
                    break
                if len(in_flight) >= self._max_workers:
                    done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                    tally(done)
                in_flight.add(pool.submit(self._check_safely, stored, limited))
            tally(wait(in_flight).done)

        return HealthReport(
            healthy=outcomes[Outcome.HEALTHY],
            degraded=outcomes[Outcome.DEGRADED],
            failed=outcomes[Outcome.FAILED],
            repaired=repaired,
            skipped=outcomes[Outcome.SKIPPED],
            superseded=outcomes[Outcome.SUPERSEDED],
            errors=outcomes[Outcome.ERROR],
            completed=completed,
        )

    # One connection --------------------------------------------------------------------------

    def _check_safely(self, stored: StoredConnection, limited: RateLimitedTokens) -> CheckResult:
        try:
            return self._check(stored, limited)
        except errors.DomainError as error:
            # Our own dependencies (DynamoDB, KMS throttling) or a URL no longer configured.
            log.warning(
                "health check of a connection failed",
                extra={**_ids(stored), "code": error.code},
            )
        except Exception:
            # Tracebacks carry messages, never locals; no message here holds a secret.
            log.exception("health check of a connection failed unexpectedly", extra=_ids(stored))
        return CheckResult(Outcome.ERROR)

    def _check(self, stored: StoredConnection, limited: RateLimitedTokens) -> CheckResult:
        repo = self._providers.repository(stored.repository_url)
        repaired = False
        verdict: Verdict | None
        token: SecretStr | None = None
        try:
            token = self._secrets.token(stored)
            if limited.holds(repo.endpoint, token):
                log.info(
                    "skipped: the provider rate-limited its token this run", extra=_ids(stored)
                )
                return CheckResult(Outcome.SKIPPED)
            client = self._providers.client(repo)
            client.preflight(repo, token)
            hook = client.get_hook(repo, token, stored.webhook_id) if stored.webhook_id else None
            if hook is None:
                hook = self._repair(client, repo, token, stored)
                if hook is None:
                    return CheckResult(Outcome.SUPERSEDED)
                repaired = True
            verdict = verdict_for_hook(hook, repaired=repaired)
        except errors.DomainError as error:
            verdict = verdict_for_error(error)
            if verdict is None:
                raise
            if isinstance(error, errors.ProviderRateLimited) and token is not None:
                limited.add(repo.endpoint, token)
        return self._record(stored, verdict, repaired)

    def _record(self, stored: StoredConnection, verdict: Verdict, repaired: bool) -> CheckResult:
        recorded = self._store.record_health(
            stored, status=verdict.status.value, reason=verdict.reason, at=self._clock()
        )
        if not recorded:
            # Deleted or replaced by another project's connect since the scan read it.
            return CheckResult(Outcome.SUPERSEDED, repaired=repaired)
        log.info(
            "connection checked",
            extra={**_ids(stored), "healthStatus": verdict.status.value, "repaired": repaired},
        )
        return CheckResult(Outcome(verdict.status.value), repaired=repaired)

    # Repair ----------------------------------------------------------------------------------

    def _repair(
        self, client: WebhookClient, repo: RepositoryRef, token: SecretStr, stored: StoredConnection
    ) -> Hook | None:
        """Re-create the missing hook with a new secret and store it; None when a connect or
        disconnect changed the connection meanwhile (then the item is theirs, not ours)."""
        secret = self._providers.new_secret()
        now = self._clock()
        # Sealed and staged before the provider has it: GitHub pings the hook it creates.
        sealed = self._secrets.rotate(
            stored,
            token=token,
            webhook_secret=secret,
            previous_expires_at=now + self._providers.secret_grace,
        )
        pending = stage_pending_secret(
            self._store,
            connection_id=stored.id,
            project_id=stored.project_id,
            repository_url=stored.repository_url,
            service_type=stored.service_type,
            sealed=sealed,
            now=now,
        )
        try:
            new = adopt_or_create_hook(
                client, repo, token, self._providers.callback_url(stored.id), secret
            )
            try:
                repaired = stored.with_hook(sealed, new.hook, at=now)
                stored_it = self._store.replace_webhook(stored, repaired)
            except BaseException:
                if new.created:
                    delete_hook_quietly(client, repo, token, new.hook, **_ids(stored))
                raise
        finally:
            drop_pending_quietly(self._store, pending)
        if stored_it:
            log.info(
                "webhook re-created",
                extra={**_ids(stored), "webhookId": new.hook.id, "adopted": not new.created},
            )
            return new.hook
        if new.created and not self._adopted_by_winner(stored, new.hook):
            delete_hook_quietly(client, repo, token, new.hook, **_ids(stored))
        log.info("connection changed during repair; left to the change", extra=_ids(stored))
        return None

    def _adopted_by_winner(self, stored: StoredConnection, hook: Hook) -> bool:
        # A racing reconnect looks hooks up by callback URL, so it may have found ours and
        # stored it: deleting it then would break the connection the winner just made.
        current = self._store.get(stored.repository_url)
        return current is not None and current.id == stored.id and current.webhook_id == hook.id


def _ids(stored: StoredConnection) -> dict[str, str]:
    return {
        "connectionId": stored.id,
        "projectId": stored.project_id,
        "repositoryUrl": stored.repository_url,
    }
