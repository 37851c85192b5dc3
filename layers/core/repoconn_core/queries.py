"""Read use cases: what the frontend asks on every project page. One GSI query each, no KMS,
no provider call — this module must not import the cipher or the provider layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from repoconn_core.errors import ConnectionNotFound
from repoconn_core.identity import Principal, require_project_access

if TYPE_CHECKING:
    # Annotations only: the read functions' cold start need not load the ports.
    from repoconn_core.ports import SummaryReader
    from repoconn_core.records import ConnectionSummary


class ConnectionQueries:
    def __init__(self, store: SummaryReader) -> None:
        self._store = store

    def get(self, principal: Principal, project_id: str) -> ConnectionSummary:
        require_project_access(principal, project_id)
        summary = self._store.summary_for_project(project_id)
        if summary is None:
            raise ConnectionNotFound(f"Project {project_id} has no repository connection.")
        return summary

    def exists(self, principal: Principal, project_id: str) -> bool:
        require_project_access(principal, project_id)
        return self._store.exists_for_project(project_id)
