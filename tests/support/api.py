"""The connection API as the frontend calls it, two ways, one shape:

- ``Api``: each route's real ``lambda_handler`` in-process with a payload-2.0 event whose
  authorizer claims the test chooses (``admin(...)``, ``member(...)``) - no gateway, no JWT;
- ``GatewayApi``: over HTTP to a gateway (the local stack, ``LocalGateway``) with a bearer
  token, as a browser would.

Both answer ``HttpResult`` (status, lower-cased headers, text) and keep every answer in
``answers`` (leak scans read them). ``given_connected`` is the one "given a connected
project" step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import requests
from repoconn_local.gateway.events import http_api_event

from tests.support.handlers import HttpResult, invoke_http

CONNECTION_PATH = "/projects/{projectId}/repository-connection"
# Route key → the function serving it (functions/<name>/app.py).
ROUTES: dict[str, str] = {
    f"PUT {CONNECTION_PATH}": "upsert_connection",
    f"GET {CONNECTION_PATH}": "get_connection",
    f"GET {CONNECTION_PATH}/exists": "connection_exists",
    f"GET {CONNECTION_PATH}/deliveries": "list_deliveries",
    f"DELETE {CONNECTION_PATH}": "disconnect_connection",
}
# A token with full rights at the provider simulator (its "anything else" convention).
PROVIDER_TOKEN = "tok-good"


def admin(*projects: str) -> dict[str, object]:
    """Claims of an admin of ``projects`` (the default roles claim, identity.py)."""
    return {"sub": "admin-1", "project_roles": [f"{project}:admin" for project in projects]}


def member(*projects: str) -> dict[str, object]:
    """Claims of a member of ``projects``."""
    return {"sub": "member-1", "project_roles": [f"{project}:member" for project in projects]}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def connect_body(url: str, token: str, **extra: object) -> dict[str, object]:
    return {"repositoryUrl": url, "accessToken": token, **extra}


@dataclass(frozen=True)
class Request:
    method: str
    project_id: str
    suffix: str  # "", "/exists" or "/deliveries"
    body: str | bytes | None
    query: str = ""  # the raw query string, without "?"

    @property
    def path(self) -> str:
        return CONNECTION_PATH.replace("{projectId}", self.project_id) + self.suffix


class _ConnectionApi:
    """The routes of one project's connection; subclasses say how a request is sent and who
    the caller is by default."""

    def __init__(self) -> None:
        self.answers: list[HttpResult] = []

    def call(
        self,
        method: str,
        project_id: str,
        suffix: str = "",
        *,
        body: object = None,
        raw_body: str | bytes | None = None,
        query: str = "",
        **caller: Any,
    ) -> HttpResult:
        """``body`` is sent as JSON, ``raw_body`` as it is; ``caller`` as the subclass reads it."""
        if raw_body is None and body is not None:
            raw_body = json.dumps(body)
        result = self._send(Request(method, project_id, suffix, raw_body, query), caller)
        self.answers.append(result)
        return result

    def connect(
        self, project_id: str, url: str, token: str = PROVIDER_TOKEN, **caller: Any
    ) -> HttpResult:
        """PUT ``url`` with the provider access token ``token``."""
        return self.call("PUT", project_id, body=connect_body(url, token), **caller)

    def read(self, project_id: str, suffix: str = "", **caller: Any) -> HttpResult:
        """GET (or GET /exists with ``suffix``)."""
        return self.call("GET", project_id, suffix, **caller)

    def disconnect(self, project_id: str, **caller: Any) -> HttpResult:
        return self.call("DELETE", project_id, **caller)

    def deliveries(self, project_id: str, query: str = "", **caller: Any) -> HttpResult:
        """GET /deliveries with the raw query string ``query`` (e.g. ``limit=1&cursor=...``)."""
        return self.call("GET", project_id, "/deliveries", query=query, **caller)

    def _send(self, request: Request, caller: dict[str, Any]) -> HttpResult:
        raise NotImplementedError


class Api(_ConnectionApi):
    """Calls the real lambda_handler of each route with payload-2.0 events. The caller is
    ``claims=``; by default the project's admin, and a member of it for reads."""

    @staticmethod
    def event(
        method: str,
        project_id: str,
        suffix: str = "",
        *,
        raw_body: str | bytes | None = None,
        content_type: str = "application/json",
        claims: Mapping[str, object] | None = None,
        query: str = "",
    ) -> dict[str, Any]:
        """The payload-2.0 event API Gateway would hand the route's function."""
        event = http_api_event(
            method,
            CONNECTION_PATH.replace("{projectId}", project_id) + suffix,
            route_key=f"{method} {CONNECTION_PATH}{suffix}",
            path_parameters={"projectId": project_id},
            query=query,
            headers={"content-type": content_type} if raw_body is not None else {},
            body=raw_body,
            claims=claims,
        )
        parameters: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            # As API Gateway (and the local gateway): repeated parameters comma-joined.
            parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
        if parameters:
            event["queryStringParameters"] = parameters
        return event

    def send(self, event: dict[str, Any]) -> HttpResult:
        """``event`` to the function its route key names."""
        result = invoke_http(ROUTES[event["routeKey"]], event)
        self.answers.append(result)
        return result

    def connect(
        self, project_id: str, url: str, token: str = PROVIDER_TOKEN, **caller: Any
    ) -> HttpResult:
        return super().connect(project_id, url, token, **_as(admin(project_id), caller))

    def read(self, project_id: str, suffix: str = "", **caller: Any) -> HttpResult:
        return super().read(project_id, suffix, **_as(member(project_id), caller))

    def disconnect(self, project_id: str, **caller: Any) -> HttpResult:
        return super().disconnect(project_id, **_as(admin(project_id), caller))

    def deliveries(self, project_id: str, query: str = "", **caller: Any) -> HttpResult:
        return super().deliveries(project_id, query, **_as(member(project_id), caller))

    def _send(self, request: Request, caller: dict[str, Any]) -> HttpResult:
        claims = caller.pop("claims", None)
        assert not caller, f"unknown caller fields {sorted(caller)}"
        event = self.event(
            request.method,
            request.project_id,
            request.suffix,
            raw_body=request.body,
            claims=claims,
            query=request.query,
        )
        return invoke_http(ROUTES[event["routeKey"]], event)


