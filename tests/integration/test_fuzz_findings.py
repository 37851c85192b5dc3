"""What contract fuzzing (tests/fuzz, ``make fuzz``) found, pinned as ordinary tests: each one
reproduces a generated request that broke the contract, through the real handler."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
from repoconn_local.gateway.events import http_api_event
from repoconn_local.lambda_host.context import LocalLambdaContext

from tests.integration.conftest import ROUTES, Api, admin

CONNECTION_ROUTE = "/projects/{projectId}/repository-connection"


def _invoke(method: str, event: dict[str, Any]) -> dict[str, Any]:
    module = importlib.import_module(ROUTES[(method, "")])
    result: dict[str, Any] = module.lambda_handler(
        event, LocalLambdaContext(function_name=module.__name__)
    )
    return result


def test_a_put_body_that_is_not_utf8_is_a_400_problem_not_a_500(api: Api) -> None:
    # Given a PUT whose body is not UTF-8, which API Gateway hands over base64-encoded
    event = http_api_event(
        "PUT",
        "/projects/p1/repository-connection",
        route_key=f"PUT {CONNECTION_ROUTE}",
        path_parameters={"projectId": "p1"},
        headers={"content-type": "application/json"},
        body=b"\xff\xfe \x80",
        claims=admin("p1"),
    )
    assert event["isBase64Encoded"] is True
    # When the upsert handler receives it
    response = _invoke("PUT", event)
    # Then it is refused as a malformed body, in problem+json
    assert response["statusCode"] == 400
    assert response["headers"]["Content-Type"] == "application/problem+json"
    assert json.loads(response["body"])["code"] == "malformed_body"


def test_a_put_body_sent_as_text_plain_is_a_400_problem_not_a_500(api: Api) -> None:
    # Given a JSON-looking PUT body declared as text/plain
    event = http_api_event(
        "PUT",
        "/projects/p1/repository-connection",
        route_key=f"PUT {CONNECTION_ROUTE}",
        path_parameters={"projectId": "p1"},
        headers={"content-type": "text/plain"},
        body=json.dumps({"repositoryUrl": "https://github.com/acme/api", "accessToken": "t"}),
        claims=admin("p1"),
    )
    # When the upsert handler receives it
    response = _invoke("PUT", event)
    # Then it is refused as a body that is not JSON, in problem+json
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["code"] == "malformed_body"


@pytest.mark.parametrize("token", ["tok\u2713en", "tok\u00e9n", "tok\x00en", "tok\x7fen"])
def test_an_access_token_that_is_not_printable_ascii_is_422_without_echo(
    api: Api, token: str
) -> None:
    # Given a token no provider issues (non-ASCII or a control character)
    body = {"repositoryUrl": "https://github.com/acme/api", "accessToken": token}
    # When an admin connects with it
    response = api.call("PUT", "p1", body=body, claims=admin("p1"))
    # Then it is a validation problem that does not repeat the token
    assert response.status == 422
    assert response.json()["code"] == "validation_failed"
    assert token not in response.text


def test_a_multipart_put_without_boundary_is_a_400_problem_not_a_500(api: Api) -> None:
    # Given a PUT declared multipart/form-data without a boundary (Powertools cannot parse it)
    event = http_api_event(
        "PUT",
        "/projects/p1/repository-connection",
        route_key=f"PUT {CONNECTION_ROUTE}",
        path_parameters={"projectId": "p1"},
        headers={"content-type": "multipart/form-data"},
        body=json.dumps({"repositoryUrl": "https://github.com/acme/api", "accessToken": "t"}),
        claims=admin("p1"),
    )
    # When the upsert handler receives it
    response = _invoke("PUT", event)
    # Then it is refused as a body that is not JSON, in problem+json
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["code"] == "malformed_body"
