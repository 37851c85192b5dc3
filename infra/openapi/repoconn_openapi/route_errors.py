"""Each route's error answers, named by the error classes that produce them.

A route lists the ``DomainError`` subclasses its function may answer with; the status and code
of each come from the class (repoconn_core.errors), so the document
cannot drift from what the service sends (``route_not_found`` included: problems.py answers it
with ``RouteNotFound``; tests/unit/test_openapi_drift.py checks it against a real resolver).

Besides the problem+json answers, API Gateway's own ``{"message": ...}`` answers are documented
as ``GatewayError`` under ``application/json``: 401 from the JWT authorizer, 404 for a path no
route matches, 413 for a body over 10 MB, 429 when throttled, 500 when the function failed, 503
for an integration time-out. Every answer documents the request id headers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from repoconn_core import errors
from repoconn_core.problems import INTERNAL_ERROR
from repoconn_local.gateway.routes import Route

from repoconn_openapi.examples import gateway_example, problem_example

PROBLEM_JSON = "application/problem+json"
APPLICATION_JSON = "application/json"
COMPONENT_REF = "#/components/schemas/{model}"


ErrorAnswer = type[errors.DomainError]


@dataclass(frozen=True)
class RouteErrors:
    """A route's problem answers, in the order the document lists their codes, and its extra
    success answers with the body schema they share with the documented 200."""

    problems: Sequence[ErrorAnswer]
    also_success: Mapping[int, str] = field(default_factory=dict)

    def problems_by_status(self) -> dict[int, list[tuple[str, str]]]:
        """(code, title) of the route's problems, by status."""
        by_status: dict[int, list[tuple[str, str]]] = {}
        for answer in self.problems:
            by_status.setdefault(answer.status, []).append((answer.code, answer.title))
        return by_status


CONNECTION = "/projects/{projectId}/repository-connection"
WEBHOOK = "/webhooks/{connectionId}"

# README's status table, per route.
ROUTE_ERRORS: dict[str, RouteErrors] = {
    f"PUT {CONNECTION}": RouteErrors(
        problems=(
            errors.MalformedBody,
            errors.Unauthenticated,
            errors.Forbidden,
            errors.InsufficientScope,
            errors.RouteNotFound,
            errors.RepositoryAlreadyConnected,
            errors.ConcurrentModification,
            errors.ValidationFailed,
            errors.InvalidRepositoryUrl,
            errors.ServiceTypeMismatch,
            errors.InvalidToken,
            errors.InsufficientPermissions,
            errors.RepositoryNotFound,
            errors.ProviderUnavailable,
            errors.ProviderRateLimited,
            errors.DependencyUnavailable,
        ),
        also_success={201: "Connected: a first connection, or a replacement (new id)."},
    ),
    f"GET {CONNECTION}": RouteErrors(
        problems=(
            errors.Unauthenticated,
            errors.Forbidden,
            errors.ConnectionNotFound,
            errors.RouteNotFound,
            errors.ValidationFailed,
            errors.DependencyUnavailable,
        )
    ),
    f"GET {CONNECTION}/exists": RouteErrors(
        problems=(
            errors.Unauthenticated,
            errors.Forbidden,
            errors.RouteNotFound,
            errors.ValidationFailed,
            errors.DependencyUnavailable,
        )
    ),
    f"GET {CONNECTION}/deliveries": RouteErrors(
        problems=(
            errors.InvalidCursor,
            errors.Unauthenticated,
            errors.Forbidden,
            errors.ConnectionNotFound,
            errors.RouteNotFound,
            errors.ValidationFailed,
            errors.DependencyUnavailable,
        )
    ),
    f"DELETE {CONNECTION}": RouteErrors(
        problems=(
            errors.Unauthenticated,
            errors.Forbidden,
            errors.InsufficientScope,
            errors.ConnectionNotFound,
            errors.RouteNotFound,
            errors.ConcurrentModification,
            errors.ValidationFailed,
            errors.DependencyUnavailable,
        )
    ),
    f"POST {WEBHOOK}": RouteErrors(
        problems=(
            errors.MalformedBody,
            errors.DeliveryRejected,
            errors.PayloadTooLarge,
            errors.DependencyUnavailable,
        ),
        also_success={202: "Verified and accepted (first delivery with this id)."},
    ),
}

STATUS_TEXT = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Payload too large",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal error",
    502: "Bad gateway",
    503: "Service unavailable",
}

