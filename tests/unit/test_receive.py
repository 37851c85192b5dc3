"""The receive use case's order of steps and outcomes, on in-memory fakes (no AWS)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr
from repoconn_core.errors import DependencyUnavailable, MalformedBody
from repoconn_core.providers import ServiceType
from repoconn_core.receive import (
    DeliveryReceipt,
    DeliveryRejected,
    PayloadTooLarge,
    ReceiveWebhook,
    SecretCache,
    VerifiedDelivery,
)
from repoconn_core.store import DeliveryOutcome, StoredConnection
from repoconn_providers import signatures

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
CONNECTION_ID = "6f1c2b4e-0000-4000-8000-000000000001"
CURRENT = "current-secret-0123456789abcdef"
PREVIOUS = "previous-secret-0123456789abcdef"
BODY = json.dumps({"ref": "refs/heads/main"}).encode()


def stored_connection(**changes: object) -> StoredConnection:
    values: dict[str, object] = {
        "id": CONNECTION_ID,
        "project_id": "p1",
        "repository_url": "https://github.com/acme/api",
        "service_type": ServiceType.GITHUB,
        "access_token": b"blob:token",
        "webhook_secret": b"blob:" + CURRENT.encode(),
        "webhook_id": "490000001",
        "is_active": True,
        "last_sync_at": None,
        "created_at": NOW - timedelta(days=1),
        "updated_at": NOW - timedelta(hours=1),
    }
    values.update(changes)
    return StoredConnection(**values)  # type: ignore[arg-type]


@dataclass
class FakeStore:
    stored: StoredConnection | None
    outcome: DeliveryOutcome = DeliveryOutcome.RECORDED
    reads: int = 0
    recorded: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    forgotten: list[tuple[str, str]] = field(default_factory=list)
    forget_fails: bool = False

    def get_by_id(self, connection_id: str) -> StoredConnection | None:
        self.reads += 1
        return self.stored if self.stored and self.stored.id == connection_id else None

    def record_delivery(
        self, stored: StoredConnection, delivery_id: str, *, at: datetime, expires_at: datetime
    ) -> DeliveryOutcome:
        self.recorded.append((delivery_id, at, expires_at))
        return self.outcome

    def forget_delivery(self, connection_id: str, delivery_id: str) -> None:
        if self.forget_fails:
            raise DependencyUnavailable("DynamoDB is unavailable.", 10)
        self.forgotten.append((connection_id, delivery_id))


@dataclass
class FakeCipher:
    """Blobs are b"blob:<plaintext>"; counts decrypts like KMS calls."""

    decrypts: int = 0

    def decrypt_field(
        self, blob: bytes, *, project_id: str, repository_url: str, field: str
    ) -> SecretStr:
        assert field == "webhookSecret"
        self.decrypts += 1
        return SecretStr(blob.removeprefix(b"blob:").decode())


@dataclass
class FakePublisher:
    fails: bool = False
    published: list[VerifiedDelivery] = field(default_factory=list)

    def publish(self, delivery: VerifiedDelivery) -> None:
        if self.fails:
            raise DependencyUnavailable("EventBridge is unavailable.", 10)
        self.published.append(delivery)


def github_headers(secret: str, body: bytes = BODY, delivery_id: str = "d-1") -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "x-github-event": "push",
        "x-github-delivery": delivery_id,
        "x-hub-signature-256": "sha256=" + digest,
        "content-type": "application/json",
    }


@dataclass
class Parts:
    store: FakeStore
    cipher: FakeCipher = field(default_factory=FakeCipher)
    publisher: FakePublisher = field(default_factory=FakePublisher)

    def use_case(self, now: datetime = NOW, max_body_bytes: int = 1024) -> ReceiveWebhook:
        return ReceiveWebhook(
            store=self.store,
            cipher=self.cipher,
            publisher=self.publisher,
            verify=signatures.verify_delivery,
            identify=signatures.identify,
            secret_cache=SecretCache(timedelta(minutes=5)),
            max_body_bytes=max_body_bytes,
            clock=lambda: now,
        )


def test_accepted_delivery_is_recorded_with_the_replay_window_and_published() -> None:
    parts = Parts(FakeStore(stored_connection()))
    receipt = parts.use_case()(CONNECTION_ID, github_headers(CURRENT), BODY)
    assert receipt == DeliveryReceipt("d-1", "push", duplicate=False)
    assert parts.store.recorded == [("d-1", NOW, NOW + timedelta(days=7))]
    [published] = parts.publisher.published
    assert published == VerifiedDelivery(
        connection_id=CONNECTION_ID,
        project_id="p1",
        repository_url="https://github.com/acme/api",
        service_type=ServiceType.GITHUB,
        event_kind="push",
        delivery_id="d-1",
        received_at=NOW,
        payload={"ref": "refs/heads/main"},
        body_bytes=len(BODY),
    )


def test_body_over_the_limit_is_refused_before_the_connection_is_read() -> None:
    parts = Parts(FakeStore(stored_connection()))
    body = b"{" + b" " * 1024 + b"}"
    with pytest.raises(PayloadTooLarge):
        parts.use_case(max_body_bytes=1024)(CONNECTION_ID, github_headers(CURRENT, body), body)
    assert parts.store.reads == 0
    assert parts.cipher.decrypts == 0


def test_body_at_the_limit_is_accepted() -> None:
    body = json.dumps({"pad": "x" * 1000}).encode()
    parts = Parts(FakeStore(stored_connection()))
    use_case = parts.use_case(max_body_bytes=len(body))
    assert use_case(CONNECTION_ID, github_headers(CURRENT, body), body).duplicate is False


@pytest.mark.parametrize("connection_id", ["", "../x", "a" * 65, "id with spaces"])
def test_implausible_connection_id_is_rejected_without_a_read(connection_id: str) -> None:
    parts = Parts(FakeStore(stored_connection()))
    with pytest.raises(DeliveryRejected) as refused:
        parts.use_case()(connection_id, github_headers(CURRENT), BODY)
    assert refused.value.detail == "The delivery could not be verified."
    assert parts.store.reads == 0


def test_every_rejection_has_the_same_status_code_and_detail() -> None:
    # given an unknown id, an inactive connection and a forged signature
    causes = [
        (Parts(FakeStore(None)), github_headers(CURRENT)),
        (Parts(FakeStore(stored_connection(is_active=False))), github_headers(CURRENT)),
        (Parts(FakeStore(stored_connection())), github_headers("forged")),
    ]
    errors = []
    for parts, headers in causes:
        with pytest.raises(DeliveryRejected) as refused:
            parts.use_case()(CONNECTION_ID, headers, BODY)
        errors.append((refused.value.status, refused.value.code, refused.value.detail))
    assert errors == [(401, "invalid_signature", "The delivery could not be verified.")] * 3


def test_unknown_or_inactive_connection_costs_no_decrypt() -> None:
    for store in (FakeStore(None), FakeStore(stored_connection(is_active=False))):
        parts = Parts(store)
        with pytest.raises(DeliveryRejected):
            parts.use_case()(CONNECTION_ID, github_headers(CURRENT), BODY)
        assert parts.cipher.decrypts == 0


def test_duplicate_is_acknowledged_and_not_published() -> None:
    parts = Parts(FakeStore(stored_connection(), outcome=DeliveryOutcome.DUPLICATE))
    receipt = parts.use_case()(CONNECTION_ID, github_headers(CURRENT), BODY)
    assert receipt == DeliveryReceipt("d-1", "push", duplicate=True)
    assert parts.publisher.published == []


def test_connection_gone_at_write_time_is_rejected_and_its_secrets_forgotten() -> None:
    # given a connection deleted between the read and the conditional write
    parts = Parts(FakeStore(stored_connection(), outcome=DeliveryOutcome.CONNECTION_GONE))
    use_case = parts.use_case()
    # when two deliveries arrive
    for delivery_id in ("d-1", "d-2"):
        with pytest.raises(DeliveryRejected):
            use_case(CONNECTION_ID, github_headers(CURRENT, delivery_id=delivery_id), BODY)
    # then nothing is published and the cached secret was dropped after the first
    assert parts.publisher.published == []
    assert parts.cipher.decrypts == 2


def test_previous_secret_is_only_decrypted_inside_its_grace_window() -> None:
    expired = stored_connection(
        previous_webhook_secret=b"blob:" + PREVIOUS.encode(),
        previous_secret_expires_at=NOW,
    )
    parts = Parts(FakeStore(expired))
    with pytest.raises(DeliveryRejected):
        parts.use_case()(CONNECTION_ID, github_headers(PREVIOUS), BODY)
    assert parts.cipher.decrypts == 1  # the current secret only


def test_previous_secret_inside_its_grace_window_verifies() -> None:
    rotated = stored_connection(
        previous_webhook_secret=b"blob:" + PREVIOUS.encode(),
        previous_secret_expires_at=NOW + timedelta(seconds=1),
    )
    parts = Parts(FakeStore(rotated))
    receipt = parts.use_case()(CONNECTION_ID, github_headers(PREVIOUS), BODY)
    assert receipt.duplicate is False
    assert parts.cipher.decrypts == 2


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"not json"),
        ("application/json", b"[1, 2]"),
        ("application/json", b"\xff\xfe"),
        ("application/x-www-form-urlencoded", b"payload=not-json"),
        ("application/x-www-form-urlencoded", b"other=1"),
        ("application/x-www-form-urlencoded", urlencode([("payload", "{}"), ("payload", "{}")])),
    ],
)
def test_verified_body_that_is_not_a_json_object_is_400_and_not_recorded(
    content_type: str, body: bytes | str
) -> None:
    raw = body.encode() if isinstance(body, str) else body
    headers = github_headers(CURRENT, raw) | {"content-type": content_type}
    parts = Parts(FakeStore(stored_connection()))
    with pytest.raises(MalformedBody):
        parts.use_case()(CONNECTION_ID, headers, raw)
    assert parts.store.recorded == []


def test_form_encoded_github_body_yields_the_payload_field() -> None:
    raw = urlencode({"payload": json.dumps({"zen": "Keep it logically awesome."})}).encode()
    headers = github_headers(CURRENT, raw) | {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8"
    }
    parts = Parts(FakeStore(stored_connection()))
    parts.use_case()(CONNECTION_ID, headers, raw)
    assert parts.publisher.published[0].payload == {"zen": "Keep it logically awesome."}


def test_publish_failure_forgets_the_record_and_raises() -> None:
    parts = Parts(FakeStore(stored_connection()), publisher=FakePublisher(fails=True))
    with pytest.raises(DependencyUnavailable):
        parts.use_case()(CONNECTION_ID, github_headers(CURRENT), BODY)
    assert parts.store.forgotten == [(CONNECTION_ID, "d-1")]


def test_publish_failure_is_raised_even_when_forgetting_fails_too() -> None:
    store = FakeStore(stored_connection(), forget_fails=True)
    parts = Parts(store, publisher=FakePublisher(fails=True))
    with pytest.raises(DependencyUnavailable, match="EventBridge"):
        parts.use_case()(CONNECTION_ID, github_headers(CURRENT), BODY)


# The secret cache ----------------------------------------------------------------------------


def test_cache_entry_is_invalidated_by_a_new_updated_at_and_by_the_ttl() -> None:
    ticks = [0.0]
    cache = SecretCache(timedelta(seconds=10), monotonic=lambda: ticks[0])
    opened = object()
    cache.put("c1", NOW, opened)  # type: ignore[arg-type]
    assert cache.get("c1", NOW) is opened
    assert cache.get("c1", NOW + timedelta(seconds=1)) is None  # updatedAt moved: gone
    cache.put("c1", NOW, opened)  # type: ignore[arg-type]
    ticks[0] = 9.999
    assert cache.get("c1", NOW) is opened
    ticks[0] = 10.0
    assert cache.get("c1", NOW) is None


def test_cache_keeps_at_most_max_entries_least_recently_used_first_out() -> None:
    cache = SecretCache(timedelta(minutes=5), max_entries=2)
    a, b, c = object(), object(), object()
    cache.put("a", NOW, a)  # type: ignore[arg-type]
    cache.put("b", NOW, b)  # type: ignore[arg-type]
    assert cache.get("a", NOW) is a  # a is now the most recently used
    cache.put("c", NOW, c)  # type: ignore[arg-type]
    assert cache.get("b", NOW) is None
    assert cache.get("a", NOW) is a
    assert cache.get("c", NOW) is c
