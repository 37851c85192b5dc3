"""A Lambda's return value → the HTTP response, by API Gateway's payload-2.0 rules.

https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html

- A JSON object with ``statusCode`` is the structured response: ``statusCode``, ``headers``,
  ``cookies`` (each becomes its own ``set-cookie`` header), ``body`` (a string) and
  ``isBase64Encoded``. ``multiValueHeaders`` belongs to payload 1.0; 2.0 ignores it, so it is
  ignored here too (with a warning) rather than working locally and silently not in AWS.
- Any other valid JSON (an object without ``statusCode``, a string, a number, a list, null) is
  inferred: status 200, ``content-type: application/json``, the JSON itself as the body — so a
  handler returning ``"ok"`` answers the four bytes ``"ok"``.
- Anything API Gateway cannot use (a non-integer status, a non-string body, undecodable
  base64, a value that is not JSON) is an integration failure: 500 Internal Server Error.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class MalformedResponse(ValueError):
    """The function answered something API Gateway cannot turn into an HTTP response."""


def gateway_error(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> HttpResponse:
    """API Gateway's own answers: ``{"message": "..."}`` as JSON."""
    return HttpResponse(
        status,
        [("content-type", "application/json"), *(headers or {}).items()],
        json.dumps({"message": message}, separators=(",", ":")).encode(),
    )


def from_lambda_result(result: Any) -> tuple[HttpResponse, list[str]]:
    """The HTTP response for ``result`` and any warnings about ignored fields."""
    if isinstance(result, Mapping) and "statusCode" in result:
        return _structured(result)
    try:
        body = json.dumps(result)
    except (TypeError, ValueError) as error:
        raise MalformedResponse(
            f"the function returned a value that is not JSON: {error}"
        ) from error
    return HttpResponse(200, [("content-type", "application/json")], body.encode()), []


def _structured(result: Mapping[str, Any]) -> tuple[HttpResponse, list[str]]:
    warnings: list[str] = []
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode must be an integer HTTP status, got {status!r}")
    headers: list[tuple[str, str]] = []
    raw_headers = result.get("headers") or {}
    if not isinstance(raw_headers, Mapping):
        raise MalformedResponse("headers must be an object")
    for name, value in raw_headers.items():
        headers.append((str(name), _header_value(value)))
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list):
        raise MalformedResponse("cookies must be a list of strings")
    headers.extend(("set-cookie", str(cookie)) for cookie in cookies)
    if result.get("multiValueHeaders"):
        warnings.append("multiValueHeaders is a payload 1.0 field; API Gateway 2.0 ignores it")
    body = result.get("body")
    if body is None:
        payload = b""
    elif not isinstance(body, str):
        raise MalformedResponse(f"body must be a string, got {type(body).__name__}")
    elif result.get("isBase64Encoded") is True:
        try:
            payload = base64.b64decode(body, validate=True)
        except binascii.Error as error:
            raise MalformedResponse("isBase64Encoded is true but body is not base64") from error
    else:
        payload = body.encode("utf-8")
    return HttpResponse(status, headers, payload), warnings


def _header_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