# API Gateway's own answers ({"message": ...}), which the local gateway reproduces (but for the
# throttling 429: throttling is not emulated locally).
GATEWAY_MESSAGES = {
    401: "Unauthorized",
    404: "Not Found",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
GATEWAY_ERROR_SCHEMA: dict[str, Any] = {
    "title": "GatewayError",
    "description": (
        "API Gateway's own answer, sent before (or instead of) the function, never "
        "problem+json: 401 from the JWT authorizer (no or invalid token), 404 when no route "
        "matches the path, 413 for a body over the 10 MB payload quota, 429 when the stage's or "
        "route's throttling limit is hit, 500 when the function failed (crash, time-out, "
        "unusable answer), 503 when the integration timed out."
    ),
    "type": "object",
    "properties": {
        "message": {
            "type": "string",
            "enum": sorted(GATEWAY_MESSAGES.values()),
            "title": "Message",
            "description": "API Gateway's fixed text for the status.",
        }
    },
    "required": ["message"],
    "additionalProperties": False,
    "examples": [{"message": "Unauthorized"}],
}
# Every function answer: problems.py's x-request-id; every answer: API Gateway's apigw-requestid.
REQUEST_ID_DESCRIPTION = (
    "The request's id, as the problem's `instance` names it: quote it when reporting a problem."
)
RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying (the service's 503 problems only).",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
        "example": "30",
    }
}
WWW_AUTHENTICATE_HEADER = {
    "www-authenticate": {
        "description": "Why the JWT authorizer refused the token (absent when there was none).",
        "schema": {"type": "string"},
        "example": 'Bearer error="invalid_token"',
    }
}


def request_id_headers(*, from_function: bool) -> dict[str, Any]:
    """The request id headers of an answer: API Gateway's on every answer, the service's own
    whenever a function answered (``from_function``: the status is never API Gateway's)."""
    return {
        "apigw-requestid": {
            "description": f"API Gateway's request id, on every answer. {REQUEST_ID_DESCRIPTION}",
            "required": True,
            "schema": {"type": "string"},
            "example": "IXk2bhbBoAMEPbA=",
        },
        "x-request-id": {
            "description": (
                "The same id, set by the service on every answer of its functions (absent on "
                f"API Gateway's own answers). {REQUEST_ID_DESCRIPTION}"
            ),
            "required": from_function,
            "schema": {"type": "string"},
            "example": "IXk2bhbBoAMEPbA=",
        },
    }


def error_responses(route: Route, errors: RouteErrors) -> dict[int, Any]:
    """The route's error answers by status: its problems, and API Gateway's own."""
    gateway = {404, 429, 500, 503}
    if route.authorizer is not None:
        gateway.add(401)
    if route.method in ("PUT", "POST", "PATCH"):
        gateway.add(413)
    problems = errors.problems_by_status()
    # Any function may answer the catch-all 500 (problems.internal_error).
    status_500, code_500, title_500, _ = INTERNAL_ERROR
    problems.setdefault(status_500, []).append((code_500, title_500))
    responses: dict[int, Any] = {}
    for status in sorted(set(problems) | gateway):
        content: dict[str, Any] = {}
        answers = problems.get(status, [])
        codes = [code for code, _ in answers]
        if answers:
            content[PROBLEM_JSON] = {
                "schema": _problem_schema(status, codes),
                "examples": {code: problem_example(status, code, title) for code, title in answers},
            }
        if status in gateway:
            message = GATEWAY_MESSAGES[status]
            content[APPLICATION_JSON] = {
                "schema": {
                    "allOf": [
                        {"$ref": ref("GatewayError")},
                        {"properties": {"message": {"const": message}}},
                    ]
                },
                "examples": {"gateway": gateway_example(message)},
            }
        headers = request_id_headers(from_function=status not in gateway)
        if status == 503 and codes:
            headers.update(RETRY_AFTER_HEADER)
        if status == 401 and status in gateway:
            headers.update(WWW_AUTHENTICATE_HEADER)
        responses[status] = {
            "description": _error_description(status, codes, status in gateway),
            "headers": headers,
            "content": content,
        }
    return responses


def ref(name: str) -> str:
    return COMPONENT_REF.format(model=name)


def _problem_schema(status: int, codes: Sequence[str]) -> dict[str, Any]:
    return {
        "allOf": [
            {"$ref": ref("Problem")},
            {
                "properties": {
                    "status": {"const": status},
                    "code": {"enum": list(codes)},
                }
            },
        ]
    }


def _error_description(status: int, codes: Sequence[str], gateway: bool) -> str:
    parts = [STATUS_TEXT.get(status, str(status)) + "."]
    if codes:
        parts.append("Problem codes: " + ", ".join(f"`{code}`" for code in codes) + ".")
    if gateway:
        parts.append(f'API Gateway: `{{"message": "{GATEWAY_MESSAGES[status]}"}}`.')
    return " ".join(parts)
