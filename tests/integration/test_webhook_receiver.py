"""POST /webhooks/{connectionId}: through the real handler on moto (table, key, bus) with
connections made through the real PUT route against the provider simulator, plus the use case
built directly where a test needs a clock or a KMS call counter."""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from repoconn_core import wiring
from repoconn_core.cipher import SecretCipher
from repoconn_core.errors import DeliveryRejected
from repoconn_core.receive import ConnectionCache, DeliveryReceipt, ReceiveWebhook
from repoconn_core.storage.connection_store import ConnectionStore
from repoconn_core.storage.delivery_log import DeliveryLog
from repoconn_local.simulator.server import ProviderSimulator
from repoconn_providers import signatures
from repoconn_providers import wiring as provider_wiring

from tests.conftest import AWS_REGION, TEST_TABLE_NAME
from tests.integration.conftest import TEST_EVENT_BUS, EventBusTap
from tests.support.api import Api, given_connected
from tests.support.deliveries import (
    PUSH,
    SIGNATURE_HEADER,
    Delivery,
    HookKeys,
    relabelled,
    signed,
)
from tests.support.handlers import RECEIVE_WEBHOOK, HttpResult, invoke_http, webhook_event
from tests.support.simulator_control import SIM_PROVIDER, SimulatorControl

REPOS = {
    "GitHub": "https://github.com/acme/api",
    "GitLab": "https://gitlab.com/acme/platform/api",
    "Bitbucket": "https://bitbucket.org/acme/api",
}
PROVIDERS = sorted(REPOS)
TOKEN = "tok-good-webhook-receiver-0123"
MAX_BODY = 4_194_304  # Settings.webhook_max_body_bytes, the default the api fixture keeps


# Helpers -----------------------------------------------------------------------------------


def hook_keys(sim: ProviderSimulator, provider: str) -> HookKeys:
    """The one hook's secret (and GitLab signing token: the simulator's GitLab has them)."""
    hooks = SimulatorControl(sim.base_url).hooks(SIM_PROVIDER[provider])
    assert len(hooks) == 1
    return HookKeys.of(hooks[0])


def deliver(connection_id: str, delivery: Delivery, *, as_base64: bool = False) -> HttpResult:
    """POST the delivery through the real handler, as API Gateway would invoke it."""
    event = webhook_event(connection_id, delivery.headers, delivery.body)
    if as_base64:
        event["body"] = base64.b64encode(delivery.body).decode("ascii")
        event["isBase64Encoded"] = True
    return invoke_http(RECEIVE_WEBHOOK, event)


def last_sync_at(api: Api, project: str = "p1") -> str | None:
    response = api.read(project)
    assert response.status == 200
    value = response.json()["lastSyncAt"]
    return None if value is None else str(value)


REJECTED = {
    "type": "urn:repository-connections:problem:invalid_signature",
    "title": "Delivery rejected",
    "status": 401,
    "detail": "The delivery could not be verified.",
    "code": "invalid_signature",
}


def assert_rejected(response: HttpResult) -> None:
    assert response.status == 401
    assert response.headers["content-type"] == "application/problem+json"
    # the problem names the request (API Gateway's request id), which the header repeats
    request_id = response.headers["x-request-id"]
    assert request_id
    assert response.json() == {**REJECTED, "instance": request_id}


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def use_case(
    store: ConnectionStore,
    cipher: SecretCipher,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    cache: ConnectionCache | None = None,
) -> ReceiveWebhook:
    return ReceiveWebhook(
        connections=store,
        deliveries=DeliveryLog(TEST_TABLE_NAME, AWS_REGION),
        cipher=cipher,
        verify=signatures.verify_delivery,
        identify=signatures.identify,
        cache=cache or ConnectionCache(timedelta(minutes=5)),
        max_body_bytes=MAX_BODY,
        clock=clock,
    )


