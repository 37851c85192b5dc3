"""POST /webhooks/{connectionId} — a provider's webhook delivery (no JWT; the signature is
the credential).

The body is hashed exactly as the provider sent it: API Gateway hands binary or non-UTF-8
bodies over base64-encoded (``isBase64Encoded``), which are decoded first. Neither the event,
the body nor the headers are ever logged: GitLab's ``X-Gitlab-Token`` *is* the secret.

The one function without a Powertools resolver. It serves one route, which API Gateway has
already matched, and takes a raw body it verifies itself, so a resolver would add routing,
validation and response building and nothing else, for a tenth to a sixth of each delivery's CPU
(docs/benchmarks.md). The handler is the error boundary a resolver would be: a rejection is
counted, and everything else goes to the shared map (``problems.answer_error``).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from repoconn_core.errors import DeliveryRejected, MalformedBody
from repoconn_core.logs import function_logger
from repoconn_core.problems import (
    answer_error,
    domain_problem,
    proxy_answer,
    request_id_of,
    with_request_id,
)
from repoconn_providers.wiring import receive_webhook

# Library loggers pinned, the event never logged, whatever the environment (logs.py).
logger = function_logger()
metrics = Metrics()


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False
)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request_id = request_id_of(event)
    try:
        response = receive(event, context.aws_request_id)
    except DeliveryRejected as error:
        metrics.add_metric(name="DeliveriesRejected", unit=MetricUnit.Count, value=1)
        logger.info("delivery rejected", extra={"code": error.code, "status": error.status})
        response = domain_problem(error, request_id)
    except Exception as error:  # the shared map: DomainError's problem, or the 500
        response = answer_error(error, logger, request_id)
    return with_request_id(proxy_answer(response), request_id)


def receive(event: dict[str, Any], request_id: str) -> Response[str]:
    connection_id = str((event.get("pathParameters") or {}).get("connectionId", ""))
    receipt = receive_webhook()(connection_id, event.get("headers") or {}, _raw_body(event))
    # The outcome's one log line is the metric's EMF line (written by log_metrics): a second,
    # Logger line per delivery cost the receiver a tenth of its CPU (docs/benchmarks.md).
    for key, value in (
        ("connectionId", connection_id),
        ("deliveryId", receipt.delivery_id),
        ("eventKind", receipt.event_kind),
        ("duplicate", receipt.duplicate),
        ("requestId", request_id),
    ):
        metrics.add_metadata(key=key, value=value)
    body: dict[str, Any]
    if receipt.ignored:
        # A ping, or a kind the hook does not subscribe to: acknowledged, nothing published.
        metrics.add_metric(name="DeliveriesIgnored", unit=MetricUnit.Count, value=1)
        status = 200
        body = {"accepted": False, "ignored": receipt.ignored, "deliveryId": receipt.delivery_id}
    else:
        if receipt.duplicate:
            # Already accepted once: acknowledged (so the provider stops retrying), not
            # re-processed.
            metrics.add_metric(name="DeliveriesDuplicate", unit=MetricUnit.Count, value=1)
            status = 200
        else:
            metrics.add_metric(name="DeliveriesAccepted", unit=MetricUnit.Count, value=1)
            status = 202
        body = {
            "accepted": True,
            "duplicate": receipt.duplicate,
            "deliveryId": receipt.delivery_id,
        }
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":")),
    )


def _raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return str(body).encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as error:
        raise MalformedBody("The request body is not valid base64.") from error
