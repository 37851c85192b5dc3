"""Invoke a function's real ``lambda_handler`` in-process, as Lambda would, and read its
payload-2.0 answer as HTTP (status, lower-cased headers, body text).

Handler modules are imported on first use, like a cold start: Powertools reads its service
name and metrics namespace from the environment the test has set by then.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from repoconn_local.gateway.events import http_api_event
from repoconn_local.lambda_host.context import LocalLambdaContext

# The function modules by name (functions/<name>/app.py).
RECEIVE_WEBHOOK = "receive_webhook"
PUBLISH_DELIVERIES = "publish_deliveries"


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def http_result(raw: Mapping[str, Any]) -> HttpResult:
    """A handler's payload-2.0 proxy result as HTTP."""
    return HttpResult(
        status=raw["statusCode"],
        headers={k.lower(): v for k, v in (raw.get("headers") or {}).items()},
        text=raw.get("body") or "",
    )


def invoke(function: str, event: dict[str, Any], *, timeout_seconds: float = 30.0) -> Any:
    """``functions/<function>/app.py``'s handler, called with ``event``; its raw result.
    ``timeout_seconds``: the function's Timeout, which its context counts down from."""
    handler = importlib.import_module(f"functions.{function}.app").lambda_handler
    context = LocalLambdaContext(function_name=function, timeout_seconds=timeout_seconds)
    return handler(event, context)


def invoke_http(function: str, event: dict[str, Any]) -> HttpResult:
    return http_result(invoke(function, event))


def webhook_event(connection_id: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """``POST /webhooks/{connectionId}`` as API Gateway hands it to the receiver."""
    return http_api_event(
        "POST",
        f"/webhooks/{connection_id}",
        route_key="POST /webhooks/{connectionId}",
        path_parameters={"connectionId": connection_id},
        headers=dict(headers),
        body=body,
    )


def deliver_to_receiver(connection_id: str, headers: Mapping[str, str], body: bytes) -> HttpResult:
    """A delivery through the real receive_webhook handler."""
    return invoke_http(RECEIVE_WEBHOOK, webhook_event(connection_id, headers, body))
