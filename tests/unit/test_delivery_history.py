"""The delivery log's pure rules: paging newest first with a keyset cursor, cursor decoding,
the retention window, and what counts as the last delivery."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from repoconn_core.delivery_history import (
    MAX_LIMIT,
    DeliveryEntry,
    Outcome,
    decode_cursor,
    encode_cursor,
    last_delivery,
    page_of,
)
from repoconn_core.errors import InvalidCursor

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _entry(
    n: int, outcome: Outcome = Outcome.PUBLISHED, *, minutes_ago: int | None = None
) -> DeliveryEntry:
    ago = timedelta(minutes=100 - n if minutes_ago is None else minutes_ago)
    return DeliveryEntry(f"d-{n:03}", "push", NOW - ago, outcome)


def _walk(entries: list[DeliveryEntry], limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(len(entries) + 2):
        page = page_of(entries, limit=limit, cursor=cursor, now=NOW)
        seen += [entry.delivery_id for entry in page.entries]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor
    raise AssertionError("the walk did not end")


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 20, MAX_LIMIT])
def test_a_walk_sees_every_entry_once_newest_first(limit: int) -> None:
    # given 20 entries appended out of time order
    entries = [_entry(n) for n in (5, 1, 19, 0, 3, 2, 4, *range(6, 19))]
    # when they are walked page by page
    seen = _walk(entries, limit)
    # then each once, newest first
    assert seen == [f"d-{n:03}" for n in range(19, -1, -1)]


def test_the_same_fact_logged_twice_is_shown_once() -> None:
    # given the relay logged one delivery twice (a retried batch)
    entries = [_entry(1), _entry(2), _entry(1)]
    # when listed
    page = page_of(entries, limit=10, cursor=None, now=NOW)
    # then once
    assert [e.delivery_id for e in page.entries] == ["d-002", "d-001"]


def test_entries_with_one_receipt_time_are_ordered_and_paged_without_loss() -> None:
    # given three outcomes logged for the same millisecond
    at = NOW - timedelta(minutes=1)
    entries = [
        DeliveryEntry("b", "push", at, Outcome.PUBLISHED),
        DeliveryEntry("a", "push", at, Outcome.PUBLISHED),
        DeliveryEntry("a", "push", at, Outcome.DUPLICATE),
    ]
    # when walked one at a time
    seen = _walk(entries, 1)
    # then all three, once each
    assert sorted(seen) == ["a", "a", "b"] and len(seen) == 3


def test_entries_appended_between_pages_do_not_shift_the_walk() -> None:
    # given a first page of two of five entries
    entries = [_entry(n) for n in range(5)]
    first = page_of(entries, limit=2, cursor=None, now=NOW)
    # when newer entries are appended and the oldest trimmed before the next page
    later = [*entries[1:], _entry(50, minutes_ago=0)]
    second = page_of(later, limit=2, cursor=first.next_cursor, now=NOW)
    # then the next page continues where the first ended
    assert [e.delivery_id for e in first.entries] == ["d-004", "d-003"]
    assert [e.delivery_id for e in second.entries] == ["d-002", "d-001"]
    assert second.next_cursor is None


def test_entries_older_than_the_retention_are_not_shown() -> None:
    # given one entry of eight days ago and one of six
    entries = [_entry(1, minutes_ago=8 * 24 * 60), _entry(2, minutes_ago=6 * 24 * 60)]
    # when listed
    page = page_of(entries, limit=10, cursor=None, now=NOW)
    # then only the recent one
    assert [e.delivery_id for e in page.entries] == ["d-002"]


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1])
def test_a_limit_outside_the_bounds_is_refused(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        page_of([], limit=limit, cursor=None, now=NOW)


def test_a_cursor_round_trips_to_its_entrys_sort_key() -> None:
    entry = _entry(7, Outcome.DUPLICATE)
    assert decode_cursor(encode_cursor(entry)) == entry.sort_key


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "é",
        "a" * 513,
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        _b64({"v": 1}),
        _b64(["v2", "2026-12-03T11:00:00.000Z", "published", "d"]),
        _b64(["v1", "2026-12-03", "published", "d"]),
        _b64(["v1", "2026-12-03T11:00:00.000Z", "lost", "d"]),
        _b64(["v1", "2026-12-03T11:00:00.000Z", "published", ""]),
        _b64(["v1", "2026-12-03T11:00:00.000Z", "published", "d" * 129]),
        _b64(["v1", "2026-12-03T11:00:00.000Z", "published", 5]),
        _b64([[[[[]]]]]),
    ],
)
def test_a_malformed_cursor_is_an_invalid_cursor_error(cursor: str) -> None:
    with pytest.raises(InvalidCursor) as refused:
        decode_cursor(cursor)
    assert (refused.value.status, refused.value.code) == (400, "invalid_cursor")


def test_the_last_delivery_is_the_newest_receipt_that_is_not_a_redelivery_request() -> None:
    # given a published delivery, a later duplicate and a still later redelivery request
    entries = [_entry(1), _entry(2, Outcome.DUPLICATE), _entry(3, Outcome.REDELIVERED)]
    # then the duplicate's receipt is the last delivery; nothing received means None
    assert last_delivery(entries) == entries[1].received_at
    assert last_delivery([_entry(3, Outcome.REDELIVERED)]) is None


def test_an_entry_keeps_ids_and_kinds_within_bounds() -> None:
    entry = DeliveryEntry.of("i" * 500, "k" * 500, NOW, Outcome.PUBLISHED)
    assert (len(entry.delivery_id), len(entry.event_kind)) == (128, 64)
