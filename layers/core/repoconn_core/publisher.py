"""Publishing verified webhook deliveries to EventBridge: the only module that knows it.

One event per delivery on the service's bus::

    Source      "repository-connections"
    DetailType  "<serviceType> <eventKind>"     e.g. "GitHub push", "GitLab merge_request"
    Detail      {connectionId, projectId, repositoryUrl, serviceType, eventKind, deliveryId,
                 receivedAt, payload}           payload = the provider's JSON, as sent

A PutEvents entry must stay under 256 KB, counted as the UTF-8 bytes of Source, DetailType and
Detail plus 14 bytes for Time
(https://docs.aws.amazon.com/eventbridge/latest/userguide/calculate-putevents-entry-size.html).
A larger delivery is published without its payload (``payloadOmitted: true``, ``payloadBytes``), so
subscribers still learn that it happened and can fetch the data from the provider.

No secret and no request header is ever part of an event: the detail is built from the
stored connection's public fields and the body the provider signed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from repoconn_core.errors import DependencyUnavailable

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

    from repoconn_core.receive import VerifiedDelivery

SOURCE = "repository-connections"
MAX_ENTRY_BYTES = 256 * 1024
# The API reference also counts "necessary characters and keys of the JSON representation";
# keep a margin rather than find the exact edge in production.
ENTRY_SIZE_MARGIN = 2 * 1024
TIME_BYTES = 14
THROTTLED_RETRY_AFTER = 2
UNAVAILABLE_RETRY_AFTER = 10
_THROTTLING_CODES = frozenset({"ThrottlingException", "LimitExceededException"})

log = Logger(child=True)


class EventBridgePublisher:
    def __init__(self, events_client: EventBridgeClient, bus_name: str) -> None:
        self._events = events_client
        self._bus_name = bus_name

    def __repr__(self) -> str:
        return f"EventBridgePublisher(bus_name={self._bus_name!r})"

    def publish(self, delivery: VerifiedDelivery) -> None:
        """Put one event; DependencyUnavailable when EventBridge refuses or cannot be reached."""
        entry = self.entry(delivery)
        try:
            response = self._events.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as error:
            code = (
                error.response.get("Error", {}).get("Code", "")
                if isinstance(error, ClientError)
                else type(error).__name__
            )
            raise _unavailable(code) from error
        if response.get("FailedEntryCount", 0):
            results = response.get("Entries") or [{}]
            code = results[0].get("ErrorCode", "")
            log.warning("EventBridge refused the delivery event", extra={"errorCode": code})
            raise _unavailable(code)

    def entry(self, delivery: VerifiedDelivery) -> PutEventsRequestEntryTypeDef:
        """The PutEvents entry for a delivery, without its payload when that would not fit."""
        detail_type = f"{delivery.service_type} {delivery.event_kind}"
        detail = _detail(delivery)
        text = _json({**detail, "payload": delivery.payload})
        if _entry_size(detail_type, text) > MAX_ENTRY_BYTES - ENTRY_SIZE_MARGIN:
            text = _json({**detail, "payloadOmitted": True, "payloadBytes": delivery.body_bytes})
        return {
            "Source": SOURCE,
            "DetailType": detail_type,
            "Detail": text,
            "Time": delivery.received_at,
            "EventBusName": self._bus_name,
        }


def _detail(delivery: VerifiedDelivery) -> dict[str, Any]:
    return {
        "connectionId": delivery.connection_id,
        "projectId": delivery.project_id,
        "repositoryUrl": delivery.repository_url,
        "serviceType": str(delivery.service_type),
        "eventKind": delivery.event_kind,
        "deliveryId": delivery.delivery_id,
        "receivedAt": _iso(delivery.received_at),
    }


def _entry_size(detail_type: str, detail: str) -> int:
    return TIME_BYTES + sum(len(part.encode("utf-8")) for part in (SOURCE, detail_type, detail))


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _unavailable(code: str) -> DependencyUnavailable:
    if code in _THROTTLING_CODES:
        return DependencyUnavailable("EventBridge is throttling requests.", THROTTLED_RETRY_AFTER)
    return DependencyUnavailable("EventBridge is unavailable.", UNAVAILABLE_RETRY_AFTER)
