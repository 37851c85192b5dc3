"""GET /projects/{projectId}/repository-connection/deliveries — the connection's most recent
webhook deliveries, newest first, a page at a time (never payloads)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from repoconn_core.delivery_history import DEFAULT_LIMIT, MAX_LIMIT
from repoconn_core.http_api import HttpFunction, ProjectIdPath
from repoconn_core.models import DeliveriesPage
from repoconn_core.wiring import connection_queries

function = HttpFunction()
app = function.app


@app.get("/projects/<projectId>/repository-connection/deliveries")
def list_deliveries(
    projectId: ProjectIdPath,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_LIMIT,
            title="Limit",
            description=f"Entries per page, 1 to {MAX_LIMIT}",
            examples=[DEFAULT_LIMIT],
        ),
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            title="Cursor",
            description="The previous page's nextCursor (opaque); absent for the first page",
        ),
    ] = None,
) -> DeliveriesPage:
    page = connection_queries().deliveries(function.caller(), projectId, limit=limit, cursor=cursor)
    return DeliveriesPage.from_page(page)


lambda_handler = function.handler
