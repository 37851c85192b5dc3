"""GitLab signing tokens (issue 16): connecting registers one where the instance supports it,
the connection remembers whether its hook signs, and the receiver then requires a Standard
Webhooks signature - checked against the spec's reference implementation (the
``standardwebhooks`` package), not only our own code.

Deliveries made by the simulator travel over real HTTP: its hooks call a loopback server that
hands each request to the real receiver handler, as API Gateway would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from repoconn_core import wiring
from repoconn_core.connection_secrets import ConnectionSecrets
from repoconn_core.providers import STANDARD_WEBHOOKS
from repoconn_core.records import StoredConnection
from repoconn_core.settings import Settings
from repoconn_local.simulator.server import ProviderSimulator
from repoconn_providers.signatures import gitlab_signing_token, gitlab_token
from repoconn_providers.wiring import health_check
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.integration.conftest import EventBusTap
from tests.support.api import Api, given_connected
from tests.support.deliveries import Delivery, HookKeys, fresh_push, signed
from tests.support.environment import simulator_settings
from tests.support.handlers import HttpResult, deliver_to_receiver
from tests.support.loopback import LoopbackServer, Received, Reply
from tests.support.simulator_control import SimHook, SimulatorControl

REPOSITORY = "https://gitlab.com/acme/platform/signed"
TOKEN = "tok-good-gitlab-signing-0123"


# Fixtures and helpers ------------------------------------------------------------------------


def _to_receiver(request: Received) -> Reply:
    """The receiver route: POST /webhooks/{connectionId} → the real handler."""
    connection_id = request.path.rstrip("/").rsplit("/", 1)[-1]
    answer = deliver_to_receiver(connection_id, request.headers, request.body)
    return Reply(answer.status, answer.text.encode())


@pytest.fixture
def gateway() -> Iterator[LoopbackServer]:
    with LoopbackServer(_to_receiver) as server:
        yield server


@pytest.fixture
def app_settings(
    sim: ProviderSimulator, connections_table: str, kms_key_id: str, gateway: LoopbackServer
) -> Settings:
    # Hooks call the loopback gateway, so the simulator's deliveries reach the handler.
    return simulator_settings(
        sim, table_name=connections_table, kms_key_id=kms_key_id, webhook_base_url=gateway.url
    )


def stored() -> StoredConnection:
    connection = wiring.connection_store().get(REPOSITORY)
    assert connection is not None
    return connection


def webhook_secret(connection: StoredConnection) -> SecretStr:
    return ConnectionSecrets(wiring.secret_cipher()).webhook_secret(connection)


def the_hook(sim_control: SimulatorControl) -> SimHook:
    [hook] = sim_control.hooks("gitlab")
    return hook


def sim_delivers(sim_control: SimulatorControl, hook: SimHook) -> int:
    """The simulator sends a new push to the hook's URL; the receiver's status."""
    response = sim_control.deliver_raw(
        "gitlab", hook["id"], {"event": "push", "payload": fresh_push()}
    )
    response.raise_for_status()
    return int(response.json()["status"])


def deliver(connection_id: str, headers: dict[str, str], body: bytes) -> HttpResult:
    return deliver_to_receiver(connection_id, headers, body)


def hmac_signature(key: bytes, message_id: str, stamp: str, body: bytes) -> str:
    digest = hmac.new(key, f"{message_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


# Connecting ----------------------------------------------------------------------------------


def test_connect_registers_a_signing_token_and_deliveries_from_the_hook_verify(
    api: Api, sim_control: SimulatorControl, gateway: LoopbackServer, event_bus: EventBusTap
) -> None:
    # given a GitLab instance with signing tokens
    # when a project connects
    created = given_connected(api, REPOSITORY, token=TOKEN)
    # then the hook got a token and a signing token, both derived from the stored secret
    connection = stored()
    secret = webhook_secret(connection)
    hook = the_hook(sim_control)
    assert connection.webhook_signing == STANDARD_WEBHOOKS
    assert hook["secret"] == gitlab_token(secret)
    assert hook["signingToken"] == gitlab_signing_token(secret)
    assert secret.get_secret_value() not in (hook["secret"], hook["signingToken"])
    # and the public answer says nothing about either
    assert "signing" not in json.dumps(created).lower()
    # and a delivery the simulator signs is accepted through the real handler
    assert sim_delivers(sim_control, hook) == 202
    [received] = gateway.received
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(received.headers)
    assert received.headers["webhook-id"] == received.headers["Idempotency-Key"]
    assert len(event_bus.events()) == 1


def test_the_simulators_signature_verifies_with_the_reference_library(
    api: Api, sim_control: SimulatorControl, gateway: LoopbackServer
) -> None:
    # given a connected hook and one delivery it made, as it arrived over HTTP
    given_connected(api, REPOSITORY, token=TOKEN)
    hook = the_hook(sim_control)
    assert sim_delivers(sim_control, hook) == 202
    [received] = gateway.received
    signing_token = hook["signingToken"]
    assert signing_token is not None
    # when the reference implementation verifies it with the listed signing token
    verified = Webhook(signing_token).verify(received.body, received.headers)
    # then it passes; and with another key, or the X-Gitlab-Token as the key, it does not
    assert verified == json.loads(received.body)
    another = "whsec_" + base64.b64encode(b"k" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(another).verify(received.body, received.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(str(hook["secret"]).encode()).verify(received.body, received.headers)


def test_connect_without_signing_tokens_stores_no_flag_and_deliveries_verify(
    api: Api, sim_control: SimulatorControl, event_bus: EventBusTap
) -> None:
    # given a GitLab instance without the feature (signing_token silently ignored)
    sim_control.gitlab_signing_tokens(False)
    # when a project connects
    given_connected(api, REPOSITORY, token=TOKEN)
    # then the hook has the derived token only, the connection no signing flag
    connection = stored()
    hook = the_hook(sim_control)
    assert connection.webhook_signing is None
    assert hook["signingToken"] is None
    assert hook["secret"] == gitlab_token(webhook_secret(connection))
    # and the hook's token-only deliveries are accepted
    assert sim_delivers(sim_control, hook) == 202
    assert len(event_bus.events()) == 1


def test_the_flag_follows_the_instance_across_reconnects_and_a_health_repair(
    api: Api, sim_control: SimulatorControl
) -> None:
    # given a connection made while the instance had no signing tokens
    sim_control.gitlab_signing_tokens(False)
    given_connected(api, REPOSITORY, token=TOKEN)
    assert stored().webhook_signing is None
    # when the instance gains the feature and the project reconnects
    sim_control.gitlab_signing_tokens(True)
    given_connected(api, REPOSITORY, token=TOKEN, expect=200)
    # then the hook signs, and the connection says so; deliveries verify
    assert stored().webhook_signing == STANDARD_WEBHOOKS
    assert sim_delivers(sim_control, the_hook(sim_control)) == 202
    # and when the feature goes away and the hook is deleted, the health check's new hook
    # has no signing token and the flag is cleared with it
    sim_control.gitlab_signing_tokens(False)
    sim_control.hook_action("gitlab", the_hook(sim_control)["id"], "delete")
    report = health_check().run()
    assert report.repaired == 1
    assert stored().webhook_signing is None
    assert sim_delivers(sim_control, the_hook(sim_control)) == 202
    # and back on: a repair registers a signing token again
    sim_control.gitlab_signing_tokens(True)
    sim_control.hook_action("gitlab", the_hook(sim_control)["id"], "delete")
    assert health_check().run().repaired == 1
    assert stored().webhook_signing == STANDARD_WEBHOOKS
    assert sim_delivers(sim_control, the_hook(sim_control)) == 202


# The receiver against the reference implementation --------------------------------------


@pytest.fixture
def connected(api: Api, sim_control: SimulatorControl) -> tuple[str, HookKeys]:
    """A connection whose hook has a signing token, and the hook's keys as listed."""
    created = given_connected(api, REPOSITORY, token=TOKEN)
    keys = HookKeys.of(the_hook(sim_control))
    assert keys.signing_token is not None
    return str(created["id"]), keys


