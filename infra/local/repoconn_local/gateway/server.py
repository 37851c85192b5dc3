"""A local stand-in for the API Gateway HTTP API in front of the functions (no Docker).

It serves the routes of template.yaml (see routes.py) on one port and, per request, does what
API Gateway does before and after a Lambda proxy integration:

1. refuses a body over ``MAX_PAYLOAD_BYTES`` (HTTP API's 10 MB payload quota) with 413;
2. answers CORS preflights itself when the API has a CorsConfiguration — no route, no auth;
3. picks the route; no route for the path, or none for this method, is 404 (HTTP APIs do not
   answer 405: a known path with another method is "Not Found" too);
4. runs the route's JWT authorizer (jwt_authorizer): 401/403 before any function runs;
5. builds the payload-2.0 event (events.http_api_event) — headers lower-cased with duplicates
   comma-joined, cookies in ``cookies``, ``queryStringParameters``, percent-decoded path and
   path parameters, the authorizer's claims flattened as API Gateway flattens them — and
   invokes the function's ``lambda_handler`` in-process (function_host) with a Lambda context;
6. maps the result to HTTP by payload-2.0 rules (proxy_response); a crash, timeout or
   unusable result is API Gateway's ``{"message":"Internal Server Error"}`` (500), an
   integration timeout ``{"message":"Service Unavailable"}`` (503);
7. adds the API's CORS headers (dropping any the function set, as API Gateway ignores them)
   and ``apigw-requestid`` (to every answer, its own included: the id the event's
   ``requestContext.requestId`` carries), and writes one access-log line — method, path,
   status, duration; never headers, query strings or bodies, which carry tokens.

Known differences from AWS: tokens are HS256 with a local secret instead of the issuer's JWKS;
bodies between Lambda's 6 MB invocation limit and 10 MB reach the function; throttling,
custom domains and stage variables are not emulated; all HttpApis share one port.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl, unquote, urlsplit

from repoconn_local.aws.template_schema import DEFAULT_TEMPLATE_PATH, load_template
from repoconn_local.gateway.events import http_api_event
from repoconn_local.gateway.jwt_authorizer import AuthDenied, LocalJwtAuthorizer
from repoconn_local.gateway.proxy_response import (
    HttpResponse,
    MalformedResponse,
    from_lambda_result,
    gateway_error,
)
from repoconn_local.gateway.routes import CorsConfig, RouteTable, route_table
from repoconn_local.lambda_host.function_host import FunctionHost, Invocation, Outcome

# HTTP API's maximum payload size ("Payload size: 10 MB", API Gateway quotas for HTTP APIs).
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Methods no route can have: answered by the gateway (404, no route matches) in API Gateway's
# JSON rather than http.server's HTML 501 (found by contract fuzzing).
OTHER_METHODS = ("TRACE", "CONNECT", "QUERY")
# Hop-by-hop and framing headers are the server's to set, never the function's.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


@dataclass(frozen=True)
class _Request:
    method: str
    raw_path: str
    query: str
    headers: dict[str, str]
    cookies: list[str]
    body: bytes | None
    source_ip: str


class _PayloadTooLarge(Exception):
    pass


class LocalGateway:
    """The HTTP API on ``host:port``; binds on construction, serves after ``start()``."""

    def __init__(
        self,
        routes: RouteTable,
        *,
        code_root: Path,
        authorizer: LocalJwtAuthorizer,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = "us-east-1",
        access_log: TextIO | None = None,
    ) -> None:
        self.routes = routes
        self.authorizer = authorizer
        self._hosts = {
            route.function.logical_id: FunctionHost(route.function, code_root, region)
            for route in routes.routes
        }
        self._log_stream = access_log if access_log is not None else sys.stderr
        self._log_lock = threading.Lock()
        self._host = host
        self._server = _Server((host, port), _RequestHandler, self)
        self._thread: threading.Thread | None = None

    @classmethod
    def from_template(
        cls,
        template_path: str | Path | None = None,
        *,
        parameter_overrides: Mapping[str, str] | None = None,
        authorizer: LocalJwtAuthorizer | None = None,
        **options: Any,
    ) -> LocalGateway:
        path = Path(template_path or DEFAULT_TEMPLATE_PATH).resolve()
        routes = route_table(load_template(path), parameter_overrides)
        return cls(
            routes,
            code_root=path.parent,
            authorizer=authorizer or LocalJwtAuthorizer.from_env(),
            **options,
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-gateway", daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    # ------------------------------------------------------------------ per request

    def handle(self, request: _Request) -> HttpResponse:
        # API Gateway names every request, its own answers included (preflights, 401s, 404s).
        request_id = str(uuid.uuid4())
        cors = self._cors_for(request.raw_path)
        if cors is not None and _is_preflight(request):
            return _with_request_id(_preflight(cors, request.headers), request_id)
        response = _with_request_id(self._route(request, request_id), request_id)
        return _with_cors(response, cors, request.headers.get("origin"))

    def _route(self, request: _Request, request_id: str) -> HttpResponse:
        match = self.routes.match(request.method, request.raw_path)
        if match is None:
            return gateway_error(404, "Not Found")
        route = match.route
        claims: dict[str, Any] | None = None
        if route.authorizer is not None:
            verdict = self.authorizer.authorize(
                request.headers.get(route.authorizer.header), route.scopes
            )
            if isinstance(verdict, AuthDenied):
                reason = verdict.www_authenticate
                extra = {"www-authenticate": reason} if reason is not None else None
                return gateway_error(verdict.status, verdict.message, extra)
            claims = verdict
        event = http_api_event(
            request.method,
            unquote(request.raw_path),
            route_key=route.route_key,
            path_parameters=match.path_parameters or None,
            query=request.query,
            headers=request.headers,
            body=request.body,
            claims=claims,
            source_ip=request.source_ip,
        )
        _complete_event(event, request)
        event["requestContext"]["requestId"] = request_id
        invocation = self._hosts[route.function.logical_id].invoke(
            event, route.integration_timeout_seconds
        )
        return self._response(route.function.logical_id, invocation)

    def _response(self, function: str, invocation: Invocation) -> HttpResponse:
        if invocation.outcome is Outcome.INTEGRATION_TIMEOUT:
            self.log(f"{function}: integration timed out (API Gateway answers 503)")
            return gateway_error(503, "Service Unavailable")
        if invocation.outcome is Outcome.FUNCTION_TIMEOUT:
            timeout = self._hosts[function].spec.timeout_seconds
            self.log(f"{function}: Task timed out after {timeout:.2f} seconds")
            return gateway_error(500, "Internal Server Error")
        if invocation.outcome is Outcome.FAILED:
            # What the Lambda runtime writes to CloudWatch for an unhandled error.
            error = invocation.error
            details = "".join(traceback.format_exception(error)) if error else ""
            self.log(f"{function}: unhandled error\n{details.rstrip()}")
            return gateway_error(500, "Internal Server Error")
        try:
            response, warnings = from_lambda_result(invocation.payload)
        except MalformedResponse as malformed:
            self.log(f"{function}: malformed Lambda proxy response: {malformed}")
            return gateway_error(500, "Internal Server Error")
        for warning in warnings:
            self.log(f"{function}: {warning}")
        return response

    def _cors_for(self, raw_path: str) -> CorsConfig | None:
        apis = self.routes.apis_for_path(raw_path) or self.routes.apis()
        configs = [api.cors for api in apis if api.cors is not None]
        return configs[0] if configs else None

    def log(self, line: str) -> None:
        with self._log_lock:
            self._log_stream.write(line + "\n")
            self._log_stream.flush()


def _complete_event(event: dict[str, Any], request: _Request) -> None:
    """The payload-2.0 fields events.http_api_event leaves out: cookies, query parameters."""
    if request.cookies:
        event["cookies"] = list(request.cookies)
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(request.query, keep_blank_values=True):
        # Format 2.0 joins repeated query parameters with commas.
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    if parameters:
        event["queryStringParameters"] = parameters


def _with_request_id(response: HttpResponse, request_id: str) -> HttpResponse:
    return HttpResponse(
        response.status, [*response.headers, ("apigw-requestid", request_id)], response.body
    )


# ---------------------------------------------------------------------- CORS


def _is_preflight(request: _Request) -> bool:
    return (
        request.method == "OPTIONS"
        and "origin" in request.headers
        and "access-control-request-method" in request.headers
    )


def _origin_allowed(cors: CorsConfig, origin: str | None) -> bool:
    return origin is not None and ("*" in cors.allow_origins or origin in cors.allow_origins)


def _allow_origin_value(cors: CorsConfig, origin: str) -> str:
    return "*" if "*" in cors.allow_origins and not cors.allow_credentials else origin


def _preflight(cors: CorsConfig, headers: Mapping[str, str]) -> HttpResponse:
    """API Gateway's own answer to a preflight: 204, with CORS headers only when allowed."""
    origin = headers.get("origin")
    method = headers.get("access-control-request-method", "").upper()
    if not _origin_allowed(cors, origin) or not (
        "*" in cors.allow_methods or method in cors.allow_methods
    ):
        return HttpResponse(204)
    assert origin is not None
    allowed_headers = (
        headers.get("access-control-request-headers", "")
        if "*" in cors.allow_headers
        else ",".join(cors.allow_headers)
    )
    out = [
        ("access-control-allow-origin", _allow_origin_value(cors, origin)),
        (
            "access-control-allow-methods",
            method if "*" in cors.allow_methods else ",".join(cors.allow_methods),
        ),
    ]
    if allowed_headers:
        out.append(("access-control-allow-headers", allowed_headers))
    if cors.max_age is not None:
        out.append(("access-control-max-age", str(cors.max_age)))
    if cors.allow_credentials:
        out.append(("access-control-allow-credentials", "true"))
    return HttpResponse(204, out)


