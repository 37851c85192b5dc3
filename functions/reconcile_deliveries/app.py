"""Scheduled (EventBridge, every 15 minutes) reconciliation: what providers failed to deliver
to us is delivered again (repoconn_core.reconcile).

The result is the run's report; the same counts go out as EMF metrics. Names are this
function's own ("Errors" is the health check's), so each alarm reads one function.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from repoconn_core.logs import function_logger
from repoconn_providers.wiring import reconcile_deliveries

# Library loggers pinned, the event never logged, whatever the environment (logs.py).
logger = function_logger()
metrics = Metrics()

# Report field → metric name (docs/operations.md, "Reconciliation of missed deliveries").
METRICS = {
    "found": "DeliveriesFound",
    "redelivered": "DeliveriesRedelivered",
    "redelivery_failed": "RedeliveriesFailed",
    "deferred": "RedeliveriesDeferred",
    "abandoned": "DeliveriesAbandoned",
    "hooks_reenabled": "HooksReenabled",
    "reconciled": "ConnectionsReconciled",
    "unsupported": "ConnectionsWithoutDeliveryLog",
    "skipped": "ConnectionsRateLimited",
    "unreachable": "ConnectionsUnreachable",
    "errors": "ReconcileErrors",
}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int | bool]:
    report = reconcile_deliveries().run(time_left_ms=context.get_remaining_time_in_millis)
    summary = report.as_dict()
    for field, name in METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=summary[field])
    logger.info("reconciliation finished", extra=summary)
    return summary
