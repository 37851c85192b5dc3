"""What the frontend sees of a connection's deliveries — pure rules, no AWS.

Each connection has a *delivery log* (storage: ``deliveries#<connectionId>``,
storage/delivery_history.py): a bounded list of entries, no payloads, written by

- the relay (relay.py): ``published`` or ``dropped`` for each recorded delivery it handled;
- the receiver (receive.py): ``duplicate`` for a delivery it had already recorded;
- the reconciliation (reconcile.py): ``redelivered`` when a provider accepted a redelivery.

An entry's ``received_at`` is when the receiver got the delivery (for ``redelivered``: when the
provider was asked). ``last_delivery_at`` is the newest moment a delivery reached the receiver
(any outcome but ``redelivered``, which is our request, not a delivery).

Listing is newest first with a keyset cursor: the cursor names the last entry of a page by
(receivedAt, outcome, deliveryId), and the next page holds the entries strictly older in that
order. Appends (newer) and trims (the oldest) between two pages therefore never make a walk
skip or repeat an entry. The same fact written twice (the relay is at-least-once: a batch it
retries is logged again) is one entry on read. Entries older than ``RETENTION`` are not shown.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from repoconn_core.errors import InvalidCursor

# The receiver's replay window: the log shows what it could still recognise as a duplicate.
RETENTION = timedelta(days=7)
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# What one entry may hold: ids and kinds come from provider headers; bound what is stored.
MAX_DELIVERY_ID_CHARS = 128
MAX_EVENT_KIND_CHARS = 64
_MAX_CURSOR_CHARS = 512
_CURSOR_VERSION = "v1"
# iso_utc's fixed-width form: sorts as text in time order.
_ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


class Outcome(StrEnum):
    PUBLISHED = "published"
    DUPLICATE = "duplicate"
    DROPPED = "dropped"
    REDELIVERED = "redelivered"


SortKey = tuple[str, str, str]  # (receivedAt as iso_utc, outcome, deliveryId)


@dataclass(frozen=True)
class DeliveryEntry:
    delivery_id: str
    event_kind: str
    received_at: datetime
    outcome: Outcome

    @classmethod
    def of(
        cls, delivery_id: str, event_kind: str, received_at: datetime, outcome: Outcome
    ) -> DeliveryEntry:
        """An entry with its id and kind cut to what the log stores."""
        return cls(
            delivery_id[:MAX_DELIVERY_ID_CHARS],
            event_kind[:MAX_EVENT_KIND_CHARS],
            received_at,
            outcome,
        )

    @property
    def received_at_text(self) -> str:
        return iso_utc(self.received_at)

    @property
    def sort_key(self) -> SortKey:
        return (self.received_at_text, str(self.outcome), self.delivery_id)


@dataclass(frozen=True)
class DeliveryLogView:
    """A connection's log as stored (empty when it has none, or it expired)."""

    entries: tuple[DeliveryEntry, ...] = ()
    last_delivery_at: datetime | None = None


@dataclass(frozen=True)
class DeliveryPage:
    entries: tuple[DeliveryEntry, ...]
    next_cursor: str | None


def last_delivery(entries: Iterable[DeliveryEntry]) -> datetime | None:
    """The newest moment one of ``entries`` reached the receiver (redeliveries do not count)."""
    moments = [e.received_at for e in entries if e.outcome is not Outcome.REDELIVERED]
    return max(moments, default=None)


def page_of(
    entries: Iterable[DeliveryEntry],
    *,
    limit: int,
    cursor: str | None,
    now: datetime,
    retention: timedelta = RETENTION,
) -> DeliveryPage:
    """One page, newest first: at most ``limit`` entries older than ``cursor`` (all when
    None) and received within ``retention`` of ``now``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be within 1..{MAX_LIMIT}")
    after = None if cursor is None else decode_cursor(cursor)
    oldest = iso_utc(now - retention)
    unique = {entry.sort_key: entry for entry in entries}
    ordered = sorted(unique.items(), reverse=True)
    shown = [entry for key, entry in ordered if key[0] >= oldest and (after is None or key < after)]
    page = tuple(shown[:limit])
    more = len(shown) > limit
    return DeliveryPage(page, encode_cursor(page[-1]) if more else None)


def encode_cursor(entry: DeliveryEntry) -> str:
    """Opaque to clients: URL-safe base64 of the entry's sort key."""
    text = json.dumps([_CURSOR_VERSION, *entry.sort_key], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> SortKey:
    """The sort key a cursor names; InvalidCursor (400) for anything ``encode_cursor`` would
    not have made."""
    if not cursor or len(cursor) > _MAX_CURSOR_CHARS or not cursor.isascii():
        raise InvalidCursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError included
        raise InvalidCursor() from None
    if not (
        isinstance(value, list)
        and len(value) == 4
        and all(isinstance(part, str) for part in value)
        and value[0] == _CURSOR_VERSION
        and _ISO_UTC.fullmatch(value[1])
        and value[2] in {str(outcome) for outcome in Outcome}
        and 0 < len(value[3]) <= MAX_DELIVERY_ID_CHARS
    ):
        raise InvalidCursor()
    return (value[1], value[2], value[3])


def iso_utc(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601 with milliseconds (as delivery_events.iso_utc)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso_utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
