"""The documents' examples: one per request body, success answer and problem code a route can
answer, and API Gateway's own answers. Problem examples are built from the error classes (type,
title, status, code) with a typical ``detail`` written here, so they cannot name a code or title
the service does not send; the linters (tests/contract/test_openapi_lint.py) validate every
example against its schema."""

from __future__ import annotations

import copy
from typing import Any

from repoconn_core.models import CONNECTION_EXAMPLE
from repoconn_core.problems import PROBLEM_TYPE_BASE

# The request id API Gateway would put into requestContext.requestId (and apigw-requestid).
REQUEST_ID = "IXk2bhbBoAMEPbA="

# A typical detail per problem code (what the service writes for the most common cause).
DETAILS: dict[str, str] = {
    "malformed_body": "The request body must be a JSON object.",
    "invalid_cursor": "The cursor is not one a previous page returned.",
    "unauthenticated": "The bearer token names no subject.",
    "forbidden": "Changing this project's repository connection requires the admin role.",
    "insufficient_scope": "The token holds none of the scopes a change requires.",
    "connection_not_found": "Project demo has no repository connection.",
    "route_not_found": "No such route.",
    "repository_already_connected": "The repository is connected to another project.",
    "concurrent_modification": "The project's repository connection changed meanwhile.",
    "validation_failed": "Invalid or missing fields: accessToken.",
    "invalid_repository_url": "The repository URL uses http; use https or ssh.",
    "service_type_mismatch": (
        "serviceType is GitLab but the repository host github.com is a GitHub host."
    ),
    "invalid_token": "GitHub rejected the access token.",
    "insufficient_permissions": (
        "The token cannot manage the repository's webhooks (admin:repo_hook)."
    ),
    "repository_not_found": "GitHub has no repository acme/widgets visible to the token.",
    "provider_unavailable": "GitHub did not answer in time.",
    "provider_rate_limited": "GitHub rate-limited the request; retry after the given time.",
    "dependency_unavailable": "A backing service is unavailable; retry after the given time.",
    "internal_error": "The request could not be completed.",
    "invalid_signature": "The delivery could not be verified.",
    "payload_too_large": "The body exceeds 4194304 bytes.",
}
# The problems that name fields carry errors[] (problems.py, repository_url.py).
ERRORS: dict[str, list[dict[str, Any]]] = {
    "validation_failed": [
        {"loc": ["body", "accessToken"], "type": "missing", "msg": "Field required"}
    ],
    "invalid_repository_url": [
        {
            "loc": ["body", "repositoryUrl"],
            "type": "insecure_scheme",
            "msg": "The repository URL uses http; use https or ssh.",
        }
    ],
}


def problem_example(status: int, code: str, title: str) -> dict[str, Any]:
    value: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": DETAILS[code],
        "code": code,
        "instance": REQUEST_ID,
    }
    if code in ERRORS:
        value["errors"] = copy.deepcopy(ERRORS[code])
    return {"summary": title, "value": value}


def gateway_example(message: str) -> dict[str, Any]:
    return {"summary": f"API Gateway: {message}", "value": {"message": message}}


_PUT_ANSWER = {
    **CONNECTION_EXAMPLE,
    "lastSyncAt": CONNECTION_EXAMPLE["createdAt"],
    "healthStatus": None,
    "healthReason": None,
    "lastHealthCheckAt": None,
    "lastDeliveryAt": None,
}
_DELIVERY_ID = "21a88412-566a-40f1-a9f0-84bca85aebd1"

# (route key, status) → named examples of the success answer.
SUCCESS: dict[tuple[str, int], dict[str, dict[str, Any]]] = {
    ("PUT /projects/{projectId}/repository-connection", 200): {
        "updated": {"summary": "The same repository, token replaced", "value": _PUT_ANSWER}
    },
    ("PUT /projects/{projectId}/repository-connection", 201): {
        "connected": {"summary": "A first connection", "value": _PUT_ANSWER}
    },
    ("GET /projects/{projectId}/repository-connection", 200): {
        "connection": {"summary": "A checked connection", "value": CONNECTION_EXAMPLE},
        "unchecked": {
            "summary": "Before the first health check and delivery",
            "value": _PUT_ANSWER,
        },
    },
    ("GET /projects/{projectId}/repository-connection/exists", 200): {
        "connected": {"summary": "The project is connected", "value": {"exists": True}},
        "not_connected": {"summary": "The project is not connected", "value": {"exists": False}},
    },
    ("GET /projects/{projectId}/repository-connection/deliveries", 200): {
        "page": {
            "summary": "A page with more after it",
            "value": {
                "deliveries": [
                    {
                        "deliveryId": _DELIVERY_ID,
                        "eventKind": "push",
                        "receivedAt": "2026-11-25T04:43:22.480Z",
                        "outcome": "published",
                    },
                    {
                        "deliveryId": "0b7c3f2e-9d51-4a8e-b0c6-2f4a1e9d7c35",
                        "eventKind": "pull_request",
                        "receivedAt": "2026-11-25T04:40:02.113Z",
                        "outcome": "duplicate",
                    },
                ],
                "nextCursor": "eyJwIjoyfQ",
            },
        },
        "empty": {"summary": "No deliveries yet", "value": {"deliveries": [], "nextCursor": None}},
    },
    ("DELETE /projects/{projectId}/repository-connection", 200): {
        "disconnected": {
            "summary": "Deleted, webhook removed",
            "value": {"deleted": True, "webhookRemoved": True},
        },
        "hook_kept": {
            "summary": "Deleted; the provider could not remove the webhook",
            "value": {"deleted": True, "webhookRemoved": False},
        },
    },
    ("POST /webhooks/{connectionId}", 202): {
        "accepted": {
            "summary": "Verified and recorded",
            "value": {"accepted": True, "duplicate": False, "deliveryId": _DELIVERY_ID},
        }
    },
    ("POST /webhooks/{connectionId}", 200): {
        "duplicate": {
            "summary": "Already accepted once",
            "value": {"accepted": True, "duplicate": True, "deliveryId": _DELIVERY_ID},
        },
        "ping": {
            "summary": "A ping, acknowledged",
            "value": {"accepted": False, "ignored": "ping", "deliveryId": _DELIVERY_ID},
        },
    },
}

# Request bodies (route key → named examples).
REQUESTS: dict[str, dict[str, dict[str, Any]]] = {
    "PUT /projects/{projectId}/repository-connection": {
        "github": {
            "summary": "GitHub, service type inferred from the host",
            "value": {
                "repositoryUrl": "https://github.com/Acme/Widgets.git",
                "accessToken": "ghp_exampleToken1234567890",
            },
        },
        "gitlab_subgroup": {
            "summary": "GitLab subgroup over ssh, service type given",
            "value": {
                "repositoryUrl": "git@gitlab.com:acme/platform/api.git",
                "accessToken": "glpat-exampleToken12345",
                "serviceType": "GitLab",
            },
        },
    },
    "POST /webhooks/{connectionId}": {
        "github_push": {
            "summary": "A GitHub push (abridged)",
            "value": {"ref": "refs/heads/main", "repository": {"full_name": "Acme/Widgets"}},
        }
    },
}
