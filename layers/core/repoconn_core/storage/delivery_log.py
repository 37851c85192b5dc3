"""Accepted webhook deliveries in DynamoDB: replay protection and the relay's outbox.

A delivery record (schema.py) is written once per delivery id, unless an unexpired record
exists; its condition reads ``expiresAt``, so correctness never waits for TTL's lazy
deletion. The record carries the delivery's event (``detailType``, ``detail``): the table's
stream hands each new record to the relay (relay.py), which publishes it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException

from repoconn_core.delivery_events import DeliveryEvent, RecordedDelivery
from repoconn_core.records import DeliveryOutcome, WebhookConnection
from repoconn_core.storage.failures import CONDITION_FAILED, cause_code, unavailable
from repoconn_core.storage.schema import (
    DELIVERY_KEY_PREFIX,
    DELIVERY_READBACK_ATTRIBUTES,
    DeliveryRecord,
    connection_models,
    connection_settings,
    delivery_key,
    require_aware,
)

# A delivery id is new, or its record expired (correctness never waits for TTL's deletion).
_UNSEEN_OR_EXPIRED = "attribute_not_exists(#key) OR #expires < :now"


class DeliveryLog:
    def __init__(self, table_name: str, region: str, host: str | None = None) -> None:
        self._models = connection_models(table_name, region, host)
        self._table_name = table_name
        self._connection = Connection(**connection_settings(region, host))

    def record_delivery(
        self,
        stored: WebhookConnection,
        delivery_id: str,
        event: DeliveryEvent,
        expires_at: datetime,
        *,
        replay_key: str,
    ) -> DeliveryOutcome:
        """Accept a verified delivery once: one conditional PutItem of its record and event
        (unless an unexpired record exists). The relay publishes it from the table's stream
        and advances lastSyncAt (relay.py).

        The provider waits on this one write (docs/benchmarks.md), so it is sent as a prepared
        request through the connection's ``dispatch`` (pynamodb's signals, retries and error
        types, without building a model and its expressions each time: about a tenth of the
        receiver's CPU per delivery). It is read back through ``DeliveryRecord``
        (``recorded_delivery``, ``_recorded_by``); test_store pins that what is written here
        reads back as the same delivery.
        """
        at = event.time
        require_aware(at)
        key = delivery_key(stored.id, replay_key)
        owner = str(uuid.uuid4())
        item = {
            "repositoryUrl": {"S": key},
            "expiresAt": {"N": str(int(expires_at.timestamp()))},
            "owner": {"S": owner},
            "connectionId": {"S": stored.id},
            "deliveryId": {"S": delivery_id},
            "connectionRepositoryUrl": {"S": stored.repository_url},
            "receivedAt": {"S": DeliveryRecord.receivedAt.serialize(at)},
            "detailType": {"S": event.detail_type},
            "detail": {"S": event.detail},
        }
        try:
            self._connection.dispatch(
                "PutItem",
                {
                    "TableName": self._table_name,
                    "Item": item,
                    "ConditionExpression": _UNSEEN_OR_EXPIRED,
                    "ExpressionAttributeNames": {"#key": "repositoryUrl", "#expires": "expiresAt"},
                    "ExpressionAttributeValues": {":now": {"N": str(int(at.timestamp()))}},
                },
            )
        except (ClientError, BotoCoreError) as error:
            if self._recorded_by(key, owner):
                # Our own write landed and its answer was lost (or the SDK's retry of it met
                # our own record): recorded, not a duplicate.
                return DeliveryOutcome.RECORDED
            if cause_code(error) == CONDITION_FAILED:
                return DeliveryOutcome.DUPLICATE
            raise unavailable(error) from error
        return DeliveryOutcome.RECORDED

    def _recorded_by(self, key: str, owner: str) -> bool:
        try:
            record = self._models.delivery.get(
                key, consistent_read=True, attributes_to_get=list(DELIVERY_READBACK_ATTRIBUTES)
            )
        except PynamoDBException:  # DoesNotExist included
            return False
        return record.owner == owner


def recorded_delivery(position: str, image: dict[str, Any]) -> RecordedDelivery | None:
    """A stream record's new image as a recorded delivery; None for any other kind of item
    (the event source mapping's filter lets only delivery records through; this is the
    check that does not depend on it)."""
    key = image.get("repositoryUrl", {}).get("S", "")
    if not key.startswith(DELIVERY_KEY_PREFIX) or "detail" not in image:
        return None
    record = DeliveryRecord.from_raw_data(image)
    if None in (record.connectionId, record.connectionRepositoryUrl, record.receivedAt):
        return None
    return RecordedDelivery(
        position=position,
        connection_id=str(record.connectionId),
        repository_url=str(record.connectionRepositoryUrl),
        # Records written before the key became the body's digest were keyed by the id.
        delivery_id=record.deliveryId
        or key.removeprefix(f"{DELIVERY_KEY_PREFIX}{record.connectionId}#"),
        event=DeliveryEvent(
            detail_type=str(record.detailType),
            detail=str(record.detail),
            time=record.receivedAt,
        ),
    )