# Accepted deliveries -----------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_valid_delivery_is_accepted_published_and_advances_last_sync(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap, provider: str
) -> None:
    # given a connected repository and a delivery signed with its hook's secret
    created = given_connected(api, REPOS[provider], token=TOKEN)
    secret = hook_keys(sim, provider)
    delivery = signed(provider, secret)
    # when the provider delivers it
    response = deliver(created["id"], delivery)
    # then 202, lastSyncAt moves to the moment of receipt, and the event says exactly that
    assert response.status == 202
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "accepted": True,
        "duplicate": False,
        "deliveryId": delivery.delivery_id,
    }
    [event] = event_bus.events()
    synced = last_sync_at(api)
    assert synced is not None and synced != created["lastSyncAt"]
    assert event["source"] == "repository-connections"
    kind = {"GitHub": "push", "GitLab": "push", "Bitbucket": "repo:push"}[provider]
    assert event["detail-type"] == f"{provider} {kind}"
    assert event["detail"] == {
        "connectionId": created["id"],
        "projectId": "p1",
        "repositoryUrl": REPOS[provider],
        "serviceType": provider,
        "eventKind": kind,
        "deliveryId": delivery.delivery_id,
        "receivedAt": synced,
        "payload": json.loads(delivery.body),
    }


@pytest.mark.parametrize("provider", PROVIDERS)
def test_published_event_carries_no_secret_token_or_header(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap, provider: str
) -> None:
    # given a connection and a valid delivery (GitLab's carries the secret in a header)
    created = given_connected(api, REPOS[provider], token=TOKEN)
    secret = hook_keys(sim, provider)
    delivery = signed(provider, secret)
    # when it is accepted and published
    assert deliver(created["id"], delivery).status == 202
    # then neither the secret, the access token nor any signature header is in the event
    text = json.dumps(event_bus.events())
    assert secret.secret not in text
    assert secret.signing_token is None or secret.signing_token not in text
    assert TOKEN not in text
    assert delivery.headers[SIGNATURE_HEADER[provider]] not in text
    assert SIGNATURE_HEADER[provider].lower() not in text.lower()


def base64_encoded(provider: str, keys: HookKeys) -> tuple[Delivery, bool]:
    """A signed delivery that API Gateway hands over base64-encoded: the signature over the
    raw bytes must hold (GitLab's too: its hook has a signing token)."""
    return signed(provider, keys, payload=PUSH), True


def form_encoded(provider: str, keys: HookKeys) -> tuple[Delivery, bool]:
    """A GitHub hook with content type "form": the JSON is the `payload` form field, and the
    signature is checked over the form body."""
    body = urlencode({"payload": json.dumps(PUSH)}).encode()
    delivery = signed(provider, keys, body=body)
    delivery.headers["Content-Type"] = "application/x-www-form-urlencoded"
    return delivery, False


def token_only(provider: str, keys: HookKeys) -> tuple[Delivery, bool]:
    """GitLab's token alone: a hook without a signing token (the simulator's instance without
    the feature)."""
    return signed(provider, keys.secret, payload=PUSH), False


ACCEPTED_ENCODINGS = [
    *(pytest.param(provider, base64_encoded, id=f"base64-{provider}") for provider in PROVIDERS),
    pytest.param("GitHub", form_encoded, id="form-encoded-GitHub"),
    pytest.param("GitLab", token_only, id="token-only-GitLab"),
]


@pytest.mark.parametrize(("provider", "encoded"), ACCEPTED_ENCODINGS)
def test_a_delivery_in_each_accepted_encoding_is_verified_and_its_payload_published(
    api: Api,
    sim: ProviderSimulator,
    event_bus: EventBusTap,
    provider: str,
    encoded: Callable[[str, HookKeys], tuple[Delivery, bool]],
) -> None:
    # given a connected repository and a delivery of its hook, encoded this way
    if encoded is token_only:
        SimulatorControl(sim.base_url).gitlab_signing_tokens(False)
    created = given_connected(api, REPOS[provider], token=TOKEN)
    delivery, as_base64 = encoded(provider, hook_keys(sim, provider))
    # when it is delivered
    response = deliver(created["id"], delivery, as_base64=as_base64)
    # then it verifies, and the JSON payload is what is published
    assert response.status == 202
    [event] = event_bus.events()
    assert event["detail"]["payload"] == PUSH


def test_payload_too_large_for_eventbridge_is_published_without_it(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap
) -> None:
    # given a verified delivery under the body limit but over EventBridge's 256 KB entry limit
    created = given_connected(api, REPOS["GitHub"], token=TOKEN)
    big = {"ref": "refs/heads/main", "blob": "x" * 300_000}
    delivery = signed("GitHub", hook_keys(sim, "GitHub"), payload=big)
    # when it is delivered
    response = deliver(created["id"], delivery)
    # then it is accepted and the event says the payload was left out, and how big it was
    assert response.status == 202
    [event] = event_bus.events()
    assert "payload" not in event["detail"]
    assert event["detail"]["payloadOmitted"] is True
    assert event["detail"]["payloadBytes"] == len(delivery.body)
    assert event["detail"]["deliveryId"] == delivery.delivery_id


