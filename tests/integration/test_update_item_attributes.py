"""The UpdateItem attribute conditions of template.yaml against the requests the code really
sends: the relay (lastSyncAt), the health check (its verdict, and a repaired hook's secrets)
and re-encryption (the resealed secrets) each run through their handlers' wiring, every
UpdateItem pynamodb dispatches is recorded, and each attribute it names — key, update
expression and condition — must be in the ``dynamodb:Attributes`` list the deployed (SAM
translated) role allows that function. A code change that writes one more attribute fails
here before IAM refuses it in AWS; a role that allows more than the code writes fails the
last test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pynamodb.connection.base import Connection
from repoconn_core import wiring
from repoconn_core.delivery_history import DeliveryEntry, Outcome
from repoconn_core.storage.delivery_history import CAPACITY
from repoconn_providers.wiring import health_check

from tests.integration.conftest import EventBusTap
from tests.support.api import Api, given_connected
from tests.support.deliveries import signed
from tests.support.handlers import deliver_to_receiver
from tests.support.legacy_format import as_format_1
from tests.support.simulator_control import SimulatorControl
from tests.support.translated_template import policy_rows, translated_template

REPOSITORY = "https://github.com/acme/update-attributes"
TOKEN = "tok-good-update-attributes-0123"
WRITERS = ("PublishDeliveriesFunction", "HealthCheckFunction", "ReencryptConnectionsFunction")
# Roles that append to delivery logs (deliveries#<connectionId>), and only there.
LOG_WRITERS = ("PublishDeliveriesFunction", "WebhookReceiverFunction")
LOG_ATTRIBUTES = {"repositoryUrl", "entries", "lastDeliveryAt", "expiresAt"}


def _conditions(function: str) -> list[dict[str, Any]]:
    return [
        json.loads(row[3])
        for row in policy_rows(translated_template())
        if row[0] == function and row[1] == "dynamodb:UpdateItem"
    ]


def _allowed(function: str) -> set[str]:
    """What the function's UpdateItem on connection items (any key) may name."""
    [condition] = [c for c in _conditions(function) if "ForAllValues:StringLike" not in c]
    assert condition["StringEqualsIfExists"] == {
        "dynamodb:ReturnValues": ["NONE", "UPDATED_OLD", "UPDATED_NEW"]
    }
    return set(condition["ForAllValues:StringEquals"]["dynamodb:Attributes"])


def _allowed_on_logs(function: str) -> set[str]:
    """What the function's UpdateItem on delivery logs (deliveries#*, nothing else) may name."""
    [condition] = [c for c in _conditions(function) if "ForAllValues:StringLike" in c]
    assert condition["ForAllValues:StringLike"] == {"dynamodb:LeadingKeys": ["deliveries#*"]}
    assert condition["StringEqualsIfExists"] == {"dynamodb:ReturnValues": ["NONE"]}
    return set(condition["ForAllValues:StringEquals"]["dynamodb:Attributes"])


def _fits(function: str, key: str, names: set[str]) -> bool:
    if key.startswith("deliveries#"):
        return names <= _allowed_on_logs(function)
    return names <= _allowed(function)


keys: list[str] = []  # the key of each update in ``updates``, in order


