"""ConnectionStore against the table built from template.yaml in moto."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from repoconn_core.delivery_events import DeliveryEvent, RecordedDelivery
from repoconn_core.errors import (
    ConcurrentModification,
    DependencyUnavailable,
    RepositoryAlreadyConnected,
)
from repoconn_core.providers import ServiceType
from repoconn_core.records import ConnectionSummary, DeliveryOutcome, StoredConnection
from repoconn_core.storage.connection_store import ConnectionStore
from repoconn_core.storage.delivery_log import DeliveryLog, recorded_delivery
from repoconn_core.storage.schema import PROJECT_INDEX_NAME, SUMMARY_ATTRIBUTES, connection_models
from repoconn_local.aws.template_schema import table_definitions

from tests.support.records import stored_connection

PROJECT = "project-1"
OTHER_PROJECT = "project-2"
WIDGETS = "https://github.com/acme/widgets"
GADGETS = "https://github.com/acme/gadgets"
CREATED = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
SECRET_ATTRIBUTES = {"accessToken", "webhookSecret", "previousWebhookSecret"}


def _connection(**overrides: Any) -> StoredConnection:
    defaults: dict[str, Any] = {
        "id": "11111111-1111-4111-8111-111111111111",
        "project_id": PROJECT,
        "repository_url": WIDGETS,
        "access_token": b"\x01sealed-token",
        "webhook_secret": b"\x01sealed-secret",
        "webhook_id": "4711",
        "last_sync_at": CREATED,
    }
    return stored_connection(CREATED, **{**defaults, **overrides})


def _raw_item(dynamodb_client: Any, table: str, key: str) -> dict[str, Any] | None:
    response = dynamodb_client.get_item(
        TableName=table, Key={"repositoryUrl": {"S": key}}, ConsistentRead=True
    )
    item: dict[str, Any] | None = response.get("Item")
    return item


def _raw_index_items(dynamodb_client: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = dynamodb_client.scan(
        TableName=table, IndexName=PROJECT_INDEX_NAME
    )["Items"]
    return items


# Reads and writes ------------------------------------------------------------------------


def test_saved_connection_reads_back_unchanged_by_repository_url(store: ConnectionStore) -> None:
    # given
    connection = _connection(
        previous_webhook_secret=b"\x01sealed-old-secret",
        previous_secret_expires_at=CREATED + timedelta(hours=1),
        health_status="healthy",
        health_reason=None,
        last_health_check_at=CREATED,
    )

    # when
    store.save(connection, replacing=None)

    # then
    assert store.get(WIDGETS) == connection


def test_current_for_project_follows_the_pointer_to_the_connection(store: ConnectionStore) -> None:
    # given
    connection = _connection()
    store.save(connection, replacing=None)

    # when
    current = store.current_for_project(PROJECT)

    # then
    assert current == connection


def test_nothing_is_found_for_a_project_without_connection(store: ConnectionStore) -> None:
    # when / then
    assert store.current_for_project(PROJECT) is None
    assert store.summary_for_project(PROJECT) is None
    assert store.exists_for_project(PROJECT) is False
    assert store.get(WIDGETS) is None


def test_summary_for_project_returns_the_non_secret_fields(store: ConnectionStore) -> None:
    # given
    store.save(_connection(health_status="degraded", health_reason="hook missing"), replacing=None)

    # when
    summary = store.summary_for_project(PROJECT)

    # then
    assert summary == ConnectionSummary(
        id="11111111-1111-4111-8111-111111111111",
        project_id=PROJECT,
        repository_url=WIDGETS,
        service_type=ServiceType.GITHUB,
        is_active=True,
        last_sync_at=CREATED,
        created_at=CREATED,
        updated_at=CREATED,
        health_status="degraded",
        health_reason="hook missing",
        last_health_check_at=None,
    )


def test_exists_for_project_is_true_once_connected(store: ConnectionStore) -> None:
    # given
    store.save(_connection(), replacing=None)

    # when / then
    assert store.exists_for_project(PROJECT) is True
    assert store.exists_for_project(OTHER_PROJECT) is False


# A read and the calls it makes: the project's summary and existence are one GSI query each;
# the current connection is its project pointer, then the item, both read consistently.
READ_CALLS = [
    ("summary_for_project", ["Query"]),
    ("exists_for_project", ["Query"]),
    ("current_for_project", ["GetItem", "GetItem"]),
]


@pytest.mark.parametrize(("read", "calls"), READ_CALLS)
def test_each_project_read_makes_exactly_its_dynamodb_calls(
    store: ConnectionStore, dynamodb_calls: list[str], read: str, calls: list[str]
) -> None:
    # given
    store.save(_connection(), replacing=None)
    dynamodb_calls.clear()

    # when
    getattr(store, read)(PROJECT)

    # then
    assert dynamodb_calls == calls


# What the GSI exposes --------------------------------------------------------------------


def test_gsi_items_carry_no_secret_attribute(
    store: ConnectionStore, dynamodb_client: Any, connections_table: str
) -> None:
    # given
    store.save(
        _connection(
            previous_webhook_secret=b"\x01old",
            previous_secret_expires_at=CREATED,
            health_status="healthy",
            health_reason="ok",
            last_health_check_at=CREATED,
        ),
        replacing=None,
    )

    # when
    items = dynamodb_client.query(
        TableName=connections_table,
        IndexName=PROJECT_INDEX_NAME,
        KeyConditionExpression="projectId = :project",
        ExpressionAttributeValues={":project": {"S": PROJECT}},
    )["Items"]

    # then
    assert len(items) == 1
    keys = {"repositoryUrl", "projectId"}
    summary = {"id", "serviceType", "isActive", "lastSyncAt", "createdAt", "updatedAt"}
    health = {"healthStatus", "healthReason", "lastHealthCheckAt"}
    assert set(items[0]) == keys | summary | health
    assert not set(items[0]) & SECRET_ATTRIBUTES


def test_project_pointer_is_stored_but_not_visible_in_the_gsi(
    store: ConnectionStore, dynamodb_client: Any, connections_table: str
) -> None:
    # given
    store.save(_connection(), replacing=None)

    # when
    pointer = _raw_item(dynamodb_client, connections_table, f"project#{PROJECT}")
    index_items = _raw_index_items(dynamodb_client, connections_table)

    # then
    assert pointer == {
        "repositoryUrl": {"S": f"project#{PROJECT}"},
        "currentRepositoryUrl": {"S": WIDGETS},
        "connectionId": {"S": "11111111-1111-4111-8111-111111111111"},
    }
    assert [item["repositoryUrl"]["S"] for item in index_items] == [WIDGETS]


def test_model_projection_matches_the_template(template: dict[str, Any]) -> None:
    # given
    definition = table_definitions(template)["ConnectionsTable"]
    (index,) = definition["GlobalSecondaryIndexes"]

    # when / then
    assert index["IndexName"] == PROJECT_INDEX_NAME
    assert index["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": list(SUMMARY_ATTRIBUTES),
    }


def test_secrets_are_stored_as_raw_binary(
    store: ConnectionStore, dynamodb_client: Any, connections_table: str
) -> None:
    # given
    store.save(_connection(), replacing=None)

    # when
    item = _raw_item(dynamodb_client, connections_table, WIDGETS)

    # then
    assert item is not None
    assert item["accessToken"] == {"B": b"\x01sealed-token"}
    assert item["webhookSecret"] == {"B": b"\x01sealed-secret"}
    assert "previousWebhookSecret" not in item


# One connection per repository, one per project ------------------------------------------


def test_repository_of_another_project_is_refused_and_left_byte_for_byte_unchanged(
    store: ConnectionStore, dynamodb_client: Any, connections_table: str
) -> None:
    # given
    store.save(_connection(), replacing=None)
    before = _raw_item(dynamodb_client, connections_table, WIDGETS)
    intruder = _connection(
        id="22222222-2222-4222-8222-222222222222",
        project_id=OTHER_PROJECT,
        access_token=b"\x01other-token",
    )

    # when
    with pytest.raises(RepositoryAlreadyConnected) as raised:
        store.save(intruder, replacing=None)

    # then
    assert (raised.value.status, raised.value.code) == (409, "repository_already_connected")
    assert _raw_item(dynamodb_client, connections_table, WIDGETS) == before
    assert _raw_item(dynamodb_client, connections_table, f"project#{OTHER_PROJECT}") is None
    assert store.current_for_project(OTHER_PROJECT) is None


def test_replacing_the_repository_writes_new_and_deletes_old_in_one_transaction(
    store: ConnectionStore, dynamodb_calls: list[str]
) -> None:
    # given
    first = _connection()
    store.save(first, replacing=None)
    moved = _connection(
        id="33333333-3333-4333-8333-333333333333",
        repository_url=GADGETS,
        updated_at=CREATED + timedelta(minutes=5),
    )
    dynamodb_calls.clear()

    # when
    store.save(moved, replacing=first)

    # then
    assert dynamodb_calls == ["TransactWriteItems"]
    assert store.get(WIDGETS) is None
    assert store.get(GADGETS) == moved
    assert store.current_for_project(PROJECT) == moved


def test_updating_the_same_repository_overwrites_the_item(store: ConnectionStore) -> None:
    # given
    first = _connection()
    store.save(first, replacing=None)
    updated = replace(first, access_token=b"\x01new-token", updated_at=CREATED + timedelta(days=1))

    # when
    store.save(updated, replacing=first)

    # then
    assert store.get(WIDGETS) == updated
    assert store.current_for_project(PROJECT) == updated


def test_second_first_connect_of_a_project_is_a_concurrent_modification(
    store: ConnectionStore,
) -> None:
    # given: two requests both saw no connection; the first one committed
    first = _connection()
    store.save(first, replacing=None)
    racing = _connection(id="44444444-4444-4444-8444-444444444444", repository_url=GADGETS)

    # when
    with pytest.raises(ConcurrentModification) as raised:
        store.save(racing, replacing=None)

    # then
    assert (raised.value.status, raised.value.code) == (409, "concurrent_modification")
    assert store.get(GADGETS) is None
    assert store.current_for_project(PROJECT) == first


def test_stale_replacing_is_a_concurrent_modification(store: ConnectionStore) -> None:
    # given: the project moved to GADGETS after this request read WIDGETS
    first = _connection()
    store.save(first, replacing=None)
    moved = _connection(id="33333333-3333-4333-8333-333333333333", repository_url=GADGETS)
    store.save(moved, replacing=first)
    stale = _connection(
        id="55555555-5555-4555-8555-555555555555",
        repository_url="https://gitlab.com/acme/tools",
        service_type=ServiceType.GITLAB,
    )

    # when
    with pytest.raises(ConcurrentModification):
        store.save(stale, replacing=first)

    # then
    assert store.get("https://gitlab.com/acme/tools") is None
    assert store.get(GADGETS) == moved
    assert store.current_for_project(PROJECT) == moved


def test_replacing_must_belong_to_the_same_project(store: ConnectionStore) -> None:
    # given
    first = _connection()

    # when / then
    with pytest.raises(ValueError, match="same project"):
        store.save(_connection(project_id=OTHER_PROJECT), replacing=first)


def test_naive_timestamps_are_refused(store: ConnectionStore) -> None:
    # when / then
    with pytest.raises(ValueError, match="timezone-aware"):
        store.save(_connection(created_at=datetime(2025, 3, 1, 9, 30)), replacing=None)


# Delete -----------------------------------------------------------------------------------


def test_delete_removes_the_connection_and_the_pointer(
    store: ConnectionStore, dynamodb_client: Any, connections_table: str
) -> None:
    # given
    connection = _connection()
    store.save(connection, replacing=None)

    # when
    deleted = store.delete(connection)

    # then
    assert deleted is True
    assert _raw_item(dynamodb_client, connections_table, WIDGETS) is None
    assert _raw_item(dynamodb_client, connections_table, f"project#{PROJECT}") is None
    assert store.exists_for_project(PROJECT) is False


def test_deleting_an_already_deleted_connection_returns_false(store: ConnectionStore) -> None:
    # given
    connection = _connection()
    store.save(connection, replacing=None)
    store.delete(connection)

    # when
    deleted = store.delete(connection)

    # then
    assert deleted is False


def test_deleting_a_replaced_connection_returns_false_and_keeps_the_new_one(
    store: ConnectionStore,
) -> None:
    # given
    first = _connection()
    store.save(first, replacing=None)
    moved = _connection(id="33333333-3333-4333-8333-333333333333", repository_url=GADGETS)
    store.save(moved, replacing=first)

    # when
    deleted = store.delete(first)

    # then
    assert deleted is False
    assert store.current_for_project(PROJECT) == moved


def test_a_deleted_repository_can_be_connected_by_another_project(store: ConnectionStore) -> None:
    # given
    first = _connection()
    store.save(first, replacing=None)
    store.delete(first)
    other = _connection(id="66666666-6666-4666-8666-666666666666", project_id=OTHER_PROJECT)

    # when
    store.save(other, replacing=None)

    # then
    assert store.current_for_project(OTHER_PROJECT) == other


# lastSyncAt -------------------------------------------------------------------------------


def test_touch_last_sync_advances_last_sync_at_only(store: ConnectionStore) -> None:
    # given
    connection = _connection()
    store.save(connection, replacing=None)
    later = CREATED + timedelta(minutes=3)

    # when
    touched = store.touch_last_sync(WIDGETS, connection.id, later)

    # then
    assert touched is True
    assert store.get(WIDGETS) == replace(connection, last_sync_at=later)


def test_touch_last_sync_never_moves_backwards(store: ConnectionStore) -> None:
    # given
    connection = _connection()
    store.save(connection, replacing=None)

    # when
    touched = store.touch_last_sync(WIDGETS, connection.id, CREATED - timedelta(seconds=1))

    # then
    assert touched is False
    assert store.get(WIDGETS) == connection


def test_touch_last_sync_of_a_replaced_connection_returns_false(store: ConnectionStore) -> None:
    # given
    store.save(_connection(), replacing=None)

    # when
    touched = store.touch_last_sync(WIDGETS, "not-this-connection", CREATED + timedelta(hours=1))

    # then
    assert touched is False
    assert store.get(WIDGETS) == _connection()


# Delivery records: replay protection and the outbox ---------------------------------------

EVENT = DeliveryEvent("GitHub push", '{"deliveryId":"d-1","payload":{"ref":"main"}}', CREATED)


def test_a_recorded_delivery_is_one_item_carrying_its_event_and_never_in_the_index(
    delivery_log: DeliveryLog, store: ConnectionStore, dynamodb_client: Any, connections_table: str
) -> None:
    # given a connection
    connection = _connection()
    store.save(connection, replacing=None)

    # when a delivery is recorded
    outcome = delivery_log.record_delivery(
        connection,
        "d-1",
        event=EVENT,
        expires_at=CREATED + timedelta(days=7),
        replay_key="sha256-body-1",
    )

    # then one item holds it, readable back as the relay will get it from the stream
    assert outcome is DeliveryOutcome.RECORDED
    key = f"delivery#{connection.id}#sha256-body-1"
    item = _raw_item(dynamodb_client, connections_table, key)
    assert item is not None and "projectId" not in item
    assert recorded_delivery("seq-1", item) == RecordedDelivery(
        position="seq-1",
        connection_id=connection.id,
        repository_url=WIDGETS,
        delivery_id="d-1",
        event=EVENT,
    )
    assert [i["id"]["S"] for i in _raw_index_items(dynamodb_client, connections_table)] == [
        connection.id
    ]


def test_a_delivery_id_is_recorded_once_until_its_record_expires(
    delivery_log: DeliveryLog,
    store: ConnectionStore,
) -> None:
    connection = _connection()
    store.save(connection, replacing=None)
    window = timedelta(days=7)

    first = delivery_log.record_delivery(
        connection, "d-1", event=EVENT, expires_at=CREATED + window, replay_key="sha256-body-1"
    )
    again = delivery_log.record_delivery(
        connection, "d-1", event=EVENT, expires_at=CREATED + window, replay_key="sha256-body-1"
    )
    later = replace(EVENT, time=CREATED + window + timedelta(seconds=1))
    expired = delivery_log.record_delivery(
        connection, "d-1", event=later, expires_at=later.time + window, replay_key="sha256-body-1"
    )

    assert (first, again, expired) == (
        DeliveryOutcome.RECORDED,
        DeliveryOutcome.DUPLICATE,
        DeliveryOutcome.RECORDED,
    )


def test_only_delivery_records_are_read_as_recorded_deliveries(
    store: ConnectionStore, dynamodb_client: Any, connections_table: str
) -> None:
    store.save(_connection(), replacing=None)
    for key in (WIDGETS, f"project#{PROJECT}", f"connection#{_connection().id}"):
        item = _raw_item(dynamodb_client, connections_table, key)
        assert item is not None
        assert recorded_delivery("seq", item) is None


def test_connections_at_reads_the_items_at_these_keys_and_skips_missing_ones(
    store: ConnectionStore, dynamodb_calls: list[str]
) -> None:
    widgets = _connection()
    gadgets = _connection(
        id="22222222-2222-4222-8222-222222222222", project_id=OTHER_PROJECT, repository_url=GADGETS
    )
    store.save(widgets, replacing=None)
    store.save(gadgets, replacing=None)
    dynamodb_calls.clear()

    found = store.connections_at([WIDGETS, GADGETS, WIDGETS, "https://github.com/acme/none"])

    assert found == {WIDGETS: widgets, GADGETS: gadgets}
    assert dynamodb_calls == ["BatchGetItem"]
    assert store.connections_at([]) == {}


# Failures ---------------------------------------------------------------------------------


def test_missing_table_is_dependency_unavailable(
    store: ConnectionStore, dynamodb_client: Any, connections_table: str
) -> None:
    # given
    dynamodb_client.delete_table(TableName=connections_table)

    # when / then
    with pytest.raises(DependencyUnavailable) as read_failure:
        store.summary_for_project(PROJECT)
    with pytest.raises(DependencyUnavailable) as write_failure:
        store.save(_connection(), replacing=None)
    assert read_failure.value.headers() == {"Retry-After": "10"}
    assert write_failure.value.code == "dependency_unavailable"


def test_models_are_cached_per_table_region_and_host() -> None:
    # when / then
    assert connection_models("t", "us-east-1") is connection_models("t", "us-east-1")
    assert connection_models("t", "us-east-1") is not connection_models("u", "us-east-1")