def test_a_delivery_signed_by_the_reference_library_is_accepted(
    connected: tuple[str, HookKeys], event_bus: EventBusTap
) -> None:
    # given a delivery signed by the reference implementation with the listed signing token
    connection_id, keys = connected
    delivery = signed("GitLab", keys)
    # when it is delivered, then it is accepted and published
    assert deliver(connection_id, delivery.headers, delivery.body).status == 202
    assert len(event_bus.events()) == 1


def test_several_signatures_one_of_them_valid_are_accepted(
    connected: tuple[str, HookKeys], event_bus: EventBusTap
) -> None:
    # given a sender rotating keys: a signature with another key, an unknown version, ours
    connection_id, keys = connected
    delivery = signed("GitLab", keys)
    other = HookKeys(keys.secret, "whsec_" + base64.b64encode(b"o" * 32).decode())
    foreign = signed("GitLab", other, body=delivery.body, delivery_id=delivery.delivery_id)
    ours = delivery.headers["webhook-signature"]
    delivery.headers["webhook-signature"] = (
        f"{foreign.headers['webhook-signature']} v2,{ours[3:]} {ours}"
    )
    # when / then
    assert deliver(connection_id, delivery.headers, delivery.body).status == 202
    assert len(event_bus.events()) == 1


def _wrong_key(keys: HookKeys) -> Delivery:
    return signed("GitLab", HookKeys(keys.secret, "whsec_" + base64.b64encode(b"w" * 32).decode()))


