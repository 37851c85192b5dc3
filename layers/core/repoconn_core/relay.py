"""Publish recorded deliveries: the other half of receiving a webhook (receive.py).

The receiver answers the provider after ONE write, the delivery record that carries the event
to publish. The table's stream delivers each new record to this relay, in batches and in
order, at least once (template.yaml: ``PublishDeliveriesFunction``). For a batch the relay:

1. reads the connections the deliveries belong to, in one consistent BatchGetItem;
2. drops the deliveries whose connection is gone, replaced (another id at that URL) or
   inactive — the receiver may have accepted them from its cache moments after a disconnect
   (receive.py), and nothing must be published for a connection that no longer exists;
3. publishes the rest on EventBridge in stream order (publisher.py: 10 entries a call);
4. advances each connection's ``lastSyncAt`` to its newest published delivery (one
   conditional UpdateItem per connection: never backwards, never onto another connection);
5. appends ``published`` or ``dropped`` for each delivery it handled to its connection's
   delivery log (delivery_history.py; one UpdateItem per connection). The log is what the
   frontend shows, not what the relay guarantees: an append that fails is logged and does not
   fail the batch (retrying it would publish every event again).

It answers where the batch must be retried from: the stream position of the first delivery
that was not published (Lambda's ``ReportBatchItemFailures``), or None when all were. A
failure at step 1 or 4 fails the whole batch: every delivery is retried, and one published
already is published again — at-least-once, like EventBridge itself; subscribers deduplicate
by ``deliveryId``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from repoconn_core.clock import utc_now
from repoconn_core.delivery_events import RecordedDelivery
from repoconn_core.delivery_history import DeliveryEntry, Outcome
from repoconn_core.errors import DependencyUnavailable
from repoconn_core.ports import DeliveryHistoryWriter, EventPublisher, RelayStore
from repoconn_core.records import StoredConnection

log = Logger(child=True)


@dataclass(frozen=True)
class RelayOutcome:
    published: int
    dropped: int
    retry_from: str | None  # position of the first delivery not published


class PublishDeliveries:
    def __init__(
        self,
        *,
        store: RelayStore,
        publisher: EventPublisher,
        history: DeliveryHistoryWriter | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``history``: where the outcomes are logged for the frontend (None: not logged)."""
        self._store = store
        self._publisher = publisher
        self._history = history
        self._clock = clock

    def __call__(self, deliveries: Sequence[RecordedDelivery]) -> RelayOutcome:
        if not deliveries:
            return RelayOutcome(published=0, dropped=0, retry_from=None)
        connections = self._store.connections_at(d.repository_url for d in deliveries)
        live: list[RecordedDelivery] = []
        dropped: list[RecordedDelivery] = []
        for delivery in deliveries:
            (live if _still_connected(delivery, connections) else dropped).append(delivery)
        for gone in dropped:
            log.info(
                "delivery dropped: its connection is gone or inactive",
                extra={"connectionId": gone.connection_id, "deliveryId": gone.delivery_id},
            )
        published = self._publisher.publish([d.event for d in live])
        newest: dict[tuple[str, str], datetime] = {}
        for delivery in live[:published]:
            key = (delivery.repository_url, delivery.connection_id)
            if key not in newest or newest[key] < delivery.event.time:
                newest[key] = delivery.event.time
        for (repository_url, connection_id), at in newest.items():
            # False: disconnected meanwhile, or a later sync is recorded; both are fine.
            self._store.touch_last_sync(repository_url, connection_id, at)
        self._log_outcomes(deliveries, live[:published], dropped)
        retry_from = live[published].position if published < len(live) else None
        return RelayOutcome(published=published, dropped=len(dropped), retry_from=retry_from)

    def _log_outcomes(
        self,
        deliveries: Sequence[RecordedDelivery],
        published: Sequence[RecordedDelivery],
        dropped: Sequence[RecordedDelivery],
    ) -> None:
        """One append per connection, its entries in stream order; the deliveries not
        published yet are logged when a retry publishes them."""
        if self._history is None:
            return
        outcomes = {id(d): Outcome.PUBLISHED for d in published}
        outcomes.update({id(d): Outcome.DROPPED for d in dropped})
        by_connection: dict[str, list[DeliveryEntry]] = {}
        for delivery in deliveries:
            outcome = outcomes.get(id(delivery))
            if outcome is None:
                continue
            by_connection.setdefault(delivery.connection_id, []).append(
                DeliveryEntry.of(
                    delivery.delivery_id,
                    # "<serviceType> <eventKind>" (delivery_events.py)
                    delivery.event.detail_type.split(" ", 1)[-1],
                    delivery.event.time,
                    outcome,
                )
            )
        at = self._clock()
        for connection_id, entries in by_connection.items():
            try:
                self._history.append_deliveries(connection_id, entries, at=at)
            except DependencyUnavailable:
                log.warning("delivery log not written", extra={"connectionId": connection_id})


def _still_connected(delivery: RecordedDelivery, connections: dict[str, StoredConnection]) -> bool:
    stored = connections.get(delivery.repository_url)
    return stored is not None and stored.id == delivery.connection_id and stored.is_active
