"""Connections' delivery logs in DynamoDB (``deliveries#<connectionId>``, schema.py).

Appends are atomic UpdateItems — ``list_append`` onto the stored list, never a read-modify-
write — so the relay, the receiver and the reconciliation can write one log at the same time
without losing each other's entries. The bound is kept without reading either:

1. the append is conditional on the log holding fewer than ``CAPACITY`` entries and on
   ``lastDeliveryAt`` being older than what it sets (so it never moves backwards when a
   delivery received earlier is logged later, as the relay logs ``published`` after the
   receiver logged a later ``duplicate``). Almost always it succeeds: one call.
2. When its condition fails, the oldest ``TRIM`` entries are removed, conditional on the log
   still holding at least ``CAPACITY`` (so two writers racing to trim remove them once), and
   the entries are appended again, conditional on ``lastDeliveryAt`` only, then — if that is
   what failed — without setting it. At most four calls, once per ``TRIM`` appends.

A log therefore holds at most ``CAPACITY`` entries plus one writer's batch (the relay's
stream batch is at most 20 records), a few hundred bytes each: far under DynamoDB's 400 KB.
Every write sets ``expiresAt`` to its moment plus the retention (TTL removes a log a week
after its last write); readers also ignore an expired log, as TTL deletes lazily.

No call asks for values back (``ReturnValues: NONE``): the roles' conditions refuse it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist

from repoconn_core.delivery_history import (
    RETENTION,
    DeliveryEntry,
    DeliveryLogView,
    Outcome,
    iso_utc,
    last_delivery,
    parse_iso_utc,
)
from repoconn_core.storage.failures import (
    CONDITION_FAILED,
    cause_code,
    dynamodb_failures,
    unavailable,
)
from repoconn_core.storage.schema import (
    DELIVERY_LOG_ATTRIBUTES,
    LAST_DELIVERY_ATTRIBUTES,
    DeliveryLogItem,
    connection_models,
    connection_settings,
    delivery_log_key,
    require_aware,
)

CAPACITY = 200
TRIM = 50  # removed at once when full: one trim per 50 appends, not one per append

_NAMES = {"#entries": "entries", "#last": "lastDeliveryAt", "#expires": "expiresAt"}
_APPEND = "SET #entries = list_append(if_not_exists(#entries, :empty), :new), #expires = :expires"
_SET_LAST = ", #last = :last"
_NOT_FULL = "(attribute_not_exists(#entries) OR size(#entries) < :capacity)"
_LAST_IS_OLDER = "(attribute_not_exists(#last) OR #last < :last)"
_TRIM = "REMOVE " + ", ".join(f"#entries[{index}]" for index in range(TRIM))


class DeliveryHistory:
    """Reads and appends connections' delivery logs (ports.DeliveryHistoryReader/Writer)."""

    def __init__(self, table_name: str, region: str, host: str | None = None) -> None:
        self._model = connection_models(table_name, region, host).delivery_log
        self._table_name = table_name
        self._connection = Connection(**connection_settings(region, host))

    # Reads --------------------------------------------------------------------------------

    def delivery_log(self, connection_id: str, now: datetime) -> DeliveryLogView:
        """The connection's log (one GetItem, eventually consistent); empty when it has
        none or it expired."""
        item = self._read(connection_id, DELIVERY_LOG_ATTRIBUTES, now)
        if item is None:
            return DeliveryLogView()
        entries = tuple(
            DeliveryEntry(
                entry.deliveryId,
                entry.eventKind,
                parse_iso_utc(entry.receivedAt),
                Outcome(entry.outcome),
            )
            for entry in item.entries or ()
        )
        return DeliveryLogView(entries, _moment(item.lastDeliveryAt))

    def last_delivery_at(self, connection_id: str, now: datetime) -> datetime | None:
        """When a delivery last reached the receiver (one GetItem projected to it)."""
        item = self._read(connection_id, LAST_DELIVERY_ATTRIBUTES, now)
        return None if item is None else _moment(item.lastDeliveryAt)

    def _read(
        self, connection_id: str, attributes: Sequence[str], now: datetime
    ) -> DeliveryLogItem | None:
        with dynamodb_failures():
            try:
                item = self._model.get(
                    delivery_log_key(connection_id), attributes_to_get=list(attributes)
                )
            except DoesNotExist:
                return None
        if item.expiresAt is not None and item.expiresAt <= now.timestamp():
            return None  # expired; TTL deletes it lazily
        return item

    # Appends ------------------------------------------------------------------------------

    def append_deliveries(
        self, connection_id: str, entries: Sequence[DeliveryEntry], *, at: datetime
    ) -> None:
        """Append ``entries`` in order (see the module doc: one call, rarely up to four)."""
        if not entries:
            return
        require_aware(at, *(entry.received_at for entry in entries))
        key = delivery_log_key(connection_id)
        values: dict[str, Any] = {
            ":empty": {"L": []},
            ":new": {"L": [_entry(entry) for entry in entries]},
            ":expires": {"N": str(int((at + RETENTION).timestamp()))},
        }
        last = last_delivery(entries)
        if last is None:  # redeliveries only: lastDeliveryAt is not theirs to set
            if self._update(key, _APPEND, values, condition=_NOT_FULL, capacity=True):
                return
            self._trim(key)
            self._update(key, _APPEND, values)
            return
        with_last = {**values, ":last": {"S": iso_utc(last)}}
        if self._update(
            key,
            _APPEND + _SET_LAST,
            with_last,
            condition=f"{_NOT_FULL} AND {_LAST_IS_OLDER}",
            capacity=True,
        ):
            return
        self._trim(key)
        if not self._update(key, _APPEND + _SET_LAST, with_last, condition=_LAST_IS_OLDER):
            # A later delivery is already the last one: append only.
            self._update(key, _APPEND, values)

    def _trim(self, key: str) -> None:
        """Drop the oldest TRIM entries if the log is full (False: not full, or another
        writer trimmed it first — either way there is room)."""
        self._update(
            key,
            _TRIM,
            {},
            condition="size(#entries) >= :capacity",
            capacity=True,
            names={"#entries": "entries"},
        )

    def _update(
        self,
        key: str,
        update: str,
        values: dict[str, Any],
        *,
        condition: str | None = None,
        capacity: bool = False,
        names: dict[str, str] | None = None,
    ) -> bool:
        """One UpdateItem; False when its condition failed."""
        used = names or {
            name: attribute
            for name, attribute in _NAMES.items()
            if name in update or (condition and name in condition)
        }
        request: dict[str, Any] = {
            "TableName": self._table_name,
            "Key": {"repositoryUrl": {"S": key}},
            "UpdateExpression": update,
            "ExpressionAttributeNames": used,
            "ReturnValues": "NONE",
        }
        if capacity:
            values = {**values, ":capacity": {"N": str(CAPACITY)}}
        if values:
            request["ExpressionAttributeValues"] = values
        if condition:
            request["ConditionExpression"] = condition
        try:
            self._connection.dispatch("UpdateItem", request)
        except (ClientError, BotoCoreError) as error:
            if cause_code(error) == CONDITION_FAILED:
                return False
            raise unavailable(error) from error
        return True


def _entry(entry: DeliveryEntry) -> dict[str, Any]:
    return {
        "M": {
            "deliveryId": {"S": entry.delivery_id},
            "eventKind": {"S": entry.event_kind},
            "receivedAt": {"S": entry.received_at_text},
            "outcome": {"S": str(entry.outcome)},
        }
    }


def _moment(text: str | None) -> datetime | None:
    return None if text is None else parse_iso_utc(text)
