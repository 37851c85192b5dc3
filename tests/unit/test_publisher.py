"""Delivery events (delivery_events.py) and publishing them in PutEvents batches
(publisher.py), with botocore's Stubber (no network)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from repoconn_core.delivery_events import (
    MAX_ENTRY_BYTES,
    DeliveryEvent,
    VerifiedDelivery,
    delivery_event,
)
from repoconn_core.providers import ServiceType
from repoconn_core.publisher import EventBridgePublisher

from tests.support.records import verified_delivery

RECEIVED = datetime(2026, 5, 4, 12, 0, 0, 123456, tzinfo=UTC)


def delivery(payload: dict[str, Any], body_bytes: int = 42) -> VerifiedDelivery:
    return verified_delivery(
        RECEIVED,
        repository_url="https://gitlab.com/acme/platform/api",
        service_type=ServiceType.GITLAB,
        event_kind="merge_request",
        payload=payload,
        body_bytes=body_bytes,
    )


def event(n: int, detail_bytes: int = 10) -> DeliveryEvent:
    return DeliveryEvent(
        detail_type="GitHub push",
        detail=json.dumps({"n": n, "pad": "x" * detail_bytes}),
        time=RECEIVED + timedelta(seconds=n),
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


# The event ------------------------------------------------------------------------------------


def test_event_carries_the_delivery_and_its_payload() -> None:
    made = delivery_event(delivery({"object_kind": "merge_request"}))
    assert made.detail_type == "GitLab merge_request"
    assert made.time == RECEIVED
    assert json.loads(made.detail) == {
        "connectionId": "c-1",
        "projectId": "p1",
        "repositoryUrl": "https://gitlab.com/acme/platform/api",
        "serviceType": "GitLab",
        "eventKind": "merge_request",
        "deliveryId": "d-1",
        "receivedAt": "2026-05-04T12:00:00.123Z",
        "payload": {"object_kind": "merge_request"},
    }


def test_payload_that_would_break_the_entry_limit_is_omitted() -> None:
    big = {"blob": "é" * (MAX_ENTRY_BYTES // 2)}  # 2 bytes per character in UTF-8
    detail = json.loads(delivery_event(delivery(big, body_bytes=300_000)).detail)
    assert "payload" not in detail
    assert detail["payloadOmitted"] is True
    assert detail["payloadBytes"] == 300_000


def test_payload_under_the_limit_is_kept() -> None:
    made = delivery_event(delivery({"blob": "x" * 200_000}))
    assert json.loads(made.detail)["payload"] == {"blob": "x" * 200_000}
    assert made.entry_bytes < MAX_ENTRY_BYTES


# Publishing -----------------------------------------------------------------------------------


def test_entry_names_source_bus_type_time_and_detail(events: tuple[Any, Stubber]) -> None:
    client, _ = events
    entry = EventBridgePublisher(client, "bus-1").entry(event(1))
    assert entry == {
        "Source": "repository-connections",
        "DetailType": "GitHub push",
        "Detail": event(1).detail,
        "Time": RECEIVED + timedelta(seconds=1),
        "EventBusName": "bus-1",
    }


def test_events_go_out_in_order_at_most_ten_per_call(events: tuple[Any, Stubber]) -> None:
    client, stubber = events
    publisher = EventBridgePublisher(client, "bus-1")
    batch = [event(n) for n in range(23)]
    for chunk in (batch[0:10], batch[10:20], batch[20:23]):
        stubber.add_response(
            "put_events",
            {"FailedEntryCount": 0, "Entries": [{"EventId": "e"} for _ in chunk]},
            {"Entries": [publisher.entry(e) for e in chunk]},
        )
    assert publisher.publish(batch) == 23


def test_a_call_never_exceeds_256_kb(events: tuple[Any, Stubber]) -> None:
    client, stubber = events
    publisher = EventBridgePublisher(client, "bus-1")
    batch = [event(n, detail_bytes=100_000) for n in range(3)]  # two fit, the third does not
    for chunk in (batch[0:2], batch[2:3]):
        stubber.add_response(
            "put_events",
            {"FailedEntryCount": 0, "Entries": [{"EventId": "e"} for _ in chunk]},
            {"Entries": [publisher.entry(e) for e in chunk]},
        )
    assert publisher.publish(batch) == 3


def test_a_partly_failed_call_reports_the_prefix_before_the_first_failure(
    events: tuple[Any, Stubber],
) -> None:
    # given 12 events; the first call's 4th entry is throttled
    client, stubber = events
    results: list[dict[str, str]] = [{"EventId": "e"}] * 10
    results[3] = {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}
    stubber.add_response("put_events", {"FailedEntryCount": 1, "Entries": results})
    # when published, then 3 count as published and no second call is made
    assert EventBridgePublisher(client, "bus-1").publish([event(n) for n in range(12)]) == 3


def test_a_failed_call_after_a_good_one_reports_the_first_call(
    events: tuple[Any, Stubber],
) -> None:
    client, stubber = events
    stubber.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e"}] * 10})
    stubber.add_client_error("put_events", "InternalException", http_status_code=500)
    assert EventBridgePublisher(client, "bus-1").publish([event(n) for n in range(15)]) == 10


def test_nothing_to_publish_makes_no_call(events: tuple[Any, Stubber]) -> None:
    client, _ = events
    assert EventBridgePublisher(client, "bus-1").publish([]) == 0
