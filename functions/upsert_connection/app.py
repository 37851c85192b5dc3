"""PUT /projects/{projectId}/repository-connection — connect or re-connect a repository.

The body carries an access token: the event is never logged (log_event stays off) and the
token stays a SecretStr until the cipher encrypts it.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from repoconn_core.http_api import http_resolver, principal_from
from repoconn_core.models import PROJECT_ID_PATTERN, ConnectRequest, RepositoryConnectionInfo
from repoconn_core.wiring import connect_repository

logger = Logger()
metrics = Metrics()
app = http_resolver(logger)


@app.put("/projects/<projectId>/repository-connection")
def upsert_connection(
    projectId: Annotated[str, Path(pattern=PROJECT_ID_PATTERN)],
    request: Annotated[ConnectRequest, Body()],
) -> Response[RepositoryConnectionInfo]:
    principal = principal_from(app.current_event.raw_event)
    result = connect_repository()(principal, projectId, request)
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


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