@pytest.fixture
def updates(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[set[str]]]:
    """The attribute names of every UpdateItem sent from now on (key, update and condition
    expressions: pynamodb names every attribute through ExpressionAttributeNames)."""
    sent: list[set[str]] = []
    keys.clear()
    dispatch = Connection.dispatch

    def recording(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        if operation_name == "UpdateItem":
            assert operation_kwargs.get("ReturnValues", "NONE") in ("NONE", "UPDATED_NEW")
            sent.append(
                {*operation_kwargs["Key"], *operation_kwargs["ExpressionAttributeNames"].values()}
            )
            keys.append(operation_kwargs["Key"]["repositoryUrl"]["S"])
        return dispatch(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "dispatch", recording)
    yield sent


def test_the_relay_updates_only_what_its_role_allows(
    api: Api,
    sim_control: SimulatorControl,
    event_bus: EventBusTap,
    updates: list[set[str]],
) -> None:
    # given a connection and a verified delivery
    connection_id = given_connected(api, REPOSITORY, token=TOKEN)["id"]
    hook = sim_control.hook_of(connection_id)
    delivery = signed("GitHub", str(hook["secret"]))
    updates.clear()
    keys.clear()
    # when the relay publishes it
    assert deliver_to_receiver(connection_id, delivery.headers, delivery.body).status == 202
    assert len(event_bus.events()) == 1
    # then its updates (lastSyncAt, the delivery log) name only allowed attributes
    function = "PublishDeliveriesFunction"
    assert keys == ["https://github.com/acme/update-attributes", f"deliveries#{connection_id}"]
    assert all(_fits(function, key, names) for key, names in zip(keys, updates, strict=True))
    assert {"lastSyncAt", "entries", "lastDeliveryAt"} <= set().union(*updates)


def test_the_receiver_updates_only_the_delivery_log_of_a_duplicate(
    api: Api, sim_control: SimulatorControl, updates: list[set[str]]
) -> None:
    # given a recorded delivery
    connection_id = given_connected(api, REPOSITORY, token=TOKEN)["id"]
    secret = str(sim_control.hook_of(connection_id)["secret"])
    first = signed("GitHub", secret)
    assert deliver_to_receiver(connection_id, first.headers, first.body).status == 202
    updates.clear()
    keys.clear()
    # when its body arrives again
    again = signed("GitHub", secret, body=first.body)
    assert deliver_to_receiver(connection_id, again.headers, again.body).status == 200
    # then the one update is the duplicate's append to the log, within the role's list
    assert keys == [f"deliveries#{connection_id}"]
    assert updates[0] <= _allowed_on_logs("WebhookReceiverFunction")


def test_a_full_log_is_trimmed_with_allowed_attributes_only(
    api: Api, updates: list[set[str]]
) -> None:
    # given a delivery log at its capacity
    history = wiring.delivery_history()
    at = datetime.now(UTC)
    entries = [DeliveryEntry(f"d-{i}", "push", at, Outcome.PUBLISHED) for i in range(CAPACITY)]
    history.append_deliveries("c-full", entries, at=at)
    updates.clear()
    keys.clear()
    # when one more entry is appended (trim, then append)
    history.append_deliveries(
        "c-full", [DeliveryEntry("d-new", "push", at, Outcome.DUPLICATE)], at=at
    )
    # then every update names only what the log writers' roles allow
    assert len(updates) >= 3
    assert all(names <= LOG_ATTRIBUTES for names in updates)
    for function in LOG_WRITERS:
        assert _allowed_on_logs(function) == LOG_ATTRIBUTES


def test_the_health_check_and_its_repair_update_only_what_its_role_allows(
    api: Api, sim_control: SimulatorControl, updates: list[set[str]]
) -> None:
    # given a connection whose hook was deleted at the provider
    given_connected(api, REPOSITORY, token=TOKEN)
    stored = wiring.connection_store().get(REPOSITORY)
    assert stored is not None and stored.webhook_id is not None
    sim_control.hook_action("github", stored.webhook_id, "delete")
    updates.clear()
    # when the health check repairs it and records its verdict
    report = health_check().run()
    # then both updates name only allowed attributes
    assert (report.healthy, report.repaired) == (1, 1)
    assert len(updates) == 2
    assert all(names <= _allowed("HealthCheckFunction") for names in updates)
    assert {"webhookSecret", "healthStatus"} <= set().union(*updates)


def test_reencryption_updates_only_what_its_role_allows(
    api: Api, kms_client: Any, app_settings: Any, updates: list[set[str]]
) -> None:
    # given a format-1 item
    given_connected(api, REPOSITORY, token=TOKEN)
    store = wiring.connection_store()
    stored = store.get(REPOSITORY)
    assert stored is not None
    legacy = as_format_1(
        stored,
        kms_client,
        app_settings.kms_key_id,
        token=TOKEN,
        webhook_secret="a-format-1-webhook-secret-0123456789",
    )
    store.save(legacy, replacing=stored)
    updates.clear()
    # when it is re-encrypted
    report = wiring.reencrypt_connections().run()
    # then its one update names only allowed attributes
    assert report.reencrypted == 1
    assert len(updates) == 1
    assert updates[0] <= _allowed("ReencryptConnectionsFunction")


@pytest.mark.parametrize("function", WRITERS)
def test_no_role_may_update_what_identifies_or_owns_a_connection(function: str) -> None:
    # given the attributes the deployed role may name in an UpdateItem
    allowed = _allowed(function)
    # then the ones that decide whose connection it is, and where, are never among them
    # (repositoryUrl is the key every request names; a key cannot be updated)
    assert allowed.isdisjoint({"projectId", "serviceType", "isActive", "createdAt", "owner"})
    assert "repositoryUrl" in allowed
