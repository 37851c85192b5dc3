"""The one field table: a connection record and its item map into each other through it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from repoconn_core.providers import ServiceType
from repoconn_core.records import StoredConnection
from repoconn_core.storage.schema import (
    CONNECTION_ATTRIBUTES,
    SUMMARY_ATTRIBUTES,
    ConnectionItem,
    to_item,
    to_stored,
    to_summary,
)

AT = datetime(2026, 3, 1, 9, 30, 15, 123000, tzinfo=UTC)
CONNECTION = StoredConnection(
    id="c-1",
    project_id="p-1",
    repository_url="https://gitlab.com/acme/platform/api",
    service_type=ServiceType.GITLAB,
    access_token=b"\x01token-blob",
    webhook_secret=b"\x01secret-blob",
    webhook_id="42",
    is_active=True,
    last_sync_at=AT,
    created_at=AT - timedelta(days=1),
    updated_at=AT,
    previous_webhook_secret=b"\x01old-secret-blob",
    previous_secret_expires_at=AT + timedelta(hours=1),
    health_status="degraded",
    health_reason="webhook is disabled at the provider",
    last_health_check_at=AT,
)


def test_the_item_model_has_exactly_the_attributes_of_the_field_table() -> None:
    assert set(ConnectionItem.get_attributes()) == set(CONNECTION_ATTRIBUTES.values())


def test_field_names_map_to_their_camel_case_attributes() -> None:
    assert CONNECTION_ATTRIBUTES["previous_secret_expires_at"] == "previousSecretExpiresAt"
    assert CONNECTION_ATTRIBUTES["id"] == "id"
    assert SUMMARY_ATTRIBUTES == (
        "id",
        "serviceType",
        "isActive",
        "lastSyncAt",
        "createdAt",
        "updatedAt",
        "healthStatus",
        "healthReason",
        "lastHealthCheckAt",
    )


def test_a_connection_reads_back_from_its_item_unchanged() -> None:
    item = to_item(ConnectionItem, CONNECTION)
    assert item.serviceType == "GitLab"
    assert item.previousWebhookSecret == b"\x01old-secret-blob"
    assert to_stored(item) == CONNECTION
    assert to_summary(item) == CONNECTION.summary()


def test_a_naive_timestamp_is_refused_before_anything_is_written() -> None:
    naive = StoredConnection(**{**vars(CONNECTION), "updated_at": datetime(2026, 3, 1, 9, 30)})
    with pytest.raises(ValueError, match="timezone-aware"):
        to_item(ConnectionItem, naive)
