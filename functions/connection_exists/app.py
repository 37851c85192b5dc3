"""GET /projects/{projectId}/repository-connection/exists — the frontend's hot path."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from repoconn_core.http_api import http_resolver, principal_from
from repoconn_core.models import PROJECT_ID_PATTERN, ExistsResponse
from repoconn_core.wiring import connection_queries

logger = Logger()
metrics = Metrics()
app = http_resolver(logger)


@app.get("/projects/<projectId>/repository-connection/exists")
def connection_exists(
    projectId: Annotated[str, Path(pattern=PROJECT_ID_PATTERN)],
) -> ExistsResponse:
    principal = principal_from(app.current_event.raw_event)
    return ExistsResponse(exists=connection_queries().exists(principal, projectId))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
