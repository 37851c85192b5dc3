"""The receive use case's order of steps and outcomes, on in-memory fakes (no AWS)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr
from repoconn_core.connection_secrets import WebhookSecrets
from repoconn_core.delivery_events import DeliveryEvent, delivery_event
from repoconn_core.errors import DeliveryRejected, MalformedBody, PayloadTooLarge
from repoconn_core.receive import ConnectionCache, DeliveryReceipt, KnownConnection, ReceiveWebhook
from repoconn_core.records import DeliveryOutcome, PendingSecret, StoredConnection
from repoconn_providers import signatures

from tests.support.records import stored_connection, verified_delivery

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
CONNECTION_ID = "6f1c2b4e-0000-4000-8000-000000000001"
CURRENT = "current-secret-0123456789abcdef"
PREVIOUS = "previous-secret-0123456789abcdef"
BODY = json.dumps({"ref": "refs/heads/main"}).encode()


def stored(**changes: object) -> StoredConnection:
    """The connection the deliveries are for: its secret sealed as b"blob:<secret>"."""
    defaults = {
        "id": CONNECTION_ID,
        "access_token": b"blob:token",
        "webhook_secret": b"blob:" + CURRENT.encode(),
        "updated_at": NOW - timedelta(hours=1),
    }
    return stored_connection(NOW - timedelta(days=1), **{**defaults, **changes})


@dataclass
class FakeStore:
    stored: StoredConnection | None
    outcome: DeliveryOutcome = DeliveryOutcome.RECORDED
    reads: int = 0
    recorded: list[tuple[str, DeliveryEvent, datetime]] = field(default_factory=list)
    replay_keys: list[str] = field(default_factory=list)
    pending: PendingSecret | None = None
    pending_reads: int = 0

    def get_by_id(self, connection_id: str) -> StoredConnection | None:
        self.reads += 1
        return self.stored if self.stored and self.stored.id == connection_id else None

    def pending_secret(self, connection_id: str, now: datetime) -> PendingSecret | None:
        self.pending_reads += 1
        pending = self.pending
        if pending is None or pending.connection_id != connection_id:
            return None
        return pending if now < pending.expires_at else None

    def record_delivery(
        self, stored: StoredConnection, delivery_id: str, **at: Any
    ) -> DeliveryOutcome:
        self.replay_keys.append(at["replay_key"])
        self.recorded.append((delivery_id, at["event"], at["expires_at"]))
        return self.outcome


@dataclass
class FakeCipher:
    """Blobs are b"blob:<plaintext>"; counts decrypts like KMS calls."""

    decrypts: int = 0

    def encrypt_fields(
        self,
        *,
        project_id: str,
        repository_url: str,
        fields: Mapping[str, SecretStr],
        bindings: Mapping[str, str] | None = None,
    ) -> dict[str, bytes]:
        raise AssertionError("the receiver never encrypts")

    def decrypt_fields(
        self,
        blobs: Mapping[str, bytes],
        *,
        project_id: str,
        repository_url: str,
        bindings: Mapping[str, str] | None = None,
    ) -> dict[str, SecretStr]:
        # one webhook secret at a time; never the access token
        [(field, blob)] = blobs.items()
        assert field in ("webhookSecret", "previousWebhookSecret")
        self.decrypts += 1
        return {field: SecretStr(blob.removeprefix(b"blob:").decode())}


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


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
    ticks: Ticks = field(default_factory=Ticks)

    def use_case(self, now: datetime = NOW, max_body_bytes: int = 1024) -> ReceiveWebhook:
        return ReceiveWebhook(
            connections=self.store,
            deliveries=self.store,
            cipher=self.cipher,
            verify=signatures.verify_delivery,
            identify=signatures.identify,
            cache=ConnectionCache(
                timedelta(minutes=5), read_ttl=timedelta(seconds=5), monotonic=self.ticks
            ),
            max_body_bytes=max_body_bytes,
            clock=lambda: now,
        )

    def events(self) -> list[dict[str, object]]:
        return [json.loads(event.detail) for _, event, _ in self.store.recorded]


def test_accepted_delivery_is_recorded_with_its_event_and_the_replay_window() -> None:
    parts = Parts(FakeStore(stored()))
    receipt = parts.use_case()(CONNECTION_ID, github_headers(CURRENT), BODY)
    assert receipt == DeliveryReceipt("d-1", "push", duplicate=False)
    [(delivery_id, event, expires_at)] = parts.store.recorded
    assert (delivery_id, expires_at) == ("d-1", NOW + timedelta(days=7))
    assert event == delivery_event(
        verified_delivery(NOW, connection_id=CONNECTION_ID, body_bytes=len(BODY))
    )
    assert event.detail_type == "GitHub push"
    assert event.time == NOW


def test_body_over_the_limit_is_refused_before_the_connection_is_read() -> None:
    parts = Parts(FakeStore(stored()))
    body = b"{" + b" " * 1024 + b"}"
    with pytest.raises(PayloadTooLarge):
        parts.use_case(max_body_bytes=1024)(CONNECTION_ID, github_headers(CURRENT, body), body)
    assert parts.store.reads == 0
    assert parts.cipher.decrypts == 0


def test_body_at_the_limit_is_accepted() -> None:
    body = json.dumps({"pad": "x" * 1000}).encode()
    parts = Parts(FakeStore(stored()))
    use_case = parts.use_case(max_body_bytes=len(body))
    assert use_case(CONNECTION_ID, github_headers(CURRENT, body), body).duplicate is False


@pytest.mark.parametrize("connection_id", ["", "../x", "a" * 65, "id with spaces"])
def test_implausible_connection_id_is_rejected_without_a_read(connection_id: str) -> None:
    parts = Parts(FakeStore(stored()))
    with pytest.raises(DeliveryRejected) as refused:
        parts.use_case()(connection_id, github_headers(CURRENT), BODY)
    assert refused.value.detail == "The delivery could not be verified."
    assert parts.store.reads == 0


def test_every_rejection_has_the_same_status_code_and_detail() -> None:
    # given an unknown id, an inactive connection and a forged signature
    causes = [
        (Parts(FakeStore(None)), github_headers(CURRENT)),
        (Parts(FakeStore(stored(is_active=False))), github_headers(CURRENT)),
        (Parts(FakeStore(stored())), github_headers("forged")),
    ]
    errors = []
    for parts, headers in causes:
        with pytest.raises(DeliveryRejected) as refused:
            parts.use_case()(CONNECTION_ID, headers, BODY)
        errors.append((refused.value.status, refused.value.code, refused.value.detail))
    assert errors == [(401, "invalid_signature", "The delivery could not be verified.")] * 3


def test_unknown_or_inactive_connection_costs_no_decrypt() -> None:
    for store in (FakeStore(None), FakeStore(stored(is_active=False))):
        parts = Parts(store)
        with pytest.raises(DeliveryRejected):
            parts.use_case()(CONNECTION_ID, github_headers(CURRENT), BODY)
        assert parts.cipher.decrypts == 0


def test_duplicate_is_acknowledged_as_such() -> None:
    parts = Parts(FakeStore(stored(), outcome=DeliveryOutcome.DUPLICATE))
    receipt = parts.use_case()(CONNECTION_ID, github_headers(CURRENT), BODY)
    assert receipt == DeliveryReceipt("d-1", "push", duplicate=True)


# The warm path: one write, no read, no decrypt ------------------------------------------------


def test_warm_deliveries_read_the_connection_once_and_decrypt_once() -> None:
    # given a container that verified one delivery
    parts = Parts(FakeStore(stored()))
    use_case = parts.use_case()
    # when more arrive inside the read window
    for n in range(5):
        use_case(CONNECTION_ID, github_headers(CURRENT, delivery_id=f"d-{n}"), BODY)
        parts.ticks.now += 0.9
    # then one read and one decrypt served all of them, and each was recorded
    assert (parts.store.reads, parts.cipher.decrypts) == (1, 1)
    assert [d for d, _, _ in parts.store.recorded] == [f"d-{n}" for n in range(5)]


def test_after_the_read_window_the_item_is_read_again_but_not_decrypted() -> None:
    parts = Parts(FakeStore(stored()))
    use_case = parts.use_case()
    use_case(CONNECTION_ID, github_headers(CURRENT, delivery_id="d-1"), BODY)
    parts.ticks.now = 5.0
    use_case(CONNECTION_ID, github_headers(CURRENT, delivery_id="d-2"), BODY)
    assert (parts.store.reads, parts.cipher.decrypts) == (2, 1)


def test_a_rotation_is_seen_by_the_first_delivery_signed_with_the_new_secret() -> None:
    # given a warm container that cached the connection with its old secret
    parts = Parts(FakeStore(stored()))
    use_case = parts.use_case()
    use_case(CONNECTION_ID, github_headers(CURRENT, delivery_id="d-1"), BODY)
    # when a reconnect rotates the secret and the next delivery is signed with the new one
    parts.store.stored = stored(webhook_secret=b"blob:new-secret", updated_at=NOW)
    receipt = use_case(CONNECTION_ID, github_headers("new-secret", delivery_id="d-2"), BODY)
    # then it is accepted at once: the item was read again and the new secret decrypted
    assert receipt.duplicate is False
    assert (parts.store.reads, parts.cipher.decrypts) == (2, 2)


def test_a_forged_delivery_on_a_warm_container_costs_a_read_but_no_decrypt() -> None:
    parts = Parts(FakeStore(stored()))
    use_case = parts.use_case()
    use_case(CONNECTION_ID, github_headers(CURRENT), BODY)
    for _ in range(3):
        with pytest.raises(DeliveryRejected):
            use_case(CONNECTION_ID, github_headers("forged", delivery_id="x"), BODY)
    assert (parts.store.reads, parts.cipher.decrypts) == (4, 1)
    assert len(parts.store.recorded) == 1


def test_a_deleted_connection_is_refused_once_the_read_window_has_passed() -> None:
    # given a warm container, then the connection is deleted
    parts = Parts(FakeStore(stored()))
    use_case = parts.use_case()
    use_case(CONNECTION_ID, github_headers(CURRENT, delivery_id="d-1"), BODY)
    parts.store.stored = None
    # when a correctly signed delivery arrives inside the read window, it is still recorded
    # (the relay drops it: see test_relay.py); after the window it is refused
    use_case(CONNECTION_ID, github_headers(CURRENT, delivery_id="d-2"), BODY)
    parts.ticks.now = 5.0
    with pytest.raises(DeliveryRejected):
        use_case(CONNECTION_ID, github_headers(CURRENT, delivery_id="d-3"), BODY)
    assert [d for d, _, _ in parts.store.recorded] == ["d-1", "d-2"]


def test_previous_secret_is_only_decrypted_inside_its_grace_window() -> None:
    expired = stored(
        previous_webhook_secret=b"blob:" + PREVIOUS.encode(),
        previous_secret_expires_at=NOW,
    )
    parts = Parts(FakeStore(expired))
    with pytest.raises(DeliveryRejected):
        parts.use_case()(CONNECTION_ID, github_headers(PREVIOUS), BODY)
    assert parts.cipher.decrypts == 1  # the current secret only


def test_previous_secret_inside_its_grace_window_verifies() -> None:
    rotated = stored(
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
        # beyond json_body.py's limits: a RecursionError and a ValueError before
        ("application/json", b'{"a":' + b"[" * 100 + b"]" * 100 + b"}"),
        ("application/json", b'{"id": ' + b"9" * 100 + b"}"),
        ("application/x-www-form-urlencoded", urlencode({"payload": "[" * 70 + "]" * 70})),
    ],
)
def test_verified_body_that_is_not_a_json_object_is_400_and_not_recorded(
    content_type: str, body: bytes | str
) -> None:
    raw = body.encode() if isinstance(body, str) else body
    headers = github_headers(CURRENT, raw) | {"content-type": content_type}
    parts = Parts(FakeStore(stored()))
    with pytest.raises(MalformedBody):
        parts.use_case()(CONNECTION_ID, headers, raw)
    assert parts.store.recorded == []


def test_form_encoded_github_body_yields_the_payload_field() -> None:
    raw = urlencode({"payload": json.dumps({"zen": "Keep it logically awesome."})}).encode()
    headers = github_headers(CURRENT, raw) | {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8"
    }
    parts = Parts(FakeStore(stored()))
    parts.use_case()(CONNECTION_ID, headers, raw)
    assert parts.events()[0]["payload"] == {"zen": "Keep it logically awesome."}


# The connection cache --------------------------------------------------------------------------


def known(
    version: datetime = NOW, *, read_at: float = 0.0, opened_at: float = 0.0
) -> KnownConnection:
    return KnownConnection(
        stored(updated_at=version),
        WebhookSecrets(SecretStr(CURRENT), None),
        read_at=read_at,
        opened_at=opened_at,
    )


def test_cache_entry_is_fresh_for_the_read_ttl_and_kept_for_the_secret_ttl() -> None:
    ticks = Ticks()
    cache = ConnectionCache(timedelta(seconds=10), read_ttl=timedelta(seconds=2), monotonic=ticks)
    entry = known()
    cache.put("c1", entry)
    ticks.now = 1.999
    assert cache.fresh("c1") is entry
    ticks.now = 2.0
    assert cache.fresh("c1") is None  # read again before trusting it...
    assert cache.last("c1") is entry  # ...but its secrets may still be reused
    ticks.now = 10.0
    assert cache.last("c1") is None  # the plaintext is dropped


def test_read_ttl_never_exceeds_the_secret_ttl() -> None:
    ticks = Ticks()
    cache = ConnectionCache(timedelta(seconds=1), read_ttl=timedelta(seconds=60), monotonic=ticks)
    cache.put("c1", known())
    ticks.now = 1.0
    assert cache.fresh("c1") is None


def test_cache_keeps_at_most_max_entries_least_recently_used_first_out() -> None:
    cache = ConnectionCache(timedelta(minutes=5), max_entries=2, monotonic=Ticks())
    a, b, c = known(), known(), known()
    cache.put("a", a)
    cache.put("b", b)
    assert cache.fresh("a") is a  # a is now the most recently used
    cache.put("c", c)
    assert cache.fresh("b") is None
    assert cache.fresh("a") is a
    assert cache.fresh("c") is c


# A secret being installed (PendingSecret): verified before the connection is written --------

NEW = "new-secret-0123456789abcdef0123"


def staged(secret: str = NEW, **changes: object) -> PendingSecret:
    values: dict[str, Any] = {
        "connection_id": CONNECTION_ID,
        "project_id": "proj-1",
        "repository_url": "https://github.com/acme/widgets",
        "service_type": stored().service_type,
        "webhook_secret": b"blob:" + secret.encode(),
        "secret_generation": 1,
        "staged_at": NOW - timedelta(seconds=2),
        "expires_at": NOW + timedelta(minutes=10),
    }
    return PendingSecret(**{**values, **changes})


def ping_headers(secret: str, body: bytes) -> dict[str, str]:
    return {**github_headers(secret, body), "x-github-event": "ping"}


def test_a_first_connects_ping_verifies_against_the_staged_secret() -> None:
    # given a connect that staged its secret and is creating the hook: no connection item yet
    parts = Parts(FakeStore(None, pending=staged()))
    ping = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    # when GitHub pings the new hook before the connection is written
    receipt = parts.use_case()(CONNECTION_ID, ping_headers(NEW, ping), ping)
    # then the ping is acknowledged, and nothing is recorded
    assert receipt.ignored == "ping"
    assert parts.store.recorded == []


def test_a_push_signed_with_the_staged_secret_is_recorded_for_the_staged_connection() -> None:
    # given no connection item yet, and a push the new hook sends at once
    parts = Parts(FakeStore(None, pending=staged(project_id="proj-9")))
    receipt = parts.use_case()(CONNECTION_ID, github_headers(NEW), BODY)
    # then it is recorded for the project and repository being connected
    assert receipt == DeliveryReceipt("d-1", "push", duplicate=False)
    [event] = parts.events()
    assert (event["connectionId"], event["projectId"]) == (CONNECTION_ID, "proj-9")


def test_during_a_rotation_the_new_and_the_stored_secret_both_verify() -> None:
    # given a stored connection (CURRENT) whose reconnect staged NEW and updated the hook
    parts = Parts(FakeStore(stored(), pending=staged()))
    use_case = parts.use_case()
    # then deliveries signed with either are accepted
    assert use_case(CONNECTION_ID, github_headers(NEW, delivery_id="n"), BODY).delivery_id == "n"
    other = json.dumps({"ref": "refs/heads/other"}).encode()
    assert use_case(CONNECTION_ID, github_headers(CURRENT, other), other).duplicate is False


def test_a_delivery_the_stored_secrets_verify_never_reads_the_staged_one() -> None:
    parts = Parts(FakeStore(stored(), pending=staged()))
    parts.use_case()(CONNECTION_ID, github_headers(CURRENT), BODY)
    assert parts.store.pending_reads == 0


@pytest.mark.parametrize(
    ("store", "secret"),
    [
        (FakeStore(None, pending=staged()), "forged-secret"),
        (FakeStore(None, pending=staged(expires_at=NOW)), NEW),
        (FakeStore(stored(), pending=staged()), "forged-secret"),
        (FakeStore(None, pending=staged(connection_id=CONNECTION_ID[:-1] + "2")), NEW),
    ],
    ids=["forged", "expired", "forged-with-a-connection", "staged-for-another-connection"],
)
def test_the_staged_secret_admits_nothing_else(store: FakeStore, secret: str) -> None:
    with pytest.raises(DeliveryRejected):
        Parts(store).use_case()(CONNECTION_ID, github_headers(secret), BODY)
    assert store.recorded == []


def test_forgeries_during_a_stage_open_the_staged_secret_once() -> None:
    # given a connect in progress, and a container receiving forged deliveries meanwhile
    parts = Parts(FakeStore(None, pending=staged()))
    use_case = parts.use_case()
    for attempt in range(5):
        with pytest.raises(DeliveryRejected):
            use_case(CONNECTION_ID, github_headers(f"forged-{attempt}"), BODY)
    # then the staged secret was decrypted once, not once per forgery
    assert parts.cipher.decrypts == 1
    assert parts.store.pending_reads == 5
