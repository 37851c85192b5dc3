"""What contract fuzzing (tests/fuzz, ``make fuzz``) found, pinned as ordinary tests: each one
reproduces a generated request that broke the contract, through the real handler."""

from __future__ import annotations

import json

import pytest

from tests.support.api import Api, admin

JSON_TEXT = json.dumps({"repositoryUrl": "https://github.com/acme/api", "accessToken": "t"})
# (body, declared content type, whether API Gateway hands it over base64-encoded)
UNPARSEABLE_BODIES = [
    pytest.param(b"\xff\xfe \x80", "application/json", True, id="not-utf8"),
    pytest.param(JSON_TEXT, "text/plain", False, id="json-sent-as-text-plain"),
    # Powertools cannot parse multipart/form-data without a boundary.
    pytest.param(JSON_TEXT, "multipart/form-data", False, id="multipart-without-boundary"),
]


@pytest.mark.parametrize(("body", "content_type", "base64_encoded"), UNPARSEABLE_BODIES)
def test_a_put_body_the_handler_cannot_read_as_json_is_a_400_problem_not_a_500(
    api: Api, body: str | bytes, content_type: str, base64_encoded: bool
) -> None:
    # Given a PUT body that is not UTF-8, or is declared as something other than JSON
    event = api.event("PUT", "p1", raw_body=body, content_type=content_type, claims=admin("p1"))
    assert event["isBase64Encoded"] is base64_encoded
    # When the upsert handler receives it
    response = api.send(event)
    # Then it is refused as a malformed body, in problem+json
    assert response.status == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "malformed_body"


@pytest.mark.parametrize("token", ["tok\u2713en", "tok\u00e9n", "tok\x00en", "tok\x7fen"])
def test_an_access_token_that_is_not_printable_ascii_is_422_without_echo(
    api: Api, token: str
) -> None:
    # Given a token no provider issues (non-ASCII or a control character)
    # When an admin connects with it
    response = api.connect("p1", "https://github.com/acme/api", token)
    # Then it is a validation problem that does not repeat the token
    assert response.status == 422
    assert response.json()["code"] == "validation_failed"
    assert token not in response.text
