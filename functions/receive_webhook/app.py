"""POST /webhooks/{connectionId} — a provider's webhook delivery (no JWT; the signature is
the credential).

The body is hashed exactly as the provider sent it: API Gateway hands binary or non-UTF-8
bodies over base64-encoded (``isBase64Encoded``), which are decoded first. Neither the event,
the body nor the headers are ever logged: GitLab's ``X-Gitlab-Token`` *is* the secret.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from repoconn_core.errors import MalformedBody
from repoconn_core.http_api import http_resolver
from repoconn_core.problems import domain_problem
from repoconn_core.receive import DeliveryRejected
from repoconn_core.wiring import receive_webhook

logger = Logger()
metrics = Metrics()
# Nothing to validate: the body is hashed raw and the id checked by the use case; validation
# would cost every delivery ~0.1 ms (docs/benchmarks.md).
app = http_resolver(logger, validate=False)


@app.post("/webhooks/<connectionId>")
def receive(connectionId: str) -> Response[dict[str, Any]]:
    event = app.current_event
    receipt = receive_webhook()(connectionId, event.headers, _raw_body(event.raw_event))
    # The outcome's one log line is the metric's EMF line (written by log_metrics): a second,
    # Logger line per delivery cost the receiver a tenth of its CPU (docs/benchmarks.md).
    for key, value in (
        ("connectionId", connectionId),
        ("deliveryId", receipt.delivery_id),
        ("eventKind", receipt.event_kind),
        ("duplicate", receipt.duplicate),
        ("requestId", app.lambda_context.aws_request_id),
    ):
        metrics.add_metadata(key=key, value=value)
    body = {"accepted": True, "duplicate": receipt.duplicate, "deliveryId": receipt.delivery_id}
    if receipt.duplicate:
        # Already accepted once: acknowledged (so the provider stops retrying), not re-processed.
        metrics.add_metric(name="DeliveriesDuplicate", unit=MetricUnit.Count, value=1)
        status = 200
    else:
        metrics.add_metric(name="DeliveriesAccepted", unit=MetricUnit.Count, value=1)
        status = 202
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@app.exception_handler(DeliveryRejected)
def _rejected(error: DeliveryRejected) -> Response[str]:
    # More specific than the shared DomainError handler, so it wins; same problem body.
    metrics.add_metric(name="DeliveriesRejected", unit=MetricUnit.Count, value=1)
    logger.info("delivery rejected", extra={"code": error.code, "status": error.status})
    return domain_problem(error)


def _raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return str(body).encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as error:
        raise MalformedBody("The request body is not valid base64.") from error


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
