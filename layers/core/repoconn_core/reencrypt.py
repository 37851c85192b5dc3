"""Re-encryption: every connection item moved to the current cipher format and key, without a
reconnect. Deployed, operators invoke ReencryptConnectionsFunction (only the service's function
roles may use the key); locally, ``repoconn reencrypt``. docs/operations.md has the runbook.

For each connection item whose blobs are not all current (format 1, or sealed under a key the
configured alias no longer names): open its token, webhook secret and — inside its grace
window — previous webhook secret, seal them again (format 2, the next write generation, the
previous secret with its own expiry) and write them with the same conditional update a health
repair uses (``updatedAt`` is the version). The secret *values* do not change, so the provider's
hook and deliveries in flight are unaffected.

Safe while traffic flows: a connect or repair that wrote the item meanwhile wins the
condition; the item is then read again and, if still not current, re-encrypted again (it is
current after any write by this version). Resumable and idempotent: a run skips what is current,
so a run stopped anywhere is finished by the next one. A previous secret past its grace window
is dropped rather than re-sealed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from repoconn_core.clock import utc_now
from repoconn_core.connection_secrets import ConnectionSecrets, RotatedSecret
from repoconn_core.errors import StoredSecretUnreadable
from repoconn_core.passes import Deadline
from repoconn_core.ports import ReencryptingCipher, ReencryptStore
from repoconn_core.records import StoredConnection

log = Logger(child=True)

# A connect that keeps winning the condition still writes the current format: a few attempts
# settle any item.
MAX_ATTEMPTS = 3
# Time kept back, in the function, for the item in hand and the report (a Lambda timeout would
# lose the report, not an item: each item is one conditional write).
DEFAULT_STOP_MARGIN_MS = 30_000


@dataclass
class ReencryptReport:
    scanned: int = 0
    reencrypted: int = 0
    already_current: int = 0
    # Written by a connect meanwhile, in the current format: nothing left to do.
    current_after_a_concurrent_write: int = 0
    deleted_meanwhile: int = 0
    unreadable: int = 0
    # False when the pass stopped early to finish within its time limit: invoke it again, it
    # skips what is current.
    completed: bool = True


class ReencryptConnections:
    def __init__(
        self,
        *,
        store: ReencryptStore,
        cipher: ReencryptingCipher,
        clock: Callable[[], datetime] = utc_now,
        page_size: int = 100,
        stop_margin_ms: int = DEFAULT_STOP_MARGIN_MS,
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._secrets = ConnectionSecrets(cipher)
        self._clock = clock
        self._page_size = page_size
        self._stop_margin_ms = stop_margin_ms

    def run(
        self,
        *,
        time_left_ms: Callable[[], int] | None = None,
        after_each: Callable[[StoredConnection], None] | None = None,
    ) -> ReencryptReport:
        """One pass over the table. ``time_left_ms`` (Lambda's
        ``context.get_remaining_time_in_millis``) stops it before the function times out;
        ``after_each``: called after each connection item is handled (tests interleave traffic
        and interruptions there)."""
        report = ReencryptReport()
        deadline = Deadline(time_left_ms, timedelta(milliseconds=self._stop_margin_ms))
        for stored in self._store.scan_connections(self._page_size):
            if deadline.near():
                report.completed = False
                log.warning("re-encryption pass stopped early to finish within the time limit")
                break
            report.scanned += 1
            self._settle(stored, report)
            if after_each is not None:
                after_each(stored)
        log.info("re-encryption pass finished", extra=vars(report))
        return report

    def is_current(self, stored: StoredConnection) -> bool:
        blobs = [stored.access_token, stored.webhook_secret]
        if stored.previous_webhook_secret is not None:
            blobs.append(stored.previous_webhook_secret)
        return all(self._cipher.is_current(blob) for blob in blobs)

    def _settle(self, stored: StoredConnection, report: ReencryptReport) -> None:
        current: StoredConnection | None = stored
        for attempt in range(MAX_ATTEMPTS):
            if current is None:
                report.deleted_meanwhile += 1
                return
            if self.is_current(current):
                if attempt == 0:
                    report.already_current += 1
                else:
                    report.current_after_a_concurrent_write += 1
                return
            try:
                resealed = self._resealed(current)
            except StoredSecretUnreadable as error:
                report.unreadable += 1
                log.warning(
                    "a connection's stored secret does not open; left as it is",
                    extra={"connectionId": current.id, "field": error.field},
                )
                return
            if self._store.replace_secrets(current, resealed):
                report.reencrypted += 1
                return
            current = self._store.get(current.repository_url)
        raise RuntimeError(f"connection {stored.id} kept changing during re-encryption")

    def _resealed(self, stored: StoredConnection) -> StoredConnection:
        now = self._clock()
        token = self._secrets.token(stored)
        opened = self._secrets.webhook_secrets(stored, now)
        previous = (
            RotatedSecret(opened.previous, stored.previous_secret_expires_at)
            if opened.previous is not None and stored.previous_secret_expires_at is not None
            else None
        )
        sealed = self._secrets.seal(
            project_id=stored.project_id,
            repository_url=stored.repository_url,
            token=token,
            webhook_secret=opened.current,
            generation=stored.secret_generation + 1,
            previous=previous,
        )
        return stored.with_secrets(sealed, at=now)
