"""GET /projects/{projectId}/repository-connection/exists — the frontend's hot path."""

from __future__ import annotations

from repoconn_core.http_api import HttpFunction, ProjectIdPath
from repoconn_core.models import ExistsResponse
from repoconn_core.wiring import connection_queries

function = HttpFunction()
app = function.app


@app.get("/projects/<projectId>/repository-connection/exists")
def connection_exists(projectId: ProjectIdPath) -> ExistsResponse:
    return ExistsResponse(exists=connection_queries().exists(function.caller(), projectId))


lambda_handler = function.handler
