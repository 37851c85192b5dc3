"""PUT /projects/{projectId}/repository-connection — connect or re-connect a repository.

The caller is authorised before the body is read, so a caller without the right learns
nothing from the body's validation (docs/security.md, "Order of checks"); the body is
therefore not a parameter Powertools validates first (its schema is in docs/openapi.json all
the same). The body carries an access token: the event is never logged (log_event stays off)
and the token stays a SecretStr until the cipher encrypts it.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from repoconn_core.http_api import HttpFunction, ProjectIdPath
from repoconn_core.models import ConnectRequest, RepositoryConnectionInfo
from repoconn_providers.wiring import connect_repository

function = HttpFunction()
app, metrics = function.app, function.metrics


@app.put("/projects/<projectId>/repository-connection")
def upsert_connection(projectId: ProjectIdPath) -> Response[RepositoryConnectionInfo]:
    principal = function.project_admin(projectId)
    result = connect_repository()(principal, projectId, function.request_body(ConnectRequest))
    metrics.add_metric(
        name="ConnectionCreated" if result.created else "ConnectionUpdated",
        unit=MetricUnit.Count,
        value=1,
    )
    return Response(
        status_code=201 if result.created else 200,
        content_type=content_types.APPLICATION_JSON,
        body=RepositoryConnectionInfo.from_summary(
            result.connection, last_delivery_at=result.last_delivery_at
        ),
    )


lambda_handler = function.handler
