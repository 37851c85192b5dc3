"""GET /projects/{projectId}/repository-connection — the project's connection, never secrets."""

from __future__ import annotations

from repoconn_core.http_api import HttpFunction, ProjectIdPath
from repoconn_core.models import RepositoryConnectionInfo
from repoconn_core.wiring import connection_queries

function = HttpFunction()
app = function.app


@app.get("/projects/<projectId>/repository-connection")
def get_connection(projectId: ProjectIdPath) -> RepositoryConnectionInfo:
    found = connection_queries().get(function.caller(), projectId)
    return RepositoryConnectionInfo.from_summary(
        found.summary, last_delivery_at=found.last_delivery_at
    )


lambda_handler = function.handler