def github_push_with_commits(count: int) -> dict[str, Any]:
    """A push as GitHub's documented payload has it, with ``count`` commits (a large merge,
    a vendored dependency): how real deliveries get to megabytes."""
    author = {"name": "Monalisa Octocat", "email": "octocat@github.com", "username": "octocat"}
    return {
        "ref": "refs/heads/main",
        "before": "0" * 40,
        "after": uuid.uuid4().hex + "0" * 8,
        "repository": {"id": 1296269, "full_name": "acme/api", "private": True},
        "pusher": {"name": "octocat", "email": "octocat@github.com"},
        "commits": [
            {
                "id": f"{n:040x}",
                "tree_id": f"{n + 1:040x}",
                "distinct": True,
                "message": f"Update vendored module {n}\n\nRegenerated from upstream.",
                "timestamp": "2026-11-30T12:00:00+01:00",
                "url": f"https://github.com/acme/api/commit/{n:040x}",
                "author": author,
                "committer": author,
                "added": [f"vendor/module_{n}/file_{k}.py" for k in range(20)],
                "removed": [],
                "modified": [f"vendor/module_{n}/__init__.py"],
            }
            for n in range(count)
        ],
    }


def test_a_multi_megabyte_push_is_accepted_and_published_without_its_payload(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap
) -> None:
    # given a genuine-shaped push of about 3 MB (the old 1 MiB limit answered it 413, and
    # GitHub does not resend)
    created = given_connected(api, REPOS["GitHub"], token=TOKEN)
    delivery = signed("GitHub", hook_keys(sim, "GitHub"), payload=github_push_with_commits(2500))
    assert 2_000_000 < len(delivery.body) < MAX_BODY
    # when it is delivered
    response = deliver(created["id"], delivery)
    # then it is accepted, and published without the payload EventBridge could not carry
    assert response.status == 202
    [event] = event_bus.events()
    assert event["detail"]["payloadOmitted"] is True
    assert event["detail"]["payloadBytes"] == len(delivery.body)


# Rejected deliveries: one answer for every cause -------------------------------------------


def tampered(provider: str, keys: HookKeys) -> Delivery:
    """A signed delivery whose body is changed afterwards (GitLab: its hook has a signing
    token, and the Standard Webhooks signature covers the body)."""
    delivery = signed(provider, keys)
    return replace(delivery, body=delivery.body.replace(b"main", b"evil"))


def signed_with_another_secret(provider: str, keys: HookKeys) -> Delivery:
    return signed(provider, "not-the-hooks-secret-0123456789")


def without_the_signature_header(provider: str, keys: HookKeys) -> Delivery:
    delivery = signed(provider, keys)
    del delivery.headers[SIGNATURE_HEADER[provider]]
    return delivery


ANOTHER_SIGNING_TOKEN = "whsec_" + base64.b64encode(b"k" * 32).decode()


def forged_standard_webhooks_signature(provider: str, keys: HookKeys) -> Delivery:
    """A correct X-Gitlab-Token but a webhook-signature made with another key: the token
    alone is not enough for a hook with a signing token."""
    return signed(provider, HookKeys(keys.secret, ANOTHER_SIGNING_TOKEN))


def token_without_a_signature(provider: str, keys: HookKeys) -> Delivery:
    """What whoever learnt the X-Gitlab-Token could send: the token, no signature headers."""
    return signed(provider, keys.secret)


UNVERIFIABLE = [
    *(
        pytest.param(provider, spoil, id=f"{spoil.__name__}-{provider}")
        for spoil in (tampered, signed_with_another_secret, without_the_signature_header)
        for provider in PROVIDERS
    ),
    pytest.param(
        "GitLab", forged_standard_webhooks_signature, id="forged_standard_webhooks_signature"
    ),
    pytest.param("GitLab", token_without_a_signature, id="token_without_a_signature"),
]


