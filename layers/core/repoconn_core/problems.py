"""The one map from errors to RFC 9457 problem responses, installed on every resolver.

Expected errors (DomainError, validation) are answered without a stack trace in the logs;
anything else is logged with its traceback and answered with a 500 that says nothing about
internals. No route has its own try/except; the one function without a resolver (the webhook
receiver, see its module) hands what it catches to ``answer_error``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestValidationError,
)

from repoconn_core.errors import DomainError, RouteNotFound, ValidationFailed
from repoconn_core.models import Problem

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:repository-connections:problem:"
# Every answer of a function carries the request's id (API Gateway's requestContext.requestId,
# which API Gateway also sends as apigw-requestid), and a problem names it as its ``instance``:
# what a user quotes when reporting a problem. template.yaml's CORS exposes both headers.
REQUEST_ID_HEADER = "x-request-id"
# The catch-all's answer: it says nothing about what went wrong.
INTERNAL_ERROR = (500, "internal_error", "Internal error", "The request could not be completed.")


def request_id_of(event: Mapping[str, Any]) -> str | None:
    """API Gateway's id of the request the event describes (``requestContext.requestId``)."""
    context = event.get("requestContext")
    request_id = context.get("requestId") if isinstance(context, Mapping) else None
    return request_id if isinstance(request_id, str) and request_id else None


def with_request_id(answer: dict[str, Any], request_id: str | None) -> dict[str, Any]:
    """A payload-2.0 answer with the ``x-request-id`` header (unless there is no id)."""
    if request_id is not None:
        answer["headers"] = {**(answer.get("headers") or {}), REQUEST_ID_HEADER: request_id}
    return answer


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
    instance: str | None = None,
) -> Response[str]:
    problem = Problem.model_validate(
        {
            "type": PROBLEM_TYPE_BASE + code,
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
            "instance": instance,
            "errors": errors,
        }
    )
    return Response(
        status_code=status,
        content_type=PROBLEM_JSON,
        body=json.dumps(problem.model_dump(exclude_none=True)),
        headers=headers,
    )


def domain_problem(error: DomainError, instance: str | None = None) -> Response[str]:
    errors = error.errors if isinstance(error, ValidationFailed) and error.errors else None
    return problem_response(
        error.status,
        error.code,
        error.title,
        error.detail,
        headers=error.headers(),
        errors=errors,
        instance=instance,
    )


def _validation_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    # Only where and what kind: pydantic's `input` may hold the access token.
    return [
        {
            "loc": [str(part) for part in item.get("loc", ())],
            "type": item.get("type", "invalid"),
            "msg": item.get("msg", ""),
        }
        for item in error.errors()
    ]


def install_problem_handlers(app: ApiGatewayResolver, logger: Logger) -> None:
    def instance() -> str | None:
        return request_id_of(app.current_event.raw_event)

    @app.exception_handler(DomainError)
    def _domain(error: DomainError) -> Response[str]:
        return refused(error, logger, instance())

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response[str]:
        errors = _validation_errors(error)
        logger.info("request validation failed", extra={"errors": errors})
        fields = ", ".join(sorted({".".join(item["loc"][1:]) or "body" for item in errors}))
        invalid = ValidationFailed(f"Invalid or missing fields: {fields}.", errors)
        return domain_problem(invalid, instance())

    @app.not_found
    def _not_found(_: NotFoundError) -> Response[str]:
        return domain_problem(RouteNotFound("No such route."), instance())

    @app.exception_handler(Exception)
    def _unexpected(_: Exception) -> Response[str]:
        return internal_error(logger, instance())


def refused(error: DomainError, logger: Logger, instance: str | None = None) -> Response[str]:
    """A domain error's problem answer (4xx, 502, 503), logged without a stack trace."""
    logger.info("request refused", extra={"code": error.code, "status": error.status})
    return domain_problem(error, instance)


def internal_error(logger: Logger, instance: str | None = None) -> Response[str]:
    """The catch-all 500. Call it from an ``except`` block: logger.exception records the
    traceback for operators; the body says nothing."""
    logger.exception("unhandled error")
    status, code, title, detail = INTERNAL_ERROR
    return problem_response(status, code, title, detail, instance=instance)


def answer_error(error: Exception, logger: Logger, instance: str | None = None) -> Response[str]:
    """The same map for a function that has no resolver (functions/receive_webhook): a
    DomainError is refused with its problem, anything else is the catch-all 500."""
    if isinstance(error, DomainError):
        return refused(error, logger, instance)
    return internal_error(logger, instance)


def proxy_answer(response: Response[str]) -> dict[str, Any]:
    """A response as the payload-2.0 integration answer API Gateway expects: what a resolver
    returns, for a function that has none."""
    return {
        "statusCode": response.status_code,
        "headers": dict(response.headers),
        "body": response.body,
        "isBase64Encoded": False,
    }
