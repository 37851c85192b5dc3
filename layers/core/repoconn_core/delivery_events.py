"""What a verified webhook delivery looks like on the EventBridge bus — pure data, no AWS.

One event per delivery on the service's bus::

    Source      "repository-connections"
    DetailType  "<serviceType> <eventKind>"     e.g. "GitHub push", "GitLab merge_request"
    Detail      {connectionId, projectId, repositoryUrl, serviceType, eventKind, deliveryId,
                 receivedAt, payload}           payload = the provider's JSON, as sent

The receiver builds the event when it accepts a delivery and stores it with the delivery
record (the outbox, see relay.py); the relay puts it on the bus as built here.

A PutEvents entry must stay under 256 KB, counted as the UTF-8 bytes of Source, DetailType and
Detail plus 14 bytes for Time
(https://docs.aws.amazon.com/eventbridge/latest/userguide/calculate-putevents-entry-size.html).
A larger delivery is published without its payload (``payloadOmitted: true``, ``payloadBytes``),
so subscribers still learn that it happened and can fetch the data from the provider.

No secret and no request header is ever part of an event: the detail is built from the
stored connection's public fields and the body the provider signed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from repoconn_core.providers import ServiceType

SOURCE = "repository-connections"
MAX_ENTRY_BYTES = 256 * 1024
# The API reference also counts "necessary characters and keys of the JSON representation";
# keep a margin rather than find the exact edge in production.
ENTRY_SIZE_MARGIN = 2 * 1024
TIME_BYTES = 14


@dataclass(frozen=True)
class VerifiedDelivery:
    """A delivery that passed verification: what its event is made of."""

    connection_id: str
    project_id: str
    repository_url: str
    service_type: ServiceType
    event_kind: str
    delivery_id: str
    received_at: datetime
    payload: dict[str, Any]
    body_bytes: int


@dataclass(frozen=True)
class DeliveryEvent:
    """One event for the bus: ``detail`` is the JSON text EventBridge receives."""

    detail_type: str
    detail: str
    time: datetime

    @property
    def entry_bytes(self) -> int:
        """The entry's size as PutEvents counts it (Source, DetailType, Detail, Time)."""
        return entry_size(self.detail_type, self.detail)


@dataclass(frozen=True)
class RecordedDelivery:
    """An accepted delivery as the table's stream hands it to the relay."""

    position: str  # the stream's sequence number: where a retry starts
    connection_id: str
    repository_url: str  # of the connection, when the delivery was accepted
    delivery_id: str
    event: DeliveryEvent


def delivery_event(delivery: VerifiedDelivery) -> DeliveryEvent:
    """The event for a delivery, without its payload when that would not fit."""
    detail_type = f"{delivery.service_type} {delivery.event_kind}"
    public = _public_fields(delivery)
    text = _json({**public, "payload": delivery.payload})
    if entry_size(detail_type, text) > MAX_ENTRY_BYTES - ENTRY_SIZE_MARGIN:
        text = _json({**public, "payloadOmitted": True, "payloadBytes": delivery.body_bytes})
    return DeliveryEvent(detail_type=detail_type, detail=text, time=delivery.received_at)


def entry_size(detail_type: str, detail: str) -> int:
    return TIME_BYTES + sum(len(part.encode("utf-8")) for part in (SOURCE, detail_type, detail))


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _public_fields(delivery: VerifiedDelivery) -> dict[str, Any]:
    return {
        "connectionId": delivery.connection_id,
        "projectId": delivery.project_id,
        "repositoryUrl": delivery.repository_url,
        "serviceType": str(delivery.service_type),
        "eventKind": delivery.event_kind,
        "deliveryId": delivery.delivery_id,
        "receivedAt": iso_utc(delivery.received_at),
    }


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
