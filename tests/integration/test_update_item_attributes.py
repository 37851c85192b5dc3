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
from typing import Any

import pytest
from pynamodb.connection.base import Connection
from repoconn_core import wiring
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


def _allowed(function: str) -> set[str]:
    [row] = [
        row
        for row in policy_rows(translated_template())
        if row[0] == function and row[1] == "dynamodb:UpdateItem"
    ]
    condition = json.loads(row[3])
    assert condition["StringEqualsIfExists"] == {
        "dynamodb:ReturnValues": ["NONE", "UPDATED_OLD", "UPDATED_NEW"]
    }
    return set(condition["ForAllValues:StringEquals"]["dynamodb:Attributes"])


@pytest.fixture
def updates(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[set[str]]]:
    """The attribute names of every UpdateItem sent from now on (key, update and condition
    expressions: pynamodb names every attribute through ExpressionAttributeNames)."""
    sent: list[set[str]] = []
    dispatch = Connection.dispatch

    def recording(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        if operation_name == "UpdateItem":
            assert operation_kwargs.get("ReturnValues", "NONE") in ("NONE", "UPDATED_NEW")
            sent.append(
                {*operation_kwargs["Key"], *operation_kwargs["ExpressionAttributeNames"].values()}
            )
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
    # when the relay publishes it
    assert deliver_to_receiver(connection_id, delivery.headers, delivery.body).status == 202
    assert len(event_bus.events()) == 1
    # then its one update (lastSyncAt) names only allowed attributes
    assert updates and all(names <= _allowed("PublishDeliveriesFunction") for names in updates)
    assert {"lastSyncAt"} <= set().union(*updates)


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