def _as(default: Mapping[str, object], caller: dict[str, Any]) -> dict[str, Any]:
    """``caller`` with the default claims unless it names some (None included)."""
    return caller if "claims" in caller else {**caller, "claims": default}


class GatewayApi(_ConnectionApi):
    """The same routes over HTTP, through a gateway at ``base_url``: the caller is a bearer
    token (``bearer_token=``) or whatever ``headers=`` say."""

    def __init__(self, base_url: str, *, timeout: float = 30) -> None:
        super().__init__()
        self.base_url = base_url
        self.timeout = timeout

    def request(self, method: str, url: str, **kwargs: Any) -> HttpResult:
        """Any request to the gateway (another route, another path)."""
        result = self._http(method, url, **kwargs)
        self.answers.append(result)
        return result

    def _send(self, request: Request, caller: dict[str, Any]) -> HttpResult:
        token = caller.pop("bearer_token", None)
        sent = {**(bearer(token) if token is not None else {}), **caller.pop("headers", {})}
        assert not caller, f"unknown caller fields {sorted(caller)}"
        if request.body is not None:
            sent.setdefault("Content-Type", "application/json")
        url = self.base_url + request.path + (f"?{request.query}" if request.query else "")
        return self._http(request.method, url, data=request.body, headers=sent)

    def _http(self, method: str, url: str, **kwargs: Any) -> HttpResult:
        response = requests.request(method, url, timeout=self.timeout, **kwargs)
        return HttpResult(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            text=response.text,
        )


def given_connected(
    api: Api | GatewayApi,
    url: str,
    *,
    project: str = "p1",
    token: str = PROVIDER_TOKEN,
    expect: int = 201,
    **caller: Any,
) -> dict[str, Any]:
    """Connect ``url`` to ``project`` (as its admin, or as ``caller`` says); assert the answer
    is ``expect``; the connection's public view."""
    response = api.connect(project, url, token, **caller)
    assert response.status == expect, response.text
    return dict(response.json())
