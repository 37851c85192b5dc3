"""DELETE /projects/{projectId}/repository-connection — remove the hook and the connection."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from repoconn_core.http_api import HttpFunction, ProjectIdPath
from repoconn_core.models import DisconnectResponse
from repoconn_providers.wiring import disconnect_repository

function = HttpFunction()
app, metrics = function.app, function.metrics


@app.delete("/projects/<projectId>/repository-connection")
def disconnect_connection(projectId: ProjectIdPath) -> DisconnectResponse:
    result = disconnect_repository()(function.caller(write=True), projectId)
    metrics.add_metric(name="ConnectionDeleted", unit=MetricUnit.Count, value=1)
    if not result.webhook_removed:
        metrics.add_metric(name="WebhookLeftBehind", unit=MetricUnit.Count, value=1)
    return DisconnectResponse(deleted=True, webhookRemoved=result.webhook_removed)


lambda_handler = function.handler
