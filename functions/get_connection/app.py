"""GET /projects/{projectId}/repository-connection — the project's connection, never secrets."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from repoconn_core.http_api import http_resolver, principal_from
from repoconn_core.models import PROJECT_ID_PATTERN, RepositoryConnectionInfo
from repoconn_core.wiring import connection_queries

logger = Logger()
metrics = Metrics()
app = http_resolver(logger)


@app.get("/projects/<projectId>/repository-connection")
def get_connection(
    projectId: Annotated[str, Path(pattern=PROJECT_ID_PATTERN)],
) -> RepositoryConnectionInfo:
    principal = principal_from(app.current_event.raw_event)
    summary = connection_queries().get(principal, projectId)
    return RepositoryConnectionInfo.from_summary(summary)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
