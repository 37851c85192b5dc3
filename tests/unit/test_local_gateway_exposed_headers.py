"""The local gateway serves template.yaml's CORS as API Gateway would: a browser on the frontend's
origin may read the headers a client needs (issue 17) — the request id, why a token was refused,
when to retry, the validators — and every answer, the gateway's own included, names its
request in ``apigw-requestid``."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import requests
from repoconn_local.gateway.jwt_authorizer import LocalJwtAuthorizer
from repoconn_local.gateway.server import LocalGateway

ORIGIN = "http://localhost:5173"
SECRET = "unit-test-secret-that-is-at-least-32-bytes-long"
EXPOSED = "x-request-id,apigw-requestid,www-authenticate,retry-after,etag,location"


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    # The real template.yaml, its CorsAllowOrigin the frontend's origin
    gateway = LocalGateway.from_template(
        parameter_overrides={
            "CorsAllowOrigin": ORIGIN,
            "JwtIssuer": "https://issuer.invalid",
            "JwtAudience": "repoconn",
        },
        authorizer=LocalJwtAuthorizer(SECRET),
        access_log=io.StringIO(),
    )
    gateway.start()
    yield gateway.base_url
    gateway.stop()


def test_the_authorizers_401_exposes_the_request_id_and_www_authenticate(api: str) -> None:
    # When the frontend's origin reads a connection with a token that is not a JWT
    response = requests.get(
        f"{api}/projects/p1/repository-connection",
        headers={"Origin": ORIGIN, "Authorization": "Bearer not-a-jwt"},
        timeout=5,
    )

    # Then API Gateway's own 401 names the request and lets the browser read what it needs
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-expose-headers"] == EXPOSED
    assert response.headers["apigw-requestid"]
    assert "www-authenticate" in response.headers


def test_each_answer_has_its_own_request_id(api: str) -> None:
    # When two requests no route serves are sent
    first, second = (
        requests.get(f"{api}/nowhere", headers={"Origin": ORIGIN}, timeout=5) for _ in range(2)
    )

    # Then each 404 names its own request
    assert (first.status_code, second.status_code) == (404, 404)
    assert first.headers["apigw-requestid"] != second.headers["apigw-requestid"]
    assert first.headers["access-control-expose-headers"] == EXPOSED


def test_another_origin_is_exposed_nothing(api: str) -> None:
    # When an origin the template does not allow calls
    response = requests.get(
        f"{api}/projects/p1/repository-connection",
        headers={"Origin": "https://evil.test"},
        timeout=5,
    )

    # Then no CORS header lets its scripts read anything, but the request is still named
    assert response.status_code == 401
    assert [name for name in response.headers if name.lower().startswith("access-control-")] == []
    assert response.headers["apigw-requestid"]
