"""Read use cases: what the frontend asks on every project page. No KMS, no provider call —
this module must not import the cipher or the provider layer.

``exists``: one GSI Query. ``get``: the GSI Query, then the connection's ``lastDeliveryAt``
from its delivery log (one GetItem projected to it: the project index cannot carry it, its
projection is fixed in deployed stacks, and the log item has no ``projectId``).
``deliveries``: the GSI Query, then the log (one GetItem), paged here (delivery_history.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from repoconn_core.clock import utc_now
from repoconn_core.delivery_history import DEFAULT_LIMIT, DeliveryPage, decode_cursor, page_of
from repoconn_core.errors import ConnectionNotFound
from repoconn_core.identity import Principal, require_project_access

if TYPE_CHECKING:
    # Annotations only: the read functions' cold start need not load the ports.
    from repoconn_core.ports import DeliveryHistoryReader, SummaryReader
    from repoconn_core.records import ConnectionSummary


@dataclass(frozen=True)
class ConnectionDetails:
    """A connection as GET shows it: its summary and when a delivery last reached us."""

    summary: ConnectionSummary
    last_delivery_at: datetime | None


class ConnectionQueries:
    def __init__(
        self,
        store: SummaryReader,
        history: DeliveryHistoryReader,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._history = history
        self._clock = clock

    def get(self, principal: Principal, project_id: str) -> ConnectionDetails:
        summary = self._summary(principal, project_id)
        return ConnectionDetails(summary, self._history.last_delivery_at(summary.id, self._clock()))

    def exists(self, principal: Principal, project_id: str) -> bool:
        require_project_access(principal, project_id)
        return self._store.exists_for_project(project_id)

    def deliveries(
        self,
        principal: Principal,
        project_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> DeliveryPage:
        """The connection's most recent deliveries, newest first, one page after ``cursor``."""
        require_project_access(principal, project_id)
        if cursor is not None:
            decode_cursor(cursor)  # 400 for a malformed cursor, connected or not
        summary = self._summary(principal, project_id)
        now = self._clock()
        log = self._history.delivery_log(summary.id, now)
        return page_of(log.entries, limit=limit, cursor=cursor, now=now)

    def _summary(self, principal: Principal, project_id: str) -> ConnectionSummary:
        require_project_access(principal, project_id)
        summary = self._store.summary_for_project(project_id)
        if summary is None:
            raise ConnectionNotFound(f"Project {project_id} has no repository connection.")
        return summary
