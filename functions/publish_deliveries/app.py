"""The relay: publishes the deliveries the receiver recorded, from the table's stream.

Invoked by the DynamoDB stream event source mapping (template.yaml) with batches of new
delivery records. Answers Lambda's partial batch response: the first record not published
is where the retry starts (``ReportBatchItemFailures``), so a batch is never published twice
from the start because one event failed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from repoconn_core.logs import function_logger
from repoconn_core.storage.delivery_log import recorded_delivery
from repoconn_core.wiring import publish_deliveries

# Library loggers pinned, the event never logged, whatever the environment (logs.py).
logger = function_logger()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    deliveries = [
        delivery
        for record in records
        if record.get("eventName") in ("INSERT", "MODIFY")
        and (
            delivery := recorded_delivery(
                record["dynamodb"]["SequenceNumber"], record["dynamodb"].get("NewImage") or {}
            )
        )
        is not None
    ]
    outcome = publish_deliveries()(deliveries)
    metrics.add_metric(name="DeliveriesPublished", unit=MetricUnit.Count, value=outcome.published)
    metrics.add_metric(name="DeliveriesDropped", unit=MetricUnit.Count, value=outcome.dropped)
    logger.info(
        "deliveries relayed",
        extra={
            "records": len(records),
            "published": outcome.published,
            "dropped": outcome.dropped,
            "retryFrom": outcome.retry_from,
        },
    )
    failures = [] if outcome.retry_from is None else [{"itemIdentifier": outcome.retry_from}]
    return {"batchItemFailures": failures}
