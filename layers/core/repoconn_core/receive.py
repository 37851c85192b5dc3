"""Receive a provider's webhook delivery — the whole story in one place, in order:

bound the size → the connection named by the id in the callback URL, with its accepted
secrets (current, plus the previous one inside its grace window) → verify the provider's
signature (failing that, against the secret a connect or hook repair is installing right now,
``PendingSecret``: GitHub pings a hook as it creates it and signs with a new secret the moment
it is updated, before the connection is written) → parse the JSON payload → only the event
kinds the hook subscribes to go on (a ping or any other kind is acknowledged, never recorded
or published) → record the delivery
once per body (``replay_key``), together with the event to publish → answer. Publishing and
lastSyncAt happen after the answer, in the relay (relay.py), which reads the recorded
deliveries from the table's stream (the outbox).

One synchronous AWS call per warm delivery
------------------------------------------
A container verifies one delivery at a time, and each AWS call costs it more than everything
else together (docs/benchmarks.md), so the warm path makes exactly one: the conditional
PutItem that records the delivery and its event. Everything else is kept per container in a
``ConnectionCache``:

- the connection item, trusted for ``read_ttl`` (seconds) without reading it again;
- its secrets, decrypted once per item version (``updatedAt``) and kept at most
  ``secret_ttl``, so plaintext does not outlive its use by much. A stream of forged
  deliveries therefore never turns into a stream of KMS Decrypts.

What the cache may not change is who gets in, so:

- a signature that does not verify against cached secrets is checked again after reading
  the item (consistently): a rotation by a reconnect is seen at once, not after ``read_ttl``;
  one that still does not verify is checked against the staged secret, if any (one more
  GetItem; its plaintext is cached per stage like the item's, so forgeries during a connect
  do not turn into KMS Decrypts either);
- a connection deleted or deactivated less than ``read_ttl`` ago may still see a correctly
  signed delivery answered 202 by a container that verified one just before; the relay reads
  the connection again before publishing and drops such deliveries, so nothing is published
  or recorded as a sync for a connection that is gone (docs/decisions.md, "Receiver").

Fail closed, no oracle: a missing header, a wrong signature, an unknown, inactive or deleted
connection all raise the same ``DeliveryRejected`` with the same detail, so a caller cannot
probe which connection ids exist.

The provider layer's verification functions are passed in (see
``repoconn_providers.wiring.receive_webhook``):
this module imports neither boto3 nor ``repoconn_providers``.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools import Logger
from pydantic import SecretStr

from repoconn_core.clock import utc_now
from repoconn_core.connection_secrets import ConnectionSecrets, WebhookSecrets, in_grace
from repoconn_core.delivery_events import VerifiedDelivery, delivery_event
from repoconn_core.delivery_history import DeliveryEntry, Outcome
from repoconn_core.errors import (
    DeliveryRejected,
    DependencyUnavailable,
    MalformedBody,
    PayloadTooLarge,
)
from repoconn_core.json_body import load_json
from repoconn_core.ports import (
    ConnectionById,
    DeliveryHistoryWriter,
    DeliveryRecorder,
    FieldCipher,
)
from repoconn_core.providers import DELIVERED_EVENT_KINDS, PING_EVENT_KINDS, ServiceType
from repoconn_core.records import DeliveryOutcome, PendingSecret, WebhookConnection
from repoconn_core.settings import Settings

DEFAULT_REPLAY_WINDOW = timedelta(days=7)
# Connection ids are UUIDs; anything else cannot exist, and must not reach a DynamoDB key.
_log = Logger(child=True)
_CONNECTION_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


# (service type, headers, body, accepted secrets, now, the connection's webhook_signing)
# -> verified?
Verify = Callable[
    [ServiceType, Mapping[str, str], bytes, Sequence[SecretStr], datetime, str | None], bool
]
# (service type, headers, body) -> (delivery id, event kind)
Identify = Callable[[ServiceType, Mapping[str, str], bytes], tuple[str, str]]


@dataclass(frozen=True)
class DeliveryReceipt:
    delivery_id: str
    event_kind: str
    duplicate: bool
    # Verified but not published, nor recorded: "ping" (a hook's creation), or
    # "not_subscribed" (a kind the hook does not subscribe to). None for a delivery.
    ignored: str | None = None


@dataclass(frozen=True)
class KnownConnection:
    """A connection as a container last read it, with its secrets decrypted."""

    stored: WebhookConnection
    secrets: WebhookSecrets
    read_at: float  # monotonic: when the item was last read
    opened_at: float  # monotonic: when the secrets were decrypted


class ConnectionCache:
    """The connections one container receives deliveries for (see the module doc).

    ``fresh`` answers an entry read less than ``read_ttl`` ago whose secrets are younger than
    ``secret_ttl``; ``last`` answers any entry whose secrets are still within ``secret_ttl``,
    so a re-read item with an unchanged ``updatedAt`` reuses them. At most ``max_entries``
    connections, least recently used dropped first. Thread-safe.
    """

    def __init__(
        self,
        secret_ttl: timedelta,
        *,
        read_ttl: timedelta = timedelta(seconds=5),
        max_entries: int = 1024,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secret_ttl_seconds = secret_ttl.total_seconds()
        self._read_ttl = min(read_ttl, secret_ttl).total_seconds()
        self._max_entries = max_entries
        self.monotonic = monotonic
        self._entries: OrderedDict[str, KnownConnection] = OrderedDict()
        self._lock = threading.Lock()

    def fresh(self, connection_id: str) -> KnownConnection | None:
        entry = self.last(connection_id)
        if entry is None or self.monotonic() - entry.read_at >= self._read_ttl:
            return None
        return entry

    def last(self, connection_id: str) -> KnownConnection | None:
        with self._lock:
            entry = self._entries.get(connection_id)
            if entry is None:
                return None
            if self.monotonic() - entry.opened_at >= self.secret_ttl_seconds:
                del self._entries[connection_id]
                return None
            self._entries.move_to_end(connection_id)
            return entry

    def put(self, connection_id: str, entry: KnownConnection) -> None:
        with self._lock:
            self._entries[connection_id] = entry
            self._entries.move_to_end(connection_id)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def forget(self, connection_id: str) -> None:
        with self._lock:
            self._entries.pop(connection_id, None)


class ReceiveWebhook:
    def __init__(
        self,
        *,
        connections: ConnectionById,
        deliveries: DeliveryRecorder,
        cipher: FieldCipher,
        verify: Verify,
        identify: Identify,
        cache: ConnectionCache,
        max_body_bytes: int,
        clock: Callable[[], datetime] = utc_now,
        replay_window: timedelta = DEFAULT_REPLAY_WINDOW,
        staged: ConnectionCache | None = None,
        history: DeliveryHistoryWriter | None = None,
    ) -> None:
        """``staged``: the opened pending secrets (default: a cache like ``cache``'s);
        ``history``: where duplicates are logged for the frontend (None: not logged)."""
        self._history = history
        self._connections = connections
        self._staged = staged or ConnectionCache(
            timedelta(seconds=cache.secret_ttl_seconds), monotonic=cache.monotonic
        )
        self._deliveries = deliveries
        self._secrets = ConnectionSecrets(cipher)
        self._verify = verify
        self._identify = identify
        self._cache = cache
        self._clock = clock
        self._max_body_bytes = max_body_bytes
        self._replay_window = replay_window

    @classmethod
    def from_settings(
        cls,
        config: Settings,
        *,
        connections: ConnectionById,
        deliveries: DeliveryRecorder,
        cipher: FieldCipher,
        verify: Verify,
        identify: Identify,
        history: DeliveryHistoryWriter | None = None,
    ) -> ReceiveWebhook:
        """The receiver as deployed, from its parts; the settings supply the rest."""
        return cls(
            connections=connections,
            deliveries=deliveries,
            cipher=cipher,
            verify=verify,
            identify=identify,
            cache=ConnectionCache(
                timedelta(seconds=config.secret_cache_ttl_seconds),
                read_ttl=timedelta(seconds=config.connection_cache_ttl_seconds),
            ),
            max_body_bytes=config.webhook_max_body_bytes,
            history=history,
        )

    def __call__(
        self, connection_id: str, headers: Mapping[str, str], body: bytes
    ) -> DeliveryReceipt:
        if len(body) > self._max_body_bytes:
            raise PayloadTooLarge(f"The body exceeds {self._max_body_bytes} bytes.")
        if not _CONNECTION_ID.fullmatch(connection_id):
            raise DeliveryRejected()
        now = self._clock()
        stored = self._verified_connection(connection_id, headers, body, now)

        delivery_id, event_kind = self._identify(stored.service_type, headers, body)
        # Before anything is decided about it: a body that is not a JSON object is a 400,
        # whatever its kind (and before recording: a 400 must not be "seen").
        payload = _json_payload(headers, body)
        if event_kind not in DELIVERED_EVENT_KINDS[stored.service_type]:
            # Acknowledged (a 4xx makes GitLab disable the hook), never published or recorded.
            ping = event_kind in PING_EVENT_KINDS[stored.service_type]
            return DeliveryReceipt(
                delivery_id,
                event_kind,
                duplicate=False,
                ignored="ping" if ping else "not_subscribed",
            )
        delivery = VerifiedDelivery(
            connection_id=stored.id,
            project_id=stored.project_id,
            repository_url=stored.repository_url,
            service_type=stored.service_type,
            event_kind=event_kind,
            delivery_id=delivery_id,
            received_at=now,
            payload=payload,
            body_bytes=len(body),
        )
        outcome = self._deliveries.record_delivery(
            stored,
            delivery_id,
            event=delivery_event(delivery),
            expires_at=now + self._replay_window,
            replay_key=replay_key(body),
        )
        duplicate = outcome is DeliveryOutcome.DUPLICATE
        if duplicate:
            entry = DeliveryEntry.of(delivery_id, event_kind, now, Outcome.DUPLICATE)
            self._log_duplicate(stored.id, entry)
        return DeliveryReceipt(delivery_id, event_kind, duplicate=duplicate)

    def _log_duplicate(self, connection_id: str, entry: DeliveryEntry) -> None:
        """One more call, on the duplicate path only (a new delivery is logged by the relay,
        so the warm path stays one PutItem). The answer does not depend on it: a duplicate is
        acknowledged whether or not the log could be written."""
        if self._history is None:
            return
        try:
            self._history.append_deliveries(connection_id, [entry], at=entry.received_at)
        except DependencyUnavailable:
            _log.warning("delivery log not written", extra={"connectionId": connection_id})

    def _verified_connection(
        self, connection_id: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> WebhookConnection:
        """The connection a correctly signed delivery speaks for; DeliveryRejected otherwise."""
        known = self._cache.fresh(connection_id)
        if known is not None and self._verified(known, headers, body, now):
            return known.stored
        # Not known, or a signature the cached secrets do not verify: read the item (a
        # rotation, deletion or deactivation is seen here) and verify again.
        known = self._read(connection_id)
        if known is not None and self._verified(known, headers, body, now):
            return known.stored
        # Signed with a secret being installed right now? (No item yet on a first connect.)
        pending = self._connections.pending_secret(connection_id, now)
        if pending is not None:
            staged = self._opened_stage(pending)
            if self._verified(staged, headers, body, now):
                return staged.stored
        raise DeliveryRejected()

    def _opened_stage(self, pending: PendingSecret) -> KnownConnection:
        """A staged secret as a connection with that one secret, opened once per stage."""
        view = pending.webhook_view()
        last = self._staged.last(pending.connection_id)
        if last is not None and last.stored == view:
            return last
        now = self._staged.monotonic()
        opened = WebhookSecrets(self._secrets.webhook_secret(view), None)
        known = KnownConnection(view, opened, read_at=now, opened_at=now)
        self._staged.put(pending.connection_id, known)
        return known

    def _verified(
        self, known: KnownConnection, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> bool:
        stored, secrets = known.stored, known.secrets
        accepted = [secrets.current]
        if secrets.previous is not None and in_grace(stored, now):
            accepted.append(secrets.previous)
        return self._verify(
            stored.service_type, headers, body, accepted, now, stored.webhook_signing
        )

    def _read(self, connection_id: str) -> KnownConnection | None:
        """The connection as stored now (consistent read), its secrets decrypted only when
        its version changed or the cached plaintext expired; None when there is no active
        connection with this id."""
        stored = self._connections.get_by_id(connection_id)
        if stored is None or not stored.is_active:
            self._cache.forget(connection_id)
            return None
        now = self._cache.monotonic()
        last = self._cache.last(connection_id)
        if last is not None and last.stored.updated_at == stored.updated_at:
            secrets, opened_at = last.secrets, last.opened_at
        else:
            # Cached whatever the verification's outcome: a forged delivery must not make
            # the next one decrypt again.
            secrets, opened_at = self._secrets.webhook_secrets(stored, self._clock()), now
        known = KnownConnection(stored, secrets, read_at=now, opened_at=opened_at)
        self._cache.put(connection_id, known)
        return known


def replay_key(body: bytes) -> str:
    """What makes two deliveries to one connection the same: the body, byte for byte.

    Not the delivery id: GitHub and Bitbucket do not sign it, so a captured delivery re-sent
    under fresh ids would be accepted again and again; and GitLab's fallback id
    (``X-Gitlab-Event-UUID``) is shared by the webhooks one API call triggers, so two different
    events could be merged. A provider's retry or redelivery sends the same body, so it is
    still a duplicate. Two genuine events never share a body: payloads carry their commit
    ids, timestamps or the object's new state.
    """
    return "sha256-" + hashlib.sha256(body).hexdigest()


def _json_payload(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The provider's JSON object. A GitHub hook with content type
    ``application/x-www-form-urlencoded`` (GitHub's default; ours are created as JSON) sends
    it as a form parameter called ``payload``
    (https://docs.github.com/en/webhooks/using-webhooks/creating-webhooks)."""
    content_type = ""
    for name, value in headers.items():
        if name.lower() == "content-type":
            content_type = value.split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8")
        if content_type == _FORM_CONTENT_TYPE:
            fields = parse_qs(text, keep_blank_values=True, strict_parsing=True)
            values = fields.get("payload", [])
            if len(values) != 1:
                raise ValueError("form body without exactly one payload field")
            text = values[0]
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedBody("The delivery body is not a JSON object.") from error
    # Within json_body.py's depth and number limits, as every JSON body is read.
    payload = load_json(text, not_json="The delivery body is not a JSON object.")
    if not isinstance(payload, dict):
        raise MalformedBody("The delivery body is not a JSON object.")
    return payload
