"""DELETE /projects/{projectId}/repository-connection — remove the hook and the connection."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from repoconn_core.http_api import http_resolver, principal_from
from repoconn_core.models import PROJECT_ID_PATTERN, DisconnectResponse
from repoconn_core.wiring import disconnect_repository

logger = Logger()
metrics = Metrics()
app = http_resolver(logger)


@app.delete("/projects/<projectId>/repository-connection")
def disconnect_connection(
    projectId: Annotated[str, Path(pattern=PROJECT_ID_PATTERN)],
) -> DisconnectResponse:
    principal = principal_from(app.current_event.raw_event)
    result = disconnect_repository()(principal, projectId)
    metrics.add_metric(name="ConnectionDeleted", unit=MetricUnit.Count, value=1)
    if not result.webhook_removed:
        metrics.add_metric(name="WebhookLeftBehind", unit=MetricUnit.Count, value=1)
    return DisconnectResponse(deleted=True, webhookRemoved=result.webhook_removed)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
