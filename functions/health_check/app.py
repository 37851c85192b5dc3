"""Scheduled (EventBridge, hourly) health check: one pass over every active connection.

The result is the run's report; the same counts go out as EMF metrics, so dashboards and
alarms need no log queries (a rising Failed or Errors count is the thing to alarm on).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from repoconn_core.logs import function_logger
from repoconn_providers.wiring import health_check

# Library loggers pinned, the event never logged, whatever the environment (logs.py).
logger = function_logger()
metrics = Metrics()

# Report field → metric name.
METRICS = {
    "healthy": "Healthy",
    "degraded": "Degraded",
    "failed": "Failed",
    "repaired": "Repaired",
    "skipped": "Skipped",
    "superseded": "Superseded",
    "errors": "Errors",
}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int | bool]:
    report = health_check().run(time_left_ms=context.get_remaining_time_in_millis)
    summary = report.as_dict()
    for field, name in METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=summary[field])
    logger.info("health check finished", extra=summary)
    return summary
