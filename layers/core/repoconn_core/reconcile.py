"""Scheduled reconciliation: get delivered again what a provider failed to deliver to us.

Providers do not resend what our API failed to take (down, throttled, a deploy): GitHub keeps
a delivery log per hook and redelivers on request only; GitLab keeps one for seven days, and
disables a hook that keeps failing. One pass, in order, for each active connection with a
hook (scanned page by page, at most ``max_workers`` in flight):

decrypt the token (one KMS Decrypt) → re-enable the hook if the provider disabled it (GitLab)
→ read the hook's delivery log back to the lookback bound → redeliver each event none of
whose attempts succeeded (``plan_redeliveries``, a pure function) → count.

Bitbucket Cloud's API exposes no delivery log (its request history and "Resend request" are
in its UI only), so its connections are counted ``unsupported`` and nothing is asked.

Why redelivery is safe: a redelivery is the same body, and the receiver keeps one record per
body and connection for its replay window (receive.py, ``replay_key``), so an event we did
record — only our answer was lost — comes back as a duplicate, not a second event. The
lookback (default 72 hours, GitHub's own retention) is kept shorter than that window, so a
redelivered event is always still known to the receiver if it was ever accepted.

Why it is stateless: the provider's log says what happened. An event with a successful
attempt (the original or a redelivery) is done; one with failed attempts only is redelivered
again after a back-off that doubles with each redelivery the log shows (15 minutes, 30, 1 h,
...), and abandoned after ``max_per_event`` redeliveries, so an event our receiver refuses for
good (413, say) is not sent every run for three days. Nothing is written to the table.

Bounds: at most ``max_per_connection`` redeliveries per connection and ``max_per_run`` in all
per run, ``max_pages`` pages of delivery log per hook; the pass stops starting work before the
Lambda deadline (passes.Deadline), and a token a provider rate-limited skips its other
connections for the rest of the run (passes.RateLimitedTokens); nothing sleeps through a limit.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger
from pydantic import SecretStr

from repoconn_core import errors
from repoconn_core.clock import utc_now
from repoconn_core.connection_secrets import ConnectionSecrets
from repoconn_core.delivery_history import DeliveryEntry, Outcome
from repoconn_core.hooks import ProviderAccess
from repoconn_core.passes import Deadline, RateLimitedTokens
from repoconn_core.ports import (
    ClientFor,
    DeliveryHistoryWriter,
    FieldCipher,
    ReconcileStore,
    WebhookClient,
)
from repoconn_core.providers import DeliveryAttempt, RepositoryRef
from repoconn_core.records import StoredConnection
from repoconn_core.settings import Settings

log = Logger(child=True)

DEFAULT_MAX_WORKERS = 4
DEFAULT_PAGE_SIZE = 100
DEFAULT_STOP_MARGIN = timedelta(seconds=30)


@dataclass(frozen=True)
class RedeliveryPolicy:
    """How far back to look and how often one event is asked for again."""

    lookback: timedelta = timedelta(hours=72)
    backoff: timedelta = timedelta(minutes=15)
    max_per_event: int = 8
    max_per_connection: int = 20
    max_per_run: int = 200
    max_pages: int = 10


@dataclass(frozen=True)
class RedeliveryPlan:
    """What one hook's log says: the events to redeliver now (oldest first, each by its
    newest attempt), those waiting for their back-off, and those given up on."""

    due: tuple[DeliveryAttempt, ...]
    waiting: int = 0
    abandoned: int = 0

    @property
    def found(self) -> int:
        """Failed events still being recovered."""
        return len(self.due) + self.waiting


def plan_redeliveries(
    attempts: Iterable[DeliveryAttempt], *, now: datetime, policy: RedeliveryPolicy
) -> RedeliveryPlan:
    """Group the attempts by event; an event none of whose attempts succeeded is due when
    its newest attempt is older than the back-off its redeliveries so far call for (none yet:
    due at once), and abandoned after ``policy.max_per_event`` redeliveries."""
    by_event: dict[str, list[DeliveryAttempt]] = defaultdict(list)
    for attempt in attempts:
        by_event[attempt.event_key].append(attempt)
    due: list[tuple[datetime, DeliveryAttempt]] = []
    waiting = abandoned = 0
    for group in by_event.values():
        if any(attempt.succeeded for attempt in group):
            continue
        # Every attempt after the first is a redelivery (neither provider retries by itself).
        redeliveries = len(group) - 1
        if redeliveries >= policy.max_per_event:
            abandoned += 1
            continue
        newest = max(group, key=lambda attempt: (attempt.at, attempt.id))
        first_at = min(attempt.at for attempt in group)
        if redeliveries and now - newest.at < policy.backoff * 2 ** (redeliveries - 1):
            waiting += 1
            continue
        due.append((first_at, newest))
    due.sort(key=lambda pair: (pair[0], pair[1].id))
    return RedeliveryPlan(tuple(attempt for _, attempt in due), waiting, abandoned)


@dataclass(frozen=True)
class ReconcileReport:
    """What one run did. Metric names: functions/reconcile_deliveries/app.py."""

    reconciled: int = 0  # connections whose delivery log was read
    found: int = 0  # failed events still being recovered, over those logs
    redelivered: int = 0  # redeliveries the provider accepted
    redelivery_failed: int = 0  # redeliveries the provider refused or failed
    deferred: int = 0  # due but not asked this run (a bound, the deadline, a rate limit)
    abandoned: int = 0  # given up after max_per_event redeliveries
    hooks_reenabled: int = 0
    unsupported: int = 0  # connections on a provider without a delivery-log API
    skipped: int = 0  # their token was rate-limited earlier in this run
    unreachable: int = 0  # the provider refused the token, the repository or answered 5xx
    errors: int = 0  # our own dependencies failed, or a bug
    completed: bool = True

    def __add__(self, other: ReconcileReport) -> ReconcileReport:
        return ReconcileReport(
            **{
                f.name: getattr(self, f.name) + getattr(other, f.name)
                for f in fields(self)
                if f.name != "completed"
            },
            completed=self.completed and other.completed,
        )

    def as_dict(self) -> dict[str, int | bool]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Budget:
    """Redeliveries left for the whole run, shared by the worker threads."""

    def __init__(self, total: int) -> None:
        self._lock = threading.Lock()
        self._left = total

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True


@dataclass
class _Run:
    limited: RateLimitedTokens
    budget: _Budget
    deadline: Deadline
    now: datetime


class ReconcileDeliveries:
    def __init__(
        self,
        *,
        store: ReconcileStore,
        cipher: FieldCipher,
        providers: ProviderAccess,
        policy: RedeliveryPolicy | None = None,
        clock: Callable[[], datetime] = utc_now,
        max_workers: int = DEFAULT_MAX_WORKERS,
        page_size: int = DEFAULT_PAGE_SIZE,
        stop_margin: timedelta = DEFAULT_STOP_MARGIN,
        history: DeliveryHistoryWriter | None = None,
    ) -> None:
        """``history``: where each accepted redelivery is logged for the frontend (None: not
        logged)."""
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._store = store
        self._secrets = ConnectionSecrets(cipher)
        self._providers = providers
        self._policy = policy or RedeliveryPolicy()
        self._clock = clock
        self._max_workers = max_workers
        self._page_size = page_size
        self._stop_margin = stop_margin
        self._history = history

    @classmethod
    def from_settings(
        cls,
        config: Settings,
        *,
        store: ReconcileStore,
        cipher: FieldCipher,
        client_for: ClientFor,
        history: DeliveryHistoryWriter | None = None,
    ) -> ReconcileDeliveries:
        """The reconciliation as deployed, from its parts; the settings supply the rest."""
        return cls(
            store=store,
            cipher=cipher,
            providers=ProviderAccess.from_settings(config, client_for),
            policy=RedeliveryPolicy(
                lookback=timedelta(hours=config.reconcile_lookback_hours),
                backoff=timedelta(minutes=config.reconcile_backoff_minutes),
                max_per_event=config.reconcile_max_redeliveries_per_event,
                max_per_connection=config.reconcile_max_redeliveries_per_connection,
                max_per_run=config.reconcile_max_redeliveries_per_run,
                max_pages=config.reconcile_max_history_pages,
            ),
            max_workers=config.reconcile_max_workers,
            page_size=config.reconcile_page_size,
            stop_margin=timedelta(seconds=config.reconcile_stop_margin_seconds),
            history=history,
        )

    def run(self, *, time_left_ms: Callable[[], int] | None = None) -> ReconcileReport:
        """Reconcile every active connection once; ``time_left_ms`` (Lambda's
        ``context.get_remaining_time_in_millis``) stops it before the function times out."""
        run = _Run(
            limited=RateLimitedTokens(),
            budget=_Budget(self._policy.max_per_run),
            deadline=Deadline(time_left_ms, self._stop_margin),
            now=self._clock(),
        )
        report = ReconcileReport()

        def tally(done: set[Future[ReconcileReport]]) -> None:
            nonlocal report
            for future in done:
                report = report + future.result()  # _reconcile_safely never raises

        with ThreadPoolExecutor(self._max_workers, thread_name_prefix="reconcile") as pool:
            in_flight: set[Future[ReconcileReport]] = set()
            for stored in self._store.scan_connections(page_size=self._page_size):
                if not stored.is_active or not stored.webhook_id:
                    continue  # nothing delivers to it (the health check re-creates hooks)
                if run.deadline.near():
                    report = report + ReconcileReport(completed=False)
                    log.warning("reconciliation stopped early to finish within the time limit")
                    break
                if len(in_flight) >= self._max_workers:
                    done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                    tally(done)
                in_flight.add(pool.submit(self._reconcile_safely, stored, run))
            tally(wait(in_flight).done)
        return report

    # One connection --------------------------------------------------------------------------

    def _reconcile_safely(self, stored: StoredConnection, run: _Run) -> ReconcileReport:
        try:
            return self._reconcile(stored, run)
        except errors.DomainError as error:
            # Our own dependencies (DynamoDB, KMS throttling) or a URL no longer configured.
            log.warning(
                "reconciliation of a connection failed", extra={**_ids(stored), "code": error.code}
            )
        except Exception:
            # Tracebacks carry messages, never locals; no message here holds a secret.
            log.exception("reconciliation of a connection failed unexpectedly", extra=_ids(stored))
        return ReconcileReport(errors=1)

    def _reconcile(self, stored: StoredConnection, run: _Run) -> ReconcileReport:
        repo = self._providers.repository(stored.repository_url)
        hook_id = stored.webhook_id
        assert hook_id is not None  # run() passes only connections with a hook
        token: SecretStr | None = None
        reenabled = False
        try:
            token = self._secrets.token(stored)
            if run.limited.holds(repo.endpoint, token):
                log.info("skipped: its token was rate-limited this run", extra=_ids(stored))
                return ReconcileReport(skipped=1)
            client = self._providers.client(repo)
            # First: a provider resends nothing through a hook it has disabled.
            reenabled = client.reenable_hook(repo, token, hook_id)
            history = client.delivery_history(
                repo,
                token,
                hook_id,
                run.now - self._policy.lookback,
                max_pages=self._policy.max_pages,
            )
        except errors.StoredSecretUnreadable:
            return ReconcileReport(unreachable=1)  # the health check reports it as failed
        except errors.ProviderRateLimited:
            if token is not None:
                run.limited.add(repo.endpoint, token)
            return ReconcileReport(skipped=1, hooks_reenabled=int(reenabled))
        except (
            errors.InvalidToken,
            errors.InsufficientPermissions,
            errors.RepositoryNotFound,
            errors.HookNotFound,
            errors.ProviderUnavailable,
        ) as error:
            # The connection's own state (the health check records and reports it) or the
            # provider failing: tried again next run.
            log.info("delivery log not read", extra={**_ids(stored), "code": error.code})
            return ReconcileReport(unreachable=1, hooks_reenabled=int(reenabled))
        if history is None:
            return ReconcileReport(unsupported=1, hooks_reenabled=int(reenabled))
        plan = plan_redeliveries(history.attempts, now=run.now, policy=self._policy)
        sent = self._redeliver(client, repo, token, hook_id, plan.due, stored, run)
        report = ReconcileReport(
            reconciled=1,
            found=plan.found,
            abandoned=plan.abandoned,
            hooks_reenabled=int(reenabled),
        )
        report = report + sent
        log.info(
            "connection reconciled",
            extra={**_ids(stored), **report.as_dict(), "truncated": history.truncated},
        )
        return report

    def _redeliver(
        self,
        client: WebhookClient,
        repo: RepositoryRef,
        token: SecretStr,
        hook_id: str,
        due: Sequence[DeliveryAttempt],
        stored: StoredConnection,
        run: _Run,
    ) -> ReconcileReport:
        outcomes: Counter[str] = Counter()
        asked: list[DeliveryEntry] = []
        for index, attempt in enumerate(due):
            if (
                index >= self._policy.max_per_connection
                or run.deadline.near()
                or not run.budget.take()
            ):
                outcomes["deferred"] += len(due) - index
                break
            try:
                client.redeliver(repo, token, hook_id, attempt)
            except errors.ProviderRateLimited:
                run.limited.add(repo.endpoint, token)
                outcomes["deferred"] += len(due) - index
                break
            except (errors.ProviderUnavailable, errors.HookNotFound) as error:
                # One event's redelivery refused or failed; the next run asks again.
                log.warning(
                    "redelivery failed",
                    extra={**_ids(stored), "deliveryId": attempt.id, "code": error.code},
                )
                outcomes["redelivery_failed"] += 1
                continue
            outcomes["redelivered"] += 1
            asked.append(
                DeliveryEntry.of(
                    attempt.event_key, attempt.event, self._clock(), Outcome.REDELIVERED
                )
            )
        self._log_redeliveries(stored, asked)
        return ReconcileReport(
            redelivered=outcomes["redelivered"],
            redelivery_failed=outcomes["redelivery_failed"],
            deferred=outcomes["deferred"],
        )

    def _log_redeliveries(self, stored: StoredConnection, asked: Sequence[DeliveryEntry]) -> None:
        """One append for the connection's accepted redeliveries. Best effort: the log is for
        people; a failure to write it must not make the next run ask the provider again."""
        if self._history is None or not asked:
            return
        try:
            self._history.append_deliveries(stored.id, asked, at=self._clock())
        except errors.DependencyUnavailable:
            log.warning("delivery log not written", extra=_ids(stored))


def _ids(stored: StoredConnection) -> dict[str, str]:
    return {
        "connectionId": stored.id,
        "projectId": stored.project_id,
        "repositoryUrl": stored.repository_url,
    }