def _with_cors(response: HttpResponse, cors: CorsConfig | None, origin: str | None) -> HttpResponse:
    if cors is None:
        return response
    # With a CorsConfiguration, API Gateway ignores CORS headers from the integration.
    headers = [
        (name, value)
        for name, value in response.headers
        if not name.lower().startswith("access-control-")
    ]
    if origin is not None and _origin_allowed(cors, origin):
        headers.append(("access-control-allow-origin", _allow_origin_value(cors, origin)))
        if cors.expose_headers:
            headers.append(("access-control-expose-headers", ",".join(cors.expose_headers)))
        if cors.allow_credentials:
            headers.append(("access-control-allow-credentials", "true"))
    return HttpResponse(response.status, headers, response.body)


# ---------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], gateway: LocalGateway
    ) -> None:
        self.gateway = gateway
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (reset, broken pipe) is routine, not a gateway fault.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, a keep-alive client waits for
    # the delayed ACK (~40 ms on loopback) on every request (make bench, local gateway).
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        began = time.monotonic()
        gateway = self.server.gateway
        target = urlsplit(self.path)
        raw_path = target.path or "/"
        try:
            request = self._read_request(raw_path, target.query)
        except _PayloadTooLarge:
            # The body is left unread, so this connection cannot carry another request.
            self.close_connection = True
            response = gateway_error(413, "Request Entity Too Large", {"connection": "close"})
        except ValueError:
            self.close_connection = True
            response = gateway_error(400, "Bad Request", {"connection": "close"})
        else:
            response = gateway.handle(request)
        elapsed = (time.monotonic() - began) * 1000
        # Logged before the response leaves, so a client that got its answer finds the line.
        gateway.log(f"{self.command} {raw_path} {response.status} {elapsed:.0f}ms")
        self._write(response)

    def _read_request(self, raw_path: str, query: str) -> _Request:
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in self.headers.items():
            key = name.lower()
            if key == "cookie":
                cookies.extend(part.strip() for part in value.split(";") if part.strip())
                continue
            # Format 2.0 joins repeated headers with commas.
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        headers.setdefault("x-forwarded-for", self.client_address[0])
        headers.setdefault("x-forwarded-proto", "http")
        headers.setdefault("x-forwarded-port", str(self.server.server_address[1]))
        return _Request(
            method=self.command,
            raw_path=raw_path,
            query=query,
            headers=headers,
            cookies=cookies,
            body=self._read_body(),
            source_ip=self.client_address[0],
        )

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        else:
            length_header = self.headers.get("content-length")
            length = int(length_header) if length_header is not None else 0
            if length < 0:
                raise ValueError("negative content-length")
            if length > MAX_PAYLOAD_BYTES:
                raise _PayloadTooLarge
            body = self.rfile.read(length) if length else b""
        return body or None

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(8192).strip():  # trailers, up to the blank line
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_PAYLOAD_BYTES:
                raise _PayloadTooLarge
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)  # the CRLF after each chunk

    def _write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in _FRAMING_HEADERS or name.lower() == "connection":
                self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def version_string(self) -> str:
        return "repoconn-local-gateway"

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the default line holds the query string; the gateway logs its own."""


for _method in METHODS + OTHER_METHODS:
    setattr(_RequestHandler, f"do_{_method}", _RequestHandler._serve)