def _keyed_with_the_token(keys: HookKeys) -> Delivery:
    # The bug issue 16 found: webhook-signature checked with the X-Gitlab-Token's raw bytes.
    delivery = signed("GitLab", keys.secret)
    stamp = str(int(datetime.now(UTC).timestamp()))
    signature = hmac_signature(keys.secret.encode(), delivery.delivery_id, stamp, delivery.body)
    delivery.headers.update(
        {
            "webhook-id": delivery.delivery_id,
            "webhook-timestamp": stamp,
            "webhook-signature": signature,
        }
    )
    return delivery


def _six_minutes_old(keys: HookKeys) -> Delivery:
    return signed("GitLab", keys, signed_at=datetime.now(UTC) - timedelta(minutes=6))


def _six_minutes_ahead(keys: HookKeys) -> Delivery:
    return signed("GitLab", keys, signed_at=datetime.now(UTC) + timedelta(minutes=6))


def _token_only(keys: HookKeys) -> Delivery:
    # What whoever learnt the X-Gitlab-Token could send: it, without the signature headers.
    return signed("GitLab", keys.secret)


def _token_wrong(keys: HookKeys) -> Delivery:
    delivery = signed("GitLab", keys)
    delivery.headers["X-Gitlab-Token"] = "not-the-hooks-token-0123456789abcdef"
    return delivery


def _token_missing(keys: HookKeys) -> Delivery:
    delivery = signed("GitLab", keys)
    del delivery.headers["X-Gitlab-Token"]
    return delivery


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(_wrong_key, id="signed-with-another-key"),
        pytest.param(_keyed_with_the_token, id="keyed-with-the-x-gitlab-token-bytes"),
        pytest.param(_six_minutes_old, id="timestamp-6-minutes-old"),
        pytest.param(_six_minutes_ahead, id="timestamp-6-minutes-ahead"),
        pytest.param(_token_only, id="correct-token-no-signature"),
        pytest.param(_token_wrong, id="valid-signature-wrong-token"),
        pytest.param(_token_missing, id="valid-signature-no-token"),
    ],
)
def test_a_signing_connection_refuses(
    connected: tuple[str, HookKeys],
    event_bus: EventBusTap,
    spoil: Callable[[HookKeys], Delivery],
) -> None:
    # given a delivery to a connection whose hook signs, spoilt one way
    connection_id, keys = connected
    delivery = spoil(keys)
    # when it is delivered, then 401 and nothing is published
    answer = deliver(connection_id, delivery.headers, delivery.body)
    assert (answer.status, answer.json()["code"]) == (401, "invalid_signature")
    assert event_bus.events() == []


def test_the_refused_deliveries_would_pass_without_their_fault(
    connected: tuple[str, HookKeys], event_bus: EventBusTap
) -> None:
    # (control: a fresh delivery with the same keys, 4 minutes old, is accepted)
    connection_id, keys = connected
    delivery = signed("GitLab", keys, signed_at=datetime.now(UTC) - timedelta(minutes=4))
    assert deliver(connection_id, delivery.headers, delivery.body).status == 202
    assert len(event_bus.events()) == 1
