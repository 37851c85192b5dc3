"""PUT /projects/{projectId}/repository-connection — connect or re-connect a repository.

The body carries an access token: the event is never logged (log_event stays off) and the
token stays a SecretStr until the cipher encrypts it.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.metrics import MetricUnit
from repoconn_core.http_api import HttpFunction, ProjectIdPath, caller
from repoconn_core.models import ConnectRequest, RepositoryConnectionInfo
from repoconn_providers.wiring import connect_repository

function = HttpFunction()
app, metrics = function.app, function.metrics


@app.put("/projects/<projectId>/repository-connection")
def upsert_connection(
    projectId: ProjectIdPath, request: Annotated[ConnectRequest, Body()]
) -> Response[RepositoryConnectionInfo]:
    result = connect_repository()(caller(app), projectId, request)
    metrics.add_metric(
        name="ConnectionCreated" if result.created else "ConnectionUpdated",
        unit=MetricUnit.Count,
        value=1,
    )
    return Response(
        status_code=201 if result.created else 200,
        content_type=content_types.APPLICATION_JSON,
        body=RepositoryConnectionInfo.from_summary(result.connection),
    )


lambda_handler = function.handler
