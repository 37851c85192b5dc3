"""Calls per operation, through the real handlers (the ``api`` fixture: settings from the
environment, parts built by wiring, AWS on moto, providers on the simulator).

The read routes are the frontend's hot path: ``exists`` is one DynamoDB Query on the GSI and
nothing else; GET connection and GET deliveries add one GetItem of the connection's delivery
log (lastDeliveryAt, or the log), which the GSI cannot project.
A connect costs one KMS GenerateDataKey per secret field (format 2, a data key per field: two);
a reconnect of the same repository also opens the secret it rotates out (one Decrypt) and seals
it again as the previous one with its expiry (a third GenerateDataKey).
A warm webhook receiver makes one AWS call per delivery, the PutItem of its record
(connection and decrypted secrets are cached per container; publishing is the relay's), and
the relay publishes a batch with one read, one PutEvents per 10 events and one update per
connection. ``make bench`` measures the same counts against DynamoDB Local; this test keeps
them from regressing.

The handlers' cipher and event publisher use their own boto3 clients from wiring, created on
first use from boto3's default session: the KMS counter is registered on that session's
events before the first handler call, so every client created afterwards reports to it.
DynamoDB calls are pynamodb's, counted by ``dynamodb_calls``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from repoconn_core import wiring
from repoconn_local.simulator.server import ProviderSimulator

from tests.integration.conftest import EventBusTap
from tests.support.api import Api, given_connected
from tests.support.deliveries import signed
from tests.support.handlers import deliver_to_receiver
from tests.support.simulator_control import SimulatorControl

REPOSITORY = "https://github.com/acme/call-counts"
TOKEN = "tok-good-call-counts-0123"


def _operations(service: str) -> Iterator[list[str]]:
    """Operations of ``service`` by every boto3 client the handlers create from now on."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    assert session is not None
    calls: list[str] = []

    def record(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    session.events.register(f"before-call.{service}", record)
    yield calls
    session.events.unregister(f"before-call.{service}", record)


@pytest.fixture
def kms_operations(api: Api) -> Iterator[list[str]]:
    yield from _operations("kms")


@pytest.fixture
def eventbridge_operations(api: Api) -> Iterator[list[str]]:
    yield from _operations("events")


def deliver(sim_control: SimulatorControl, connection_id: str, secret: str | None = None) -> int:
    """A signed GitHub push with a fresh delivery id, through the real receiver handler;
    signed with the connection's current hook secret unless ``secret`` is given."""
    if secret is None:
        secret = str(sim_control.hook_of(connection_id)["secret"])
    delivery = signed("GitHub", secret)
    return deliver_to_receiver(connection_id, delivery.headers, delivery.body).status


# Reads -------------------------------------------------------------------------------------


@pytest.mark.parametrize("container", ["warm", "fresh"])
@pytest.mark.parametrize(
    ("suffix", "calls"),
    [("", ["Query", "GetItem"]), ("/exists", ["Query"]), ("/deliveries", ["Query", "GetItem"])],
    ids=["get", "exists", "deliveries"],
)
def test_a_read_is_one_gsi_query_and_at_most_one_delivery_log_read(
    api: Api,
    sim_control: SimulatorControl,
    kms_operations: list[str],
    dynamodb_calls: list[str],
    suffix: str,
    calls: list[str],
    container: str,
) -> None:
    # given a connected project, and read handlers that have served a read (warm) or a
    # container that has served nothing yet (fresh)
    given_connected(api, REPOSITORY, token=TOKEN)
    if container == "warm":
        api.read("p1", suffix)
    else:
        wiring.reset()
    dynamodb_calls.clear()
    kms_operations.clear()
    sim_control.clear_requests()

    # when the frontend asks
    response = api.read("p1", suffix)

    # then one GSI query (and the delivery log's GetItem) answered it, no DescribeTable or
    # other warm-up call before it: no KMS, no provider
    assert response.status == 200
    assert dynamodb_calls == calls
    assert kms_operations == []
    assert sim_control.requests() == []


# Writes ------------------------------------------------------------------------------------


def test_a_first_connect_costs_one_generate_data_key_per_secret(
    api: Api, sim: ProviderSimulator, kms_operations: list[str]
) -> None:
    # when
    given_connected(api, REPOSITORY, token=TOKEN)

    # then the token and the webhook secret, each under its own data key
    assert kms_operations == ["GenerateDataKey", "GenerateDataKey"]


def test_a_reconnect_seals_the_rotated_out_secret_again_with_its_expiry(
    api: Api, sim: ProviderSimulator, kms_operations: list[str]
) -> None:
    # given
    given_connected(api, REPOSITORY, token=TOKEN)
    kms_operations.clear()

    # when
    given_connected(api, REPOSITORY, token=TOKEN, expect=200)

    # then the current secret is opened once, and three fields are sealed: token, new secret,
    # and the old one as previousWebhookSecret (its expiry in its binding)
    assert kms_operations == ["Decrypt", "GenerateDataKey", "GenerateDataKey", "GenerateDataKey"]


# Webhook receiver --------------------------------------------------------------------------


def test_a_warm_receiver_makes_no_kms_call(
    api: Api, sim_control: SimulatorControl, event_bus: EventBusTap, kms_operations: list[str]
) -> None:
    # given a connection and a receiver that has verified one delivery (one Decrypt)
    connection_id = given_connected(api, REPOSITORY, token=TOKEN)["id"]
    kms_operations.clear()
    assert deliver(sim_control, connection_id) == 202
    assert kms_operations == ["Decrypt"]
    kms_operations.clear()

    # when more deliveries arrive
    statuses = [deliver(sim_control, connection_id) for _ in range(3)]

    # then each is verified with the cached secret
    assert statuses == [202, 202, 202]
    assert kms_operations == []


def test_a_warm_receiver_makes_one_call_per_delivery_the_put_of_its_record(
    api: Api,
    sim_control: SimulatorControl,
    event_bus: EventBusTap,
    dynamodb_calls: list[str],
    eventbridge_operations: list[str],
) -> None:
    # given a receiver that has read this connection once (id pointer, then item)
    connection_id = given_connected(api, REPOSITORY, token=TOKEN)["id"]
    dynamodb_calls.clear()
    assert deliver(sim_control, connection_id) == 202
    assert dynamodb_calls == ["GetItem", "GetItem", "PutItem"]
    dynamodb_calls.clear()

    # when the next deliveries arrive
    statuses = [deliver(sim_control, connection_id) for _ in range(3)]

    # then each is one PutItem, and nothing is published synchronously
    assert statuses == [202, 202, 202]
    assert dynamodb_calls == ["PutItem"] * 3
    assert eventbridge_operations == []


def test_a_warm_receiver_answers_a_duplicate_with_its_put_and_one_log_append(
    api: Api, sim_control: SimulatorControl, dynamodb_calls: list[str]
) -> None:
    # given a warm receiver that recorded a push
    connection_id = given_connected(api, REPOSITORY, token=TOKEN)["id"]
    secret = str(sim_control.hook_of(connection_id)["secret"])
    first = signed("GitHub", secret)
    assert deliver_to_receiver(connection_id, first.headers, first.body).status == 202
    dynamodb_calls.clear()

    # when the same body arrives again
    again = signed("GitHub", secret, body=first.body)
    status = deliver_to_receiver(connection_id, again.headers, again.body).status

    # then its conditional PutItem found the record, and one UpdateItem logged the duplicate
    assert status == 200
    assert dynamodb_calls == ["PutItem", "GetItem", "UpdateItem"]


def test_the_relay_publishes_a_batch_with_one_read_one_put_events_and_two_updates(
    api: Api,
    sim_control: SimulatorControl,
    event_bus: EventBusTap,
    dynamodb_calls: list[str],
    eventbridge_operations: list[str],
) -> None:
    # given five recorded deliveries of one connection
    connection_id = given_connected(api, REPOSITORY, token=TOKEN)["id"]
    assert [deliver(sim_control, connection_id) for _ in range(5)] == [202] * 5
    dynamodb_calls.clear()

    # when the relay gets them (one batch: the template's BatchSize is larger)
    assert len(event_bus.events()) == 5

    # then one BatchGetItem, one PutEvents, one lastSyncAt update and one append to the
    # connection's delivery log served all five
    assert dynamodb_calls == ["BatchGetItem", "UpdateItem", "UpdateItem"]
    assert eventbridge_operations == ["PutEvents"]


def test_a_receiver_that_reads_again_rejects_a_deleted_connection(
    api: Api, sim_control: SimulatorControl, event_bus: EventBusTap, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a receiver that reads the connection on every delivery (read window 0) and has
    # verified one, and the hook's secret
    monkeypatch.setenv("CONNECTION_CACHE_TTL_SECONDS", "0")
    wiring.reset()
    connection_id = given_connected(api, REPOSITORY, token=TOKEN)["id"]
    assert deliver(sim_control, connection_id) == 202
    (hook,) = sim_control.hooks()

    # when the connection is deleted and a delivery signed with the old secret arrives
    assert api.disconnect("p1").status == 200
    status = deliver(sim_control, connection_id, secret=str(hook["secret"]))

    # then it is rejected as any unknown connection is
    assert status == 401
