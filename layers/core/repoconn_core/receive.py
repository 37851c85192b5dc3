"""Receive a provider's webhook delivery — the whole story in one place, in order:

bound the size → load the connection by the id in the callback URL → the accepted secrets
(current, plus the previous one inside its grace window) → verify the provider's signature
→ parse the JSON payload → record the delivery id once (and advance lastSyncAt) → publish the
verified delivery → answer.

Fail closed, no oracle: a missing header, a wrong signature, an unknown, inactive or deleted
connection all raise the same ``DeliveryRejected`` with the same detail, so a caller cannot
probe which connection ids exist.

Decrypted secrets are cached per container, keyed by connection id *and* the item's
``updatedAt``: every delivery reads the item anyway (a consistent GetItem; the first one for
an id also reads its pointer, see ``ConnectionStore.get_by_id``), so a rotation is seen at
once and the warm path, good or bad signature, costs no KMS call. A stream of forged
deliveries therefore cannot turn into a stream of KMS Decrypts.

The provider layer's verification functions are passed in (see ``wiring.receive_webhook``):
this module imports neither boto3 nor ``repoconn_providers``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import parse_qs

from aws_lambda_powertools import Logger
from pydantic import SecretStr

from repoconn_core.errors import DomainError, MalformedBody
from repoconn_core.providers import ServiceType
from repoconn_core.store import DeliveryOutcome, StoredConnection

WEBHOOK_SECRET = "webhookSecret"  # noqa: S105 - the field name both secret blobs are bound to
DEFAULT_REPLAY_WINDOW = timedelta(days=7)
# Connection ids are UUIDs; anything else cannot exist, and must not reach a DynamoDB key.
_CONNECTION_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

log = Logger(child=True)


class DeliveryRejected(DomainError):
    """Every reason a delivery is refused looks the same from outside (no oracle)."""

    status, code, title = 401, "invalid_signature", "Delivery rejected"

    def __init__(self, detail: str = "") -> None:
        # One detail for every cause, whatever the caller passes.
        super().__init__("The delivery could not be verified.")


class PayloadTooLarge(DomainError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class DeliveryStore(Protocol):
    def get_by_id(self, connection_id: str) -> StoredConnection | None: ...

    def record_delivery(
        self, stored: StoredConnection, delivery_id: str, *, at: datetime, expires_at: datetime
    ) -> DeliveryOutcome: ...

    def forget_delivery(self, connection_id: str, delivery_id: str) -> None: ...


class SecretOpener(Protocol):
    def decrypt_field(
        self, blob: bytes, *, project_id: str, repository_url: str, field: str
    ) -> SecretStr: ...


@dataclass(frozen=True)
class VerifiedDelivery:
    """A delivery that passed verification and was recorded: what gets published."""

    connection_id: str
    project_id: str
    repository_url: str
    service_type: ServiceType
    event_kind: str
    delivery_id: str
    received_at: datetime
    payload: dict[str, Any]
    body_bytes: int


class DeliveryPublisher(Protocol):
    def publish(self, delivery: VerifiedDelivery) -> None:
        """Raises DependencyUnavailable when the delivery could not be published."""


# (service type, headers, body, accepted secrets, now) -> verified?
Verify = Callable[[ServiceType, Mapping[str, str], bytes, Sequence[SecretStr], datetime], bool]
# (service type, headers, body) -> (delivery id, event kind)
Identify = Callable[[ServiceType, Mapping[str, str], bytes], tuple[str, str]]


@dataclass(frozen=True)
class DeliveryReceipt:
    delivery_id: str
    event_kind: str
    duplicate: bool


@dataclass(frozen=True)
class _OpenedSecrets:
    current: SecretStr
    previous: SecretStr | None


@dataclass(frozen=True)
class _CacheEntry:
    version: datetime  # the item's updatedAt when the secrets were decrypted
    secrets: _OpenedSecrets
    loaded_at: float


class SecretCache:
    """Decrypted webhook secrets per connection, for one container.

    An entry is used only while the item's ``updatedAt`` is unchanged and for at most ``ttl``
    (so plaintext does not outlive its use by much); at most ``max_entries`` connections are
    kept, least recently used dropped first. Thread-safe.
    """

    def __init__(
        self,
        ttl: timedelta,
        *,
        max_entries: int = 1024,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl.total_seconds()
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._entries: OrderedDict[str, _CacheEntry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, connection_id: str, version: datetime) -> _OpenedSecrets | None:
        with self._lock:
            entry = self._entries.get(connection_id)
            if entry is None:
                return None
            if entry.version != version or self._monotonic() - entry.loaded_at >= self._ttl:
                del self._entries[connection_id]
                return None
            self._entries.move_to_end(connection_id)
            return entry.secrets

    def put(self, connection_id: str, version: datetime, secrets: _OpenedSecrets) -> None:
        with self._lock:
            self._entries[connection_id] = _CacheEntry(version, secrets, self._monotonic())
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
        store: DeliveryStore,
        cipher: SecretOpener,
        publisher: DeliveryPublisher,
        verify: Verify,
        identify: Identify,
        secret_cache: SecretCache,
        max_body_bytes: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        replay_window: timedelta = DEFAULT_REPLAY_WINDOW,
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._publisher = publisher
        self._verify = verify
        self._identify = identify
        self._cache = secret_cache
        self._clock = clock
        self._max_body_bytes = max_body_bytes
        self._replay_window = replay_window

    def __call__(
        self, connection_id: str, headers: Mapping[str, str], body: bytes
    ) -> DeliveryReceipt:
        if len(body) > self._max_body_bytes:
            raise PayloadTooLarge(f"The body exceeds {self._max_body_bytes} bytes.")
        stored = self._active_connection(connection_id)
        now = self._clock()
        secrets = self._accepted_secrets(stored, now)
        if not self._verify(stored.service_type, headers, body, secrets, now):
            raise DeliveryRejected()

        delivery_id, event_kind = self._identify(stored.service_type, headers, body)
        payload = _json_payload(headers, body)  # before recording: a 400 must not be "seen"
        outcome = self._store.record_delivery(
            stored, delivery_id, at=now, expires_at=now + self._replay_window
        )
        if outcome is DeliveryOutcome.CONNECTION_GONE:
            # Deleted, replaced or deactivated between the read and the write.
            self._cache.forget(stored.id)
            raise DeliveryRejected()
        if outcome is DeliveryOutcome.DUPLICATE:
            return DeliveryReceipt(delivery_id, event_kind, duplicate=True)

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
        self._publish_or_unrecord(delivery)
        return DeliveryReceipt(delivery_id, event_kind, duplicate=False)

    def _active_connection(self, connection_id: str) -> StoredConnection:
        if not _CONNECTION_ID.fullmatch(connection_id):
            raise DeliveryRejected()
        stored = self._store.get_by_id(connection_id)
        if stored is None or not stored.is_active:
            raise DeliveryRejected()
        return stored

    def _accepted_secrets(self, stored: StoredConnection, now: datetime) -> list[SecretStr]:
        """The current secret, plus the previous one while its grace window lasts."""
        opened = self._cache.get(stored.id, stored.updated_at)
        if opened is None:
            opened = self._open(stored, now)
            # Cached whatever the verification's outcome: a forged delivery must not make the
            # next one decrypt again.
            self._cache.put(stored.id, stored.updated_at, opened)
        accepted = [opened.current]
        if opened.previous is not None and _in_grace(stored, now):
            accepted.append(opened.previous)
        return accepted

    def _open(self, stored: StoredConnection, now: datetime) -> _OpenedSecrets:
        # Both blobs are bound to field "webhookSecret": the previous one is the old
        # webhookSecret blob kept verbatim (docs/decisions.md, "Envelope encryption").
        current = self._decrypt(stored, stored.webhook_secret)
        previous = None
        if stored.previous_webhook_secret is not None and _in_grace(stored, now):
            previous = self._decrypt(stored, stored.previous_webhook_secret)
        return _OpenedSecrets(current, previous)

    def _decrypt(self, stored: StoredConnection, blob: bytes) -> SecretStr:
        return self._cipher.decrypt_field(
            blob,
            project_id=stored.project_id,
            repository_url=stored.repository_url,
            field=WEBHOOK_SECRET,
        )

    def _publish_or_unrecord(self, delivery: VerifiedDelivery) -> None:
        """Publish; if that fails, drop the delivery record so the provider's retry (it gets a
        503) is processed instead of being acknowledged as a duplicate."""
        try:
            self._publisher.publish(delivery)
        except BaseException:
            try:
                self._store.forget_delivery(delivery.connection_id, delivery.delivery_id)
            except Exception:
                # The retry will now be taken for a duplicate: this delivery is lost to
                # subscribers. Say so, with what an operator needs to replay it.
                log.error(
                    "could not publish a delivery nor forget its record; it will not be retried",
                    extra={
                        "connectionId": delivery.connection_id,
                        "deliveryId": delivery.delivery_id,
                    },
                )
            raise


def _in_grace(stored: StoredConnection, now: datetime) -> bool:
    expires = stored.previous_secret_expires_at
    return expires is not None and now < expires


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
        payload = json.loads(text)
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise MalformedBody("The delivery body is not a JSON object.") from error
    if not isinstance(payload, dict):
        raise MalformedBody("The delivery body is not a JSON object.")
    return payload
