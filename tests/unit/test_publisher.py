"""EventBridge entries for verified deliveries, and PutEvents failures, with botocore's Stubber
(no network)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from repoconn_core.errors import DependencyUnavailable
from repoconn_core.providers import ServiceType
from repoconn_core.publisher import MAX_ENTRY_BYTES, EventBridgePublisher
from repoconn_core.receive import VerifiedDelivery

RECEIVED = datetime(2026, 5, 4, 12, 0, 0, 123456, tzinfo=UTC)


def delivery(payload: dict[str, Any], body_bytes: int = 42) -> VerifiedDelivery:
    return VerifiedDelivery(
        connection_id="c-1",
        project_id="p1",
        repository_url="https://gitlab.com/acme/platform/api",
        service_type=ServiceType.GITLAB,
        event_kind="merge_request",
        delivery_id="d-1",
        received_at=RECEIVED,
        payload=payload,
        body_bytes=body_bytes,
    )


@pytest.fixture
def events() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "events",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_entry_carries_the_delivery_and_its_payload(events: tuple[Any, Stubber]) -> None:
    client, _ = events
    entry = EventBridgePublisher(client, "bus-1").entry(delivery({"object_kind": "merge_request"}))
    assert entry["Source"] == "repository-connections"
    assert entry["DetailType"] == "GitLab merge_request"
    assert entry["EventBusName"] == "bus-1"
    assert entry["Time"] == RECEIVED
    assert json.loads(entry["Detail"]) == {
        "connectionId": "c-1",
        "projectId": "p1",
        "repositoryUrl": "https://gitlab.com/acme/platform/api",
        "serviceType": "GitLab",
        "eventKind": "merge_request",
        "deliveryId": "d-1",
        "receivedAt": "2026-05-04T12:00:00.123Z",
        "payload": {"object_kind": "merge_request"},
    }


def test_payload_that_would_break_the_entry_limit_is_omitted(events: tuple[Any, Stubber]) -> None:
    client, _ = events
    big = {"blob": "é" * (MAX_ENTRY_BYTES // 2)}  # 2 bytes per character in UTF-8
    entry = EventBridgePublisher(client, "bus-1").entry(delivery(big, body_bytes=300_000))
    detail = json.loads(entry["Detail"])
    assert "payload" not in detail
    assert detail["payloadOmitted"] is True
    assert detail["payloadBytes"] == 300_000


def test_payload_under_the_limit_is_kept(events: tuple[Any, Stubber]) -> None:
    client, _ = events
    entry = EventBridgePublisher(client, "bus-1").entry(delivery({"blob": "x" * 200_000}))
    assert json.loads(entry["Detail"])["payload"] == {"blob": "x" * 200_000}


def test_publish_puts_one_entry(events: tuple[Any, Stubber]) -> None:
    client, stubber = events
    publisher = EventBridgePublisher(client, "bus-1")
    item = delivery({"a": 1})
    stubber.add_response(
        "put_events",
        {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]},
        {"Entries": [publisher.entry(item)]},
    )
    publisher.publish(item)


@pytest.mark.parametrize(
    ("code", "retry_after"), [("ThrottlingException", "2"), ("InternalException", "10")]
)
def test_failed_entry_is_dependency_unavailable(
    events: tuple[Any, Stubber], code: str, retry_after: str
) -> None:
    client, stubber = events
    stubber.add_response(
        "put_events",
        {"FailedEntryCount": 1, "Entries": [{"ErrorCode": code, "ErrorMessage": "no"}]},
    )
    with pytest.raises(DependencyUnavailable) as refused:
        EventBridgePublisher(client, "bus-1").publish(delivery({"a": 1}))
    assert refused.value.headers() == {"Retry-After": retry_after}


def test_client_error_is_dependency_unavailable(events: tuple[Any, Stubber]) -> None:
    client, stubber = events
    stubber.add_client_error("put_events", "ResourceNotFoundException", http_status_code=400)
    with pytest.raises(DependencyUnavailable) as refused:
        EventBridgePublisher(client, "bus-1").publish(delivery({"a": 1}))
    assert refused.value.status == 503
    assert refused.value.detail == "EventBridge is unavailable."
