"""Putting delivery events on EventBridge: the only module that calls PutEvents.

The relay (relay.py) hands over events in stream order; they go out in PutEvents calls of at
most 10 entries and 256 KB each (the API's limits,
https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html). What the
relay needs back is how far publishing got: ``publish`` returns the number of events, counted
from the first, that EventBridge accepted before the first one it did not. Events after that
point may have been accepted too (a partly failed call); the relay retries from the first
failure, so they can be delivered twice — EventBridge is at-least-once anyway, and every
event carries its ``deliveryId`` for subscribers to deduplicate.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from repoconn_core.delivery_events import MAX_ENTRY_BYTES, SOURCE, DeliveryEvent

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

MAX_ENTRIES_PER_CALL = 10

log = Logger(child=True)


class EventBridgePublisher:
    def __init__(self, events_client: EventBridgeClient, bus_name: str) -> None:
        self._events = events_client
        self._bus_name = bus_name

    def __repr__(self) -> str:
        return f"EventBridgePublisher(bus_name={self._bus_name!r})"

    def publish(self, events: Sequence[DeliveryEvent]) -> int:
        """Put ``events`` in order; the length of the prefix EventBridge accepted."""
        published = 0
        for chunk in _chunks(events):
            entries = [self.entry(event) for event in chunk]
            try:
                response = self._events.put_events(Entries=entries)
            except (ClientError, BotoCoreError) as error:
                log.warning(
                    "EventBridge could not be reached or refused the call",
                    extra={"errorCode": _error_code(error), "published": published},
                )
                return published
            if not response.get("FailedEntryCount", 0):
                published += len(chunk)
                continue
            results = response.get("Entries") or []
            accepted = next((i for i, result in enumerate(results) if result.get("ErrorCode")), 0)
            failed = results[accepted] if accepted < len(results) else {}
            log.warning(
                "EventBridge refused a delivery event",
                extra={"errorCode": failed.get("ErrorCode", ""), "published": published + accepted},
            )
            return published + accepted
        return published

    def entry(self, event: DeliveryEvent) -> PutEventsRequestEntryTypeDef:
        return {
            "Source": SOURCE,
            "DetailType": event.detail_type,
            "Detail": event.detail,
            "Time": event.time,
            "EventBusName": self._bus_name,
        }


def _chunks(events: Sequence[DeliveryEvent]) -> Iterator[Sequence[DeliveryEvent]]:
    """Consecutive runs of at most 10 events and 256 KB (each event fits alone)."""
    start, size = 0, 0
    for index, event in enumerate(events):
        size_of_event = event.entry_bytes
        full = index - start == MAX_ENTRIES_PER_CALL or size + size_of_event > MAX_ENTRY_BYTES
        if index > start and full:
            yield events[start:index]
            start, size = index, 0
        size += size_of_event
    if start < len(events):
        yield events[start:]


def _error_code(error: ClientError | BotoCoreError) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return type(error).__name__