@pytest.mark.parametrize(("provider", "spoil"), UNVERIFIABLE)
def test_a_delivery_that_does_not_verify_is_rejected_and_changes_nothing(
    api: Api,
    sim: ProviderSimulator,
    event_bus: EventBusTap,
    provider: str,
    spoil: Callable[[str, HookKeys], Delivery],
) -> None:
    # given a connected repository and a delivery that does not verify against its secret
    created = given_connected(api, REPOS[provider], token=TOKEN)
    delivery = spoil(provider, hook_keys(sim, provider))
    # when it is delivered
    response = deliver(created["id"], delivery)
    # then 401, nothing published, lastSyncAt untouched
    assert_rejected(response)
    assert event_bus.events() == []
    assert last_sync_at(api) == created["lastSyncAt"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unknown_deleted_and_forged_deliveries_get_the_same_answer(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap, provider: str
) -> None:
    # given a connection, a forged delivery to it, and valid deliveries to ids that do not
    # (or no longer) exist
    created = given_connected(api, REPOS[provider], token=TOKEN)
    secret = hook_keys(sim, provider)
    forged = deliver(created["id"], signed(provider, "guess-0123456789abcdef"))
    unknown = deliver(str(uuid.uuid4()), signed(provider, secret))
    malformed = deliver("x" * 300, signed(provider, secret))
    assert api.disconnect("p1").status == 200
    wiring.reset()  # another container, or this one after its read window (see below)
    deleted = deliver(created["id"], signed(provider, secret))
    # then every one is the same 401 with the same body: no oracle
    for response in (forged, unknown, malformed, deleted):
        assert_rejected(response)
    assert event_bus.events() == []


def test_a_deleted_connections_delivery_inside_the_read_window_is_never_published(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap
) -> None:
    # given a container that verified a delivery moments ago, and its hook's secret
    created = given_connected(api, REPOS["GitHub"], token=TOKEN)
    secret = hook_keys(sim, "GitHub")
    assert deliver(created["id"], signed("GitHub", secret)).status == 202
    assert len(event_bus.events()) == 1
    # when the connection is deleted and, inside the container's read window, a delivery
    # signed with the old secret arrives
    assert api.disconnect("p1").status == 200
    relayed = event_bus.relayed
    late = deliver(created["id"], signed("GitHub", secret))
    # then it may be acknowledged (the container trusts what it read for a few seconds), but
    # the relay, handed its record, reads the connection again and publishes nothing for it
    assert late.status == 202
    assert event_bus.events() == []
    assert event_bus.relayed == relayed + 1


def test_delivery_to_an_inactive_connection_is_rejected(
    api: Api, sim: ProviderSimulator, store: ConnectionStore, event_bus: EventBusTap
) -> None:
    # given a connection marked inactive
    created = given_connected(api, REPOS["GitHub"], token=TOKEN)
    stored = store.get(REPOS["GitHub"])
    assert stored is not None
    store.save(replace(stored, is_active=False), replacing=stored)
    # when a correctly signed delivery arrives
    response = deliver(created["id"], signed("GitHub", hook_keys(sim, "GitHub")))
    # then it is rejected like any other
    assert_rejected(response)
    assert event_bus.events() == []


@pytest.mark.parametrize("known", [True, False])
def test_body_over_the_limit_is_413_before_anything_else(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap, known: bool
) -> None:
    # given a body one byte over the limit, validly signed, to a known or unknown connection
    created = given_connected(api, REPOS["GitHub"], token=TOKEN)
    body = b'{"blob":"' + b"x" * (MAX_BODY - 10) + b'"}'
    assert len(body) == MAX_BODY + 1
    delivery = signed("GitHub", hook_keys(sim, "GitHub"), body=body)
    target = created["id"] if known else str(uuid.uuid4())
    # when it is delivered
    response = deliver(target, delivery)
    # then 413, whether or not the connection exists
    assert response.status == 413
    assert response.json()["code"] == "payload_too_large"
    assert event_bus.events() == []


def test_verified_body_that_is_not_json_is_400_and_not_recorded(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap
) -> None:
    # given a correctly signed body that is not JSON
    created = given_connected(api, REPOS["Bitbucket"], token=TOKEN)
    secret = hook_keys(sim, "Bitbucket")
    broken = signed("Bitbucket", secret, body=b"not json")
    # when it is delivered, then fixed and delivered again with the same id
    first = deliver(created["id"], broken)
    fixed = deliver(created["id"], signed("Bitbucket", secret, delivery_id=broken.delivery_id))
    # then 400 first (nothing recorded or published), and the retry is processed normally
    assert first.status == 400
    assert first.json()["code"] == "malformed_body"
    assert fixed.status == 202
    assert len(event_bus.events()) == 1


@pytest.mark.parametrize(
    "body",
    [
        b'{"ref": "refs/heads/main", "size": NaN}',
        b'{"ref": "refs/heads/main", "size": -Infinity}',
        b'{"ref": "refs/heads/main", "size": 1e999}',
        b"[" * 1000 + b"]" * 1000,
    ],
    ids=["NaN", "-Infinity", "1e999", "nested 1,000 deep"],
)
def test_a_verified_body_that_is_not_strict_json_is_400_and_not_recorded(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap, body: bytes
) -> None:
    # given a correctly signed body Python's json would read, but JSON does not allow (or
    # nested beyond any payload's depth)
    created = given_connected(api, REPOS["GitHub"], token=TOKEN)
    delivery = signed("GitHub", hook_keys(sim, "GitHub"), body=body)
    # when it is delivered
    response = deliver(created["id"], delivery)
    # then 400, nothing recorded or published (an Infinity in an event would stall the relay)
    assert (response.status, response.json()["code"]) == (400, "malformed_body")
    assert event_bus.events() == []


def test_every_published_event_is_strict_json(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap
) -> None:
    # given deliveries with floats, big integers and unicode, from each provider
    payload = {"ref": "refs/heads/main", "ratio": 0.1, "id": 2**63, "title": "caf\u00e9 \u2603"}
    for provider in ("GitHub", "GitLab", "Bitbucket"):
        created = given_connected(api, REPOS[provider], project=provider.lower(), token=TOKEN)
        delivered = deliver(
            created["id"], signed(provider, hook_keys(sim, provider), payload=payload)
        )
        assert delivered.status == 202
    # then each published event parses back with a parser that refuses non-finite numbers
    events = event_bus.events()
    assert len(events) == 3

    def refuse(name: str) -> None:
        raise ValueError(name)

    for event in events:
        text = json.dumps(event)
        assert json.loads(text, parse_constant=refuse) == event


@pytest.mark.parametrize(
    ("provider", "event"),
    [
        ("GitHub", "release"),
        ("GitHub", "workflow_run"),
        ("GitHub", "Admin Stuff!"),
        ("GitLab", "Tag Push Hook"),
        ("GitLab", "Issue Hook"),
        ("Bitbucket", "repo:fork"),
        ("Bitbucket", "issue:created"),
    ],
)
def test_a_kind_the_hook_does_not_subscribe_to_is_acknowledged_and_never_published(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap, provider: str, event: str
) -> None:
    # given a correctly signed delivery (a captured push, say) under an event kind the hook
    # was not registered for
    created = given_connected(api, REPOS[provider], token=TOKEN)
    synced = last_sync_at(api)
    delivery = relabelled(signed(provider, hook_keys(sim, provider)), provider, event)
    # when it is delivered, twice
    first, again = deliver(created["id"], delivery), deliver(created["id"], delivery)
    # then each is acknowledged (a 4xx makes GitLab disable the hook), nothing is recorded,
    # published or counted as a sync
    for answer in (first, again):
        assert (answer.status, answer.json()) == (
            200,
            {"accepted": False, "ignored": "not_subscribed", "deliveryId": delivery.delivery_id},
        )
    assert event_bus.events() == []
    assert last_sync_at(api) == synced


def test_a_verified_body_that_is_not_a_json_object_is_400_whatever_its_kind(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap
) -> None:
    # given a correctly signed body that is a JSON string, under a kind the hook does not
    # subscribe to (found by the contract fuzzer: it was acknowledged before the body was read)
    created = given_connected(api, REPOS["GitHub"], token=TOKEN)
    delivery = relabelled(
        signed("GitHub", hook_keys(sim, "GitHub"), body=b'"AAA"'), "GitHub", "release"
    )
    # when it is delivered, then it is refused like any malformed body
    answer = deliver(created["id"], delivery)
    assert (answer.status, answer.json()["code"]) == (400, "malformed_body")
    assert event_bus.events() == []


def test_githubs_ping_is_acknowledged_and_not_published(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap
) -> None:
    created = given_connected(api, REPOS["GitHub"], token=TOKEN)
    ping = relabelled(
        signed("GitHub", hook_keys(sim, "GitHub"), payload={"zen": "Keep it logically awesome."}),
        "GitHub",
        "ping",
    )
    answer = deliver(created["id"], ping)
    assert (answer.status, answer.json()["ignored"]) == (200, "ping")
    assert event_bus.events() == []


@pytest.mark.parametrize(
    ("provider", "event"),
    [
        ("GitHub", "pull_request"),
        ("GitLab", "Merge Request Hook"),
        ("Bitbucket", "pullrequest:created"),
        ("Bitbucket", "pullrequest:fulfilled"),
    ],
)
def test_every_subscribed_kind_is_published(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap, provider: str, event: str
) -> None:
    created = given_connected(api, REPOS[provider], token=TOKEN)
    delivery = relabelled(signed(provider, hook_keys(sim, provider)), provider, event)
    assert deliver(created["id"], delivery).status == 202
    assert len(event_bus.events()) == 1


@pytest.mark.parametrize("provider", ["GitHub", "Bitbucket", "GitLab"])
def test_a_captured_delivery_resent_under_fresh_ids_is_a_duplicate(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap, provider: str
) -> None:
    # given a delivery that was accepted (GitHub and Bitbucket do not sign the id header)
    created = given_connected(api, REPOS[provider], token=TOKEN)
    secret = hook_keys(sim, provider)
    original = signed(provider, secret)
    assert deliver(created["id"], original).status == 202
    # when the same body is sent again under three fresh delivery ids
    replays = [signed(provider, secret, body=original.body) for _ in range(3)]
    answers = [deliver(created["id"], replay) for replay in replays]
    # then each is acknowledged as a duplicate and the event is published once
    assert [(a.status, a.json()["duplicate"]) for a in answers] == [(200, True)] * 3
    assert len(event_bus.events()) == 1


def test_gitlab_events_sharing_a_fallback_id_are_not_merged(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap
) -> None:
    # given two different GitLab events with the same X-Gitlab-Event-UUID and no
    # Idempotency-Key (older GitLab; one API call can trigger both with one UUID)
    created = given_connected(api, REPOS["GitLab"], token=TOKEN)
    secret = hook_keys(sim, "GitLab")
    shared = str(uuid.uuid4())
    first, second = (
        signed("GitLab", secret, payload={**PUSH, "after": after}, delivery_id=shared)
        for after in ("a" * 40, "b" * 40)
    )
    for delivery in (first, second):
        del delivery.headers["Idempotency-Key"]
    # when both arrive
    answers = [deliver(created["id"], first), deliver(created["id"], second)]
    # then both are published: different bodies are different deliveries
    assert [a.status for a in answers] == [202, 202]
    assert len(event_bus.events()) == 2


def test_logs_carry_neither_the_secret_nor_the_body(
    api: Api,
    sim: ProviderSimulator,
    event_bus: EventBusTap,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given a GitLab connection: its deliveries carry its token in X-Gitlab-Token
    created = given_connected(api, REPOS["GitLab"], token=TOKEN)
    secret = hook_keys(sim, "GitLab")
    marker = {"note": "body-marker-7f3a"}
    capsys.readouterr()
    # when a valid and a forged delivery arrive (INFO, the level the functions run at;
    # botocore's DEBUG wire logs are never enabled in the deployed functions)
    with caplog.at_level(logging.INFO):
        accepted = deliver(created["id"], signed("GitLab", secret, payload=marker))
        assert accepted.status == 202
        assert deliver(created["id"], signed("GitLab", "forged-token-0123456789")).status == 401
    # then the accepted delivery's record is its metric line (EMF on stdout), which names it;
    # the rejection is a log record; and none of them holds the secret, the forged token or
    # the body, in the message or in any structured field
    output = capsys.readouterr().out
    emf = [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]
    assert [(line.get("deliveryId"), line.get("connectionId")) for line in emf] == [
        (accepted.json()["deliveryId"], created["id"]),
        (None, None),
    ]
    assert emf[0]["DeliveriesAccepted"] == [1.0] and emf[1]["DeliveriesRejected"] == [1.0]
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "delivery rejected" in logged
    assert secret.signing_token is not None
    for text in (logged, output):
        assert secret.secret not in text
        assert secret.signing_token not in text
        assert "forged-token-0123456789" not in text
        assert "body-marker-7f3a" not in text


# Replays -------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_replayed_delivery_is_acknowledged_as_duplicate_and_published_once(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap, provider: str
) -> None:
    # given a delivery that was accepted
    created = given_connected(api, REPOS[provider], token=TOKEN)
    delivery = signed(provider, hook_keys(sim, provider))
    first = deliver(created["id"], delivery)
    assert len(event_bus.events()) == 1
    synced = last_sync_at(api)
    # when the same delivery arrives again
    second = deliver(created["id"], delivery)
    # then it is acknowledged as a duplicate (200), not published or synced again
    assert first.status == 202
    assert second.status == 200
    assert second.json() == {
        "accepted": True,
        "duplicate": True,
        "deliveryId": delivery.delivery_id,
    }
    assert event_bus.events() == []
    assert last_sync_at(api) == synced


def test_parallel_copies_of_one_delivery_are_processed_once(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap
) -> None:
    # given one delivery sent twelve times at once, to twelve containers. The use case is
    # called from the threads, not the handler: a Lambda container runs one invocation at a
    # time, and Powertools' resolver keeps the current event in a module global.
    created = given_connected(api, REPOS["GitHub"], token=TOKEN)
    delivery = signed("GitHub", hook_keys(sim, "GitHub"))
    lower = {name.lower(): value for name, value in delivery.headers.items()}
    receivers = [provider_wiring.receive_webhook()]
    for _ in range(11):
        wiring.reset()
        receivers.append(provider_wiring.receive_webhook())
    start = threading.Barrier(len(receivers))

    def race(receive: Any) -> bool:
        start.wait()
        return bool(receive(created["id"], lower, delivery.body).duplicate)

    # when all copies race
    with ThreadPoolExecutor(max_workers=len(receivers)) as pool:
        duplicates = list(pool.map(race, receivers))
    # then exactly one is accepted and published; the others are acknowledged duplicates
    assert sorted(duplicates) == [False] + [True] * 11
    assert len(event_bus.events()) == 1


def test_a_delivery_accepted_while_eventbridge_is_down_is_published_once_it_is_back(
    api: Api, sim: ProviderSimulator, event_bus: EventBusTap, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a relay whose bus does not exist (PutEvents fails)
    created = given_connected(api, REPOS["Bitbucket"], token=TOKEN)
    delivery = signed("Bitbucket", hook_keys(sim, "Bitbucket"))
    monkeypatch.setenv("EVENT_BUS_NAME", "no-such-bus")
    wiring.reset()
    # when the delivery arrives, the relay fails (one attempt), and the provider retries it
    accepted = deliver(created["id"], delivery)
    event_bus.relay.drain(retry=False)
    assert event_bus.events(relay=False) == []
    retried = deliver(created["id"], delivery)
    # then the provider got its 202 at once, and its retry is a duplicate: nothing to redo
    assert accepted.status == 202
    assert (retried.status, retried.json()["duplicate"]) == (200, True)
    # and once the bus is back, the relay's retry publishes the delivery exactly once
    monkeypatch.setenv("EVENT_BUS_NAME", TEST_EVENT_BUS)
    wiring.reset()
    [event] = event_bus.events()
    assert event["detail"]["deliveryId"] == delivery.delivery_id
    assert last_sync_at(api) == event["detail"]["receivedAt"]


# Secret rotation: the previous secret inside and after its grace window --------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_previous_secret_is_accepted_until_its_grace_window_ends(
    api: Api,
    sim: ProviderSimulator,
    store: ConnectionStore,
    cipher: SecretCipher,
    provider: str,
) -> None:
    # given a connection whose secret a re-connect rotated
    created = given_connected(api, REPOS[provider], token=TOKEN)
    old = hook_keys(sim, provider)
    given_connected(api, REPOS[provider], token=TOKEN, expect=200)
    new = hook_keys(sim, provider)
    assert old != new
    stored = store.get_by_id(created["id"])
    assert stored is not None and stored.previous_secret_expires_at is not None
    ends = stored.previous_secret_expires_at
    clock = FakeClock(ends - timedelta(seconds=1))
    receive = use_case(store, cipher, clock=clock)
    # when the old secret signs a delivery one second before the window ends (a GitLab
    # signature is timestamped by the provider's clock, which agrees with ours)
    inside = signed(provider, old, signed_at=clock.now)
    receipt = receive(created["id"], inside.headers, inside.body)
    # then it is accepted
    kind = "repo:push" if provider == "Bitbucket" else "push"
    assert receipt == DeliveryReceipt(inside.delivery_id, kind, duplicate=False)
    # and when the window has ended (same container, secrets cached), it is refused
    clock.now = ends
    late = signed(provider, old, signed_at=ends)
    with pytest.raises(DeliveryRejected):
        receive(created["id"], late.headers, late.body)
    # while the new secret keeps working
    current = signed(provider, new, signed_at=ends)
    assert receive(created["id"], current.headers, current.body).duplicate is False


def test_after_rotation_the_new_secret_is_used_without_waiting_for_the_cache(
    api: Api, sim: ProviderSimulator, store: ConnectionStore, cipher: SecretCipher
) -> None:
    # given a container that cached the first secret
    created = given_connected(api, REPOS["GitHub"], token=TOKEN)
    receive = use_case(store, cipher)
    first = signed("GitHub", hook_keys(sim, "GitHub"))
    receive(created["id"], first.headers, first.body)
    # when a re-connect rotates the secret and the provider signs with the new one
    given_connected(api, REPOS["GitHub"], token=TOKEN, expect=200)
    fresh = signed("GitHub", hook_keys(sim, "GitHub"))
    # then the very next delivery verifies (the cache is keyed by updatedAt)
    assert receive(created["id"], fresh.headers, fresh.body).duplicate is False


# KMS: decrypted secrets are cached per container ---------------------------------------------


def test_warm_path_and_forged_deliveries_make_no_kms_calls(
    api: Api,
    sim: ProviderSimulator,
    store: ConnectionStore,
    cipher: SecretCipher,
    kms_calls: list[str],
) -> None:
    # given a connection and a fresh container
    created = given_connected(api, REPOS["GitLab"], token=TOKEN)
    secret = hook_keys(sim, "GitLab")
    receive = use_case(store, cipher)
    kms_calls.clear()
    # when a stream of forged deliveries arrives, then valid ones
    for _ in range(20):
        forged = signed("GitLab", "forged-0123456789abcdef")
        with pytest.raises(DeliveryRejected):
            receive(created["id"], forged.headers, forged.body)
    for _ in range(5):
        valid = signed("GitLab", secret)
        assert receive(created["id"], valid.headers, valid.body).duplicate is False
    # then only the first (cold) request decrypted the secret: one KMS call in all
    assert kms_calls == ["Decrypt"]


def test_rotation_costs_one_decrypt_per_secret_then_none(
    api: Api,
    sim: ProviderSimulator,
    store: ConnectionStore,
    cipher: SecretCipher,
    kms_calls: list[str],
) -> None:
    # given a warm container
    created = given_connected(api, REPOS["Bitbucket"], token=TOKEN)
    receive = use_case(store, cipher)
    warm = signed("Bitbucket", hook_keys(sim, "Bitbucket"))
    receive(created["id"], warm.headers, warm.body)
    # when a re-connect rotates the secret and deliveries continue
    given_connected(api, REPOS["Bitbucket"], token=TOKEN, expect=200)
    secret = hook_keys(sim, "Bitbucket")
    kms_calls.clear()
    for _ in range(3):
        delivery = signed("Bitbucket", secret)
        receive(created["id"], delivery.headers, delivery.body)
    # then the new and the previous secret were decrypted once each (their blobs come from
    # different writes, so different data keys), and never again
    assert kms_calls == ["Decrypt", "Decrypt"]


def test_cached_secrets_expire_after_the_ttl(
    api: Api,
    sim: ProviderSimulator,
    store: ConnectionStore,
    cipher: SecretCipher,
    kms_calls: list[str],
) -> None:
    # given a cache with a 300 s TTL on a fake monotonic clock
    created = given_connected(api, REPOS["GitHub"], token=TOKEN)
    secret = hook_keys(sim, "GitHub")
    ticks = [1000.0]
    receive = use_case(
        store, cipher, cache=ConnectionCache(timedelta(seconds=300), monotonic=lambda: ticks[0])
    )
    kms_calls.clear()
    # when deliveries arrive just before and just after the TTL
    for at in (1000.0, 1299.0, 1300.0):
        ticks[0] = at
        delivery = signed("GitHub", secret)
        receive(created["id"], delivery.headers, delivery.body)
    # then the plaintext was decrypted again once the TTL ran out
    assert kms_calls == ["Decrypt", "Decrypt"]
