"""The relay use case (relay.py) on in-memory fakes: which deliveries are published, where a
retry starts, and how lastSyncAt moves."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from repoconn_core.delivery_events import DeliveryEvent, RecordedDelivery
from repoconn_core.errors import DependencyUnavailable
from repoconn_core.records import StoredConnection
from repoconn_core.relay import PublishDeliveries, RelayOutcome

from tests.support.records import stored_connection

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
URL_A, URL_B = "https://github.com/acme/a", "https://github.com/acme/b"


def connection(url: str, connection_id: str, **changes: object) -> StoredConnection:
    return stored_connection(
        NOW - timedelta(days=1),
        id=connection_id,
        project_id="p-" + connection_id,
        repository_url=url,
        access_token=b"blob",
        webhook_secret=b"blob",
        webhook_id="1",
        **changes,
    )


def recorded(n: int, url: str = URL_A, connection_id: str = "a") -> RecordedDelivery:
    return RecordedDelivery(
        position=f"seq-{n}",
        connection_id=connection_id,
        repository_url=url,
        delivery_id=f"d-{n}",
        event=DeliveryEvent("GitHub push", f'{{"n":{n}}}', NOW + timedelta(seconds=n)),
    )


@dataclass
class FakeStore:
    connections: dict[str, StoredConnection]
    reads: list[list[str]] = field(default_factory=list)
    touched: list[tuple[str, str, datetime]] = field(default_factory=list)
    touch_fails: bool = False

    def connections_at(self, repository_urls: Iterable[str]) -> dict[str, StoredConnection]:
        urls = sorted(set(repository_urls))
        self.reads.append(urls)
        return {url: self.connections[url] for url in urls if url in self.connections}

    def touch_last_sync(self, repository_url: str, connection_id: str, at: datetime) -> bool:
        if self.touch_fails:
            raise DependencyUnavailable("DynamoDB is unavailable.", 10)
        self.touched.append((repository_url, connection_id, at))
        return True


@dataclass
class FakePublisher:
    accept: int | None = None  # how many to accept; None: all
    published: list[DeliveryEvent] = field(default_factory=list)

    def publish(self, events: Sequence[DeliveryEvent]) -> int:
        taken = list(events if self.accept is None else events[: self.accept])
        self.published.extend(taken)
        return len(taken)


def relay(store: FakeStore, publisher: FakePublisher) -> PublishDeliveries:
    return PublishDeliveries(store=store, publisher=publisher)


def test_a_batch_is_published_in_order_and_lastsyncat_moves_to_the_newest() -> None:
    # given deliveries for two live connections, out of time order for one of them
    store = FakeStore({URL_A: connection(URL_A, "a"), URL_B: connection(URL_B, "b")})
    publisher = FakePublisher()
    batch = [recorded(3), recorded(1, URL_B, "b"), recorded(2), recorded(5, URL_B, "b")]
    # when relayed
    outcome = relay(store, publisher)(batch)
    # then all are published in stream order, with one read for the batch
    assert outcome == RelayOutcome(published=4, dropped=0, retry_from=None)
    assert publisher.published == [d.event for d in batch]
    assert store.reads == [[URL_A, URL_B]]
    # and each connection's lastSyncAt is set once, to its newest delivery
    assert sorted(store.touched) == [
        (URL_A, "a", NOW + timedelta(seconds=3)),
        (URL_B, "b", NOW + timedelta(seconds=5)),
    ]


@pytest.mark.parametrize(
    "stored",
    [
        None,  # deleted
        connection(URL_A, "another-id"),  # replaced by another connection of this URL
        connection(URL_A, "a", is_active=False),  # deactivated
    ],
    ids=["deleted", "replaced", "inactive"],
)
def test_deliveries_of_a_connection_that_is_gone_are_dropped(
    stored: StoredConnection | None,
) -> None:
    connections = {URL_B: connection(URL_B, "b")}
    if stored is not None:
        connections[URL_A] = stored
    store, publisher = FakeStore(connections), FakePublisher()
    outcome = relay(store, publisher)([recorded(1), recorded(2, URL_B, "b")])
    assert outcome == RelayOutcome(published=1, dropped=1, retry_from=None)
    assert publisher.published == [recorded(2, URL_B, "b").event]
    assert [t[:2] for t in store.touched] == [(URL_B, "b")]


def test_a_partial_publish_retries_from_the_first_event_not_accepted() -> None:
    # given a publisher that accepts only the first two of four
    store = FakeStore({URL_A: connection(URL_A, "a")})
    publisher = FakePublisher(accept=2)
    outcome = relay(store, publisher)([recorded(n) for n in range(1, 5)])
    # then the retry starts at the third, and lastSyncAt only counts what went out
    assert outcome == RelayOutcome(published=2, dropped=0, retry_from="seq-3")
    assert store.touched == [(URL_A, "a", NOW + timedelta(seconds=2))]


def test_dropped_deliveries_do_not_move_the_retry_point() -> None:
    store = FakeStore({URL_B: connection(URL_B, "b")})
    publisher = FakePublisher(accept=1)
    batch = [recorded(1, URL_B, "b"), recorded(2), recorded(3, URL_B, "b")]
    outcome = relay(store, publisher)(batch)
    assert outcome == RelayOutcome(published=1, dropped=1, retry_from="seq-3")


def test_a_failed_lastsyncat_write_fails_the_batch() -> None:
    # Lambda then retries the batch: at-least-once, subscribers deduplicate by deliveryId.
    store = FakeStore({URL_A: connection(URL_A, "a")}, touch_fails=True)
    with pytest.raises(DependencyUnavailable):
        relay(store, FakePublisher())([recorded(1)])


def test_an_empty_batch_reads_nothing() -> None:
    store, publisher = FakeStore({}), FakePublisher()
    assert relay(store, publisher)([]) == RelayOutcome(0, 0, None)
    assert store.reads == []
