"""The local gateway: routes from the template, API Gateway's matching, JWT authorizer
emulation (401/403 before any handler runs), payload-2.0 events and response mapping.

Handlers here are functions of this module, routed through a small template
(CodeUri ``tests/unit`` + Handler ``test_local_gateway.<name>``), so the gateway imports them
exactly as it imports the real functions.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from repoconn_core.settings import Settings
from repoconn_local.aws.template_schema import load_template
from repoconn_local.gateway.jwt_authorizer import (
    ALGORITHM,
    LOCAL_AUDIENCE,
    LOCAL_ISSUER,
    AuthDenied,
    LocalJwtAuthorizer,
    mint_token,
)
from repoconn_local.gateway.routes import RouteTable, route_table
from repoconn_local.gateway.server import MAX_PAYLOAD_BYTES, LocalGateway
from repoconn_local.lambda_host.functions import DEFAULT_FUNCTION_TIMEOUT_SECONDS, TemplateError

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "unit-test-secret-that-is-at-least-32-bytes-long"
ORIGIN = "http://localhost:5173"
PROJECTS = "/projects/{projectId}/repository-connection"

# Every invocation of this module's handlers, in order: (handler name, event).
CALLS: list[tuple[str, dict[str, Any]]] = []
RELEASE_SLOW = threading.Event()


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    CALLS.append(("echo", event))
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json", "access-control-allow-origin": "*"},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": json.dumps({"function": context.function_name}),
    }


def plain_dict(event: dict[str, Any], context: Any) -> dict[str, Any]:
    CALLS.append(("plain_dict", event))
    return {"exists": True}


def plain_string(event: dict[str, Any], context: Any) -> str:
    CALLS.append(("plain_string", event))
    return "ok"


def binary(event: dict[str, Any], context: Any) -> dict[str, Any]:
    CALLS.append(("binary", event))
    return {
        "statusCode": 200,
        "isBase64Encoded": True,
        "body": base64.b64encode(b"\x00\xff").decode(),
    }


def status_as_string(event: dict[str, Any], context: Any) -> dict[str, Any]:
    CALLS.append(("status_as_string", event))
    return {"statusCode": "200", "body": "{}"}


def crash(event: dict[str, Any], context: Any) -> dict[str, Any]:
    CALLS.append(("crash", event))
    raise RuntimeError("boom")


def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    CALLS.append(("slow", event))
    RELEASE_SLOW.wait(10)
    return {"statusCode": 200, "body": "late"}


def _function(handler: str, events: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": "tests/unit",
            "Handler": f"test_local_gateway.{handler}",
            "Events": events,
            **extra,
        },
    }


def _http(path: str, method: str, **extra: Any) -> dict[str, Any]:
    return {
        "Type": "HttpApi",
        "Properties": {"ApiId": {"Ref": "Api"}, "Path": path, "Method": method, **extra},
    }


TEMPLATE: dict[str, Any] = {
    "Parameters": {"Origins": {"Type": "CommaDelimitedList"}},
    "Globals": {"Function": {"Timeout": 7}},
    "Resources": {
        "Api": {
            "Type": "AWS::Serverless::HttpApi",
            "Properties": {
                "Auth": {
                    "DefaultAuthorizer": "Jwt",
                    "Authorizers": {
                        "Jwt": {
                            "IdentitySource": "$request.header.Authorization",
                            "JwtConfiguration": {"issuer": "https://issuer", "audience": ["x"]},
                        }
                    },
                },
                "CorsConfiguration": {
                    "AllowOrigins": {"Ref": "Origins"},
                    "AllowMethods": ["GET", "PUT"],
                    "AllowHeaders": ["authorization", "content-type"],
                    "ExposeHeaders": ["retry-after"],
                    "MaxAge": 600,
                },
            },
        },
        "Echo": _function(
            "echo",
            {"Get": _http(PROJECTS, "GET"), "Put": _http(PROJECTS, "PUT")},
        ),
        "PlainDict": _function("plain_dict", {"E": _http(f"{PROJECTS}/exists", "GET")}),
        "PlainString": _function("plain_string", {"E": _http("/string", "GET")}),
        "Binary": _function("binary", {"E": _http("/binary", "GET")}),
        "StatusAsString": _function("status_as_string", {"E": _http("/bad-status", "GET")}),
        "Crash": _function("crash", {"E": _http("/crash", "GET")}),
        "Slow": _function("slow", {"E": _http("/slow", "GET")}, Timeout=0.3),
        "Public": _function(
            "plain_dict",
            {"E": _http("/webhooks/{connectionId}", "POST", Auth={"Authorizer": "NONE"})},
        ),
        "Scoped": _function(
            "plain_dict",
            {"E": _http("/scoped", "GET", Auth={"AuthorizationScopes": ["repo:write"]})},
        ),
        "Proxy": _function("plain_dict", {"E": _http("/files/{proxy+}", "ANY")}),
        "Literal": _function("plain_string", {"E": _http("/files/readme", "GET")}),
        "NotAFunction": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
    },
}


def _routes() -> RouteTable:
    return route_table(TEMPLATE, {"Origins": ORIGIN})


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[LocalGateway, io.StringIO]]:
    log = io.StringIO()
    local = LocalGateway(
        _routes(), code_root=REPO_ROOT, authorizer=LocalJwtAuthorizer(SECRET), access_log=log
    )
    local.start()
    yield local, log
    RELEASE_SLOW.set()
    local.stop()


@pytest.fixture
def api(gateway: tuple[LocalGateway, io.StringIO]) -> str:
    CALLS.clear()
    return gateway[0].base_url


def _token(**overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_AUDIENCE,
        "sub": "alice",
        "iat": now,
        # Tokens are minted at collection time; `make test` can take many minutes to get here.
        "exp": now + 86400,
        "project_roles": ["p1:admin", "p2:member"],
    }
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, SECRET, algorithm=ALGORITHM)


def _bearer(**overrides: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(**overrides)}"}


# ------------------------------------------------------------------ route table


def test_route_table_from_template_yaml_routes_each_function_with_the_jwt_authorizer() -> None:
    # given the repository's template
    template = load_template(REPO_ROOT / "template.yaml")

    # when its routes are read
    routes = {
        route.route_key: route
        for route in route_table(template, {"CorsAllowOrigin": ORIGIN}).routes
    }

    # then the frontend routes call their functions' handlers behind the JWT authorizer
    expected = {
        f"PUT {PROJECTS}": "functions.upsert_connection.app",
        f"GET {PROJECTS}": "functions.get_connection.app",
        f"GET {PROJECTS}/exists": "functions.connection_exists.app",
        f"GET {PROJECTS}/deliveries": "functions.list_deliveries.app",
    }
    for key, module in expected.items():
        assert routes[key].function.module == module
        assert routes[key].function.handler == "lambda_handler"
        authorizer = routes[key].authorizer
        assert authorizer is not None
        assert authorizer.header == "authorization"
    # and only the providers' webhook route goes without a token
    public = sorted(key for key, route in routes.items() if route.authorizer is None)
    assert public in ([], ["POST /webhooks/{connectionId}"])


def test_function_timeout_comes_from_the_function_else_globals_else_sams_default() -> None:
    # given functions with their own Timeout, with the Globals one, and a template without any
    routes = {route.function.logical_id: route.function for route in _routes().routes}
    bare = {**TEMPLATE, "Globals": {}}
    bare_routes = {
        route.function.logical_id: route.function
        for route in route_table(bare, {"Origins": ORIGIN}).routes
    }

    # then each timeout is the most specific one given
    assert routes["Slow"].timeout_seconds == 0.3
    assert routes["Echo"].timeout_seconds == 7.0
    assert bare_routes["Echo"].timeout_seconds == DEFAULT_FUNCTION_TIMEOUT_SECONDS


def test_route_auth_is_the_default_authorizer_unless_none_and_carries_scopes() -> None:
    # given the test template
    routes = {route.route_key: route for route in _routes().routes}

    # then the default authorizer applies, Authorizer: NONE removes it, and scopes are kept
    assert routes[f"GET {PROJECTS}"].authorizer is not None
    assert routes["POST /webhooks/{connectionId}"].authorizer is None
    assert routes["GET /scoped"].scopes == ("repo:write",)


def test_cors_origins_come_from_the_parameter_override_as_a_list() -> None:
    # given a CommaDelimitedList parameter overridden with two origins
    table = route_table(TEMPLATE, {"Origins": "http://a.test, http://b.test"})

    # then the API's CORS configuration holds both, and the rest as written
    cors = table.routes[0].api.cors
    assert cors is not None
    assert cors.allow_origins == ("http://a.test", "http://b.test")
    assert cors.allow_methods == ("GET", "PUT")
    assert cors.max_age == 600


def test_a_parameter_without_default_or_override_is_reported() -> None:
    # when the template is read without a value for Origins
    with pytest.raises(TemplateError) as error:
        route_table(TEMPLATE)

    # then the message says what to pass
    assert "parameter Origins has no Default" in str(error.value)


def test_the_same_route_in_two_functions_is_refused() -> None:
    # given two functions declaring GET /string
    template = {
        **TEMPLATE,
        "Resources": {
            **TEMPLATE["Resources"],
            "Twin": _function("plain_string", {"E": _http("/string", "GET")}),
        },
    }

    # when the routes are read, then the duplicate is named
    with pytest.raises(TemplateError) as error:
        route_table(template, {"Origins": ORIGIN})
    assert "route GET /string is declared twice (PlainString, Twin)" in str(error.value)


@pytest.mark.parametrize(
    ("method", "path", "logical_id", "parameters"),
    [
        ("GET", "/projects/p1/repository-connection", "Echo", {"projectId": "p1"}),
        ("PUT", "/projects/p1/repository-connection", "Echo", {"projectId": "p1"}),
        ("GET", "/projects/p1/repository-connection/exists", "PlainDict", {"projectId": "p1"}),
        ("GET", "/projects/a%20b/repository-connection", "Echo", {"projectId": "a b"}),
        ("GET", "/files/readme", "Literal", {}),
        ("GET", "/files/docs/a.md", "Proxy", {"proxy": "docs/a.md"}),
        ("DELETE", "/files/readme", "Proxy", {"proxy": "readme"}),
        ("POST", "/webhooks/c-1", "Public", {"connectionId": "c-1"}),
    ],
)
def test_paths_match_the_most_specific_route(
    method: str, path: str, logical_id: str, parameters: dict[str, str]
) -> None:
    # when the request is matched
    match = _routes().match(method, path)

    # then the most specific route wins with decoded path parameters
    assert match is not None
    assert match.route.function.logical_id == logical_id
    assert match.path_parameters == parameters


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/projects/p1/repository-connection"),
        ("POST", "/projects/p1/repository-connection/exists"),
        ("GET", "/projects/p1/repository-connection/"),
        ("GET", "/projects//repository-connection"),
        ("GET", "/projects/p1/repository-connection/exists/more"),
        ("GET", "/files"),
        ("GET", "/"),
    ],
)
def test_paths_without_a_route_for_the_method_match_nothing(method: str, path: str) -> None:
    assert _routes().match(method, path) is None


# ------------------------------------------------------------------ JWT authorizer emulation


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, None),
        ({"Authorization": ""}, None),
        ({"Authorization": "Bearer "}, None),
        ({"Authorization": "Bearer not-a-jwt"}, "the token is malformed"),
        (_bearer(exp=int(time.time()) - 1), "the token has expired"),
        (_bearer(exp=None), "the token has no expiry"),
        (_bearer(aud="someone-else"), "the token does not have a valid audience"),
        (_bearer(iss="https://other-issuer"), "the token does not have a valid issuer"),
        (_bearer(nbf=int(time.time()) + 43200), "the token is not valid yet (nbf)"),
        (_bearer(iat=int(time.time()) + 43200), "the token is not valid yet (iat)"),
        (
            {
                "Authorization": "Bearer "
                + jwt.encode(
                    {"sub": "x"}, "another-secret-of-32-bytes-or-more!!", algorithm=ALGORITHM
                )
            },
            "signature is invalid",
        ),
    ],
    ids=[
        "no-header",
        "empty",
        "bearer-only",
        "garbage",
        "expired",
        "no-exp",
        "wrong-aud",
        "wrong-iss",
        "nbf-future",
        "iat-future",
        "wrong-signature",
    ],
)
def test_missing_or_invalid_token_is_401_before_the_handler_runs(
    api: str, headers: dict[str, str], reason: str | None
) -> None:
    # when a protected route is called with that Authorization header
    response = requests.get(f"{api}/projects/p1/repository-connection", headers=headers, timeout=5)

    # then API Gateway's 401 comes back, saying why when there was a token, and no handler ran
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    expected = (
        None
        if reason is None
        else f'Bearer scope="" error="invalid_token" error_description="{reason}"'
    )
    assert response.headers.get("www-authenticate") == expected
    assert CALLS == []


def test_token_without_bearer_prefix_is_accepted_as_api_gateway_does(api: str) -> None:
    # when the header holds the bare token
    response = requests.get(
        f"{api}/projects/p1/repository-connection", headers={"Authorization": _token()}, timeout=5
    )

    # then the handler runs
    assert response.status_code == 200
    assert [name for name, _ in CALLS] == ["echo"]


def test_client_id_stands_in_for_a_missing_audience() -> None:
    # given a token with client_id instead of aud (a Cognito access token)
    authorizer = LocalJwtAuthorizer(SECRET)
    token = _token(aud=None, client_id=LOCAL_AUDIENCE)

    # when it is checked, then it is accepted
    claims = authorizer.authorize(f"Bearer {token}")
    assert isinstance(claims, dict)
    assert claims["client_id"] == LOCAL_AUDIENCE


def test_route_scopes_need_one_of_them_in_the_token(api: str) -> None:
    # when a scoped route is called without and with the scope
    without = requests.get(f"{api}/scoped", headers=_bearer(), timeout=5)
    with_scope = requests.get(
        f"{api}/scoped", headers=_bearer(scope="openid repo:write"), timeout=5
    )

    # then the first is API Gateway's 403 and only the second reaches the handler
    assert without.status_code == 403
    assert without.json() == {"message": "Forbidden"}
    assert with_scope.status_code == 200
    assert len(CALLS) == 1


def test_public_route_runs_without_a_token_and_without_claims(api: str) -> None:
    # when the webhook-style route is called with no token
    response = requests.post(f"{api}/webhooks/c-1", data=b"{}", timeout=5)

    # then the handler runs and sees no authorizer context
    assert response.status_code == 200
    [(_, event)] = CALLS
    assert "authorizer" not in event["requestContext"]


def test_claims_reach_the_handler_flattened_as_api_gateway_flattens_them(api: str) -> None:
    # given a valid token with array claims
    token = _token(exp=2_000_000_000, iat=1_700_000_000)

    # when a protected route is called
    requests.get(
        f"{api}/projects/p1/repository-connection",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )

    # then arrays arrive as "[a b]" and numbers as strings, in the JWT authorizer's place
    [(_, event)] = CALLS
    assert event["requestContext"]["authorizer"]["jwt"]["claims"] == {
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_AUDIENCE,
        "sub": "alice",
        "iat": "1700000000",
        "exp": "2000000000",
        "project_roles": "[p1:admin p2:member]",
    }


def test_minted_tokens_use_the_claim_names_of_the_settings() -> None:
    # given settings with other claim names and a platform admin group
    settings = Settings(roles_claim="roles", groups_claim="groups", platform_admin_group="ops")

    # when an admin-and-member token, a platform admin's and a member's are minted
    def minted(sub: str, **options: Any) -> dict[str, Any]:
        token = mint_token(sub, settings=settings, secret=SECRET, now=1_000, ttl=60, **options)
        return dict(
            jwt.decode(
                token,
                SECRET,
                algorithms=[ALGORITHM],
                options={"verify_exp": False, "verify_iat": False},
                audience=LOCAL_AUDIENCE,
            )
        )

    admin = minted("alice", admin_of=["p1"], member_of=["p2", "p1"])
    operator = minted("olga", platform_admin=True)
    member = minted("bob", member_of=["p1"])

    # then the roles and groups sit under those names, with the local issuer and audience
    assert {name: admin[name] for name in ("iss", "aud", "sub", "iat", "exp", "roles")} == {
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_AUDIENCE,
        "sub": "alice",
        "iat": 1_000,
        "exp": 1_060,
        "roles": ["p1:admin", "p2:member"],
    }
    assert "groups" not in admin and "groups" not in member
    assert member["roles"] == ["p1:member"]
    assert operator["groups"] == ["ops"]
    assert "roles" not in operator


def test_a_platform_admin_token_needs_the_setting() -> None:
    # given no platform admin group configured (the default)
    # when a platform admin token is asked for
    # then it is refused, saying which setting is missing
    with pytest.raises(ValueError, match="PLATFORM_ADMIN_GROUP"):
        mint_token("olga", platform_admin=True, settings=Settings(), secret=SECRET)


def test_an_access_token_has_client_id_and_scopes_instead_of_aud() -> None:
    # given
    token = mint_token(
        "alice", admin_of=["p1"], scopes=["repoconn/write"], access_token=True, secret=SECRET
    )

    # when
    claims = jwt.decode(token, options={"verify_signature": False})

    # then it has a Cognito access token's shape, and the authorizer accepts it
    assert "aud" not in claims
    assert (claims["client_id"], claims["token_use"], claims["scope"]) == (
        LOCAL_AUDIENCE,
        "access",
        "repoconn/write",
    )
    verdict = LocalJwtAuthorizer(SECRET).authorize(f"Bearer {token}")
    assert not isinstance(verdict, AuthDenied)


def test_minted_token_passes_the_local_authorizer() -> None:
    # given a token minted with the same secret
    token = mint_token("alice", admin_of=["p1"], secret=SECRET)

    # when the authorizer checks it
    verdict = LocalJwtAuthorizer(SECRET).authorize(f"Bearer {token}")

    # then its claims come back
    assert not isinstance(verdict, AuthDenied)
    assert verdict["sub"] == "alice"


# ------------------------------------------------------------------ events and responses


def test_event_is_payload_2_0_with_route_parameters_query_cookies_and_body(api: str) -> None:
    # when a PUT carries a query string, a cookie, a repeated header and a JSON body
    connection = http.client.HTTPConnection("127.0.0.1", int(api.rsplit(":", 1)[1]), timeout=5)
    connection.putrequest("PUT", "/projects/p%201/repository-connection?a=1&a=2&b=")
    for name, value in [
        ("Authorization", f"Bearer {_token()}"),
        ("Content-Type", "application/json"),
        ("Content-Length", "2"),
        ("Cookie", "s=1; t=2"),
        ("X-Thing", "one"),
        ("X-Thing", "two"),
    ]:
        connection.putheader(name, value)
    connection.endheaders(b"{}")
    assert connection.getresponse().status == 200
    connection.close()

    # then the handler got the event API Gateway would have built
    [(_, event)] = CALLS
    assert event["version"] == "2.0"
    assert event["routeKey"] == f"PUT {PROJECTS}"
    assert event["rawPath"] == "/projects/p 1/repository-connection"
    assert event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["pathParameters"] == {"projectId": "p 1"}
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["headers"]["x-thing"] == "one,two"
    assert "cookie" not in event["headers"]
    assert event["body"] == "{}"
    assert event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["method"] == "PUT"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"


def test_structured_response_keeps_status_headers_and_cookies(api: str) -> None:
    # when the echo handler answers with cookies and a body
    response = requests.get(
        f"{api}/projects/p1/repository-connection", headers=_bearer(), timeout=5
    )

    # then they reach the client, with API Gateway's request id
    assert response.status_code == 200
    assert response.json() == {"function": "Echo"}
    assert response.raw.headers.getlist("set-cookie") == ["a=1; Path=/", "b=2"]
    assert response.headers["apigw-requestid"] == CALLS[0][1]["requestContext"]["requestId"]


@pytest.mark.parametrize(
    ("path", "status", "content_type", "body"),
    [
        ("/projects/p1/repository-connection/exists", 200, "application/json", b'{"exists": true}'),
        ("/string", 200, "application/json", b'"ok"'),
        ("/binary", 200, None, b"\x00\xff"),
        ("/bad-status", 500, "application/json", b'{"message":"Internal Server Error"}'),
        ("/crash", 500, "application/json", b'{"message":"Internal Server Error"}'),
    ],
)
def test_handler_results_map_to_http_by_payload_2_0_rules(
    api: str, path: str, status: int, content_type: str | None, body: bytes
) -> None:
    # when the route is called
    response = requests.get(f"{api}{path}", headers=_bearer(), timeout=5)

    # then the status, content type and exact body follow API Gateway's inference rules
    assert response.status_code == status
    assert response.headers.get("content-type") == content_type
    assert response.content == body


def test_handler_past_its_timeout_is_500_like_a_lambda_timeout(
    gateway: tuple[LocalGateway, io.StringIO], api: str
) -> None:
    # when a function with a 0.3 s timeout does not return in time
    response = requests.get(f"{api}/slow", headers=_bearer(), timeout=5)
    RELEASE_SLOW.set()

    # then API Gateway's 500 comes back and the log says the task timed out
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}
    assert "Slow: Task timed out after 0.30 seconds" in gateway[1].getvalue()


def test_unknown_path_and_known_path_with_other_method_are_404(api: str) -> None:
    # when an unknown path and a known path with another method are called
    unknown = requests.get(f"{api}/nothing/here", headers=_bearer(), timeout=5)
    other_method = requests.delete(
        f"{api}/projects/p1/repository-connection", headers=_bearer(), timeout=5
    )

    # then both get API Gateway's 404 and no handler ran
    for response in (unknown, other_method):
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found"}
    assert CALLS == []


@pytest.mark.parametrize("method", ["TRACE", "QUERY"])
def test_a_method_no_route_can_have_is_api_gateways_404_not_an_html_501(
    api: str, method: str
) -> None:
    # when a known path is called with a method outside HTTP API's route methods
    response = requests.request(
        method, f"{api}/projects/p1/repository-connection", headers=_bearer(), timeout=5
    )
    # then the gateway answers it like any unrouted request, and no handler ran
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}
    assert CALLS == []


def test_body_over_the_payload_limit_is_413_without_reading_it(api: str) -> None:
    # when a request announces one byte more than API Gateway accepts
    connection = http.client.HTTPConnection("127.0.0.1", int(api.rsplit(":", 1)[1]), timeout=5)
    connection.putrequest("PUT", "/projects/p1/repository-connection")
    connection.putheader("Authorization", f"Bearer {_token()}")
    connection.putheader("Content-Length", str(MAX_PAYLOAD_BYTES + 1))
    connection.endheaders()
    response = connection.getresponse()

    # then the gateway answers 413 at once and closes the connection
    assert response.status == 413
    assert json.loads(response.read()) == {"message": "Request Entity Too Large"}
    assert response.getheader("connection") == "close"
    assert CALLS == []
    connection.close()


# ------------------------------------------------------------------ CORS and the access log


def test_preflight_is_answered_by_the_gateway_without_a_token(api: str) -> None:
    # when the browser sends a preflight for a PUT from the allowed origin
    response = requests.options(
        f"{api}/projects/p1/repository-connection",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=5,
    )

    # then the CORS configuration answers, and no handler runs
    assert response.status_code == 204
    assert {
        name: value
        for name, value in response.headers.items()
        if name.startswith("access-control-")
    } == {
        "access-control-allow-origin": ORIGIN,
        "access-control-allow-methods": "GET,PUT",
        "access-control-allow-headers": "authorization,content-type",
        "access-control-max-age": "600",
    }
    assert CALLS == []


def test_preflight_from_another_origin_gets_no_cors_headers(api: str) -> None:
    # when the preflight comes from an origin that is not configured
    response = requests.options(
        f"{api}/projects/p1/repository-connection",
        headers={"Origin": "https://evil.test", "Access-Control-Request-Method": "PUT"},
        timeout=5,
    )

    # then nothing allows it
    assert response.status_code == 204
    assert [name for name in response.headers if name.lower().startswith("access-control-")] == []


def test_cors_headers_are_the_apis_not_the_functions(api: str) -> None:
    # when an allowed origin calls a route whose handler sets its own CORS header
    response = requests.get(
        f"{api}/projects/p1/repository-connection",
        headers={**_bearer(), "Origin": ORIGIN},
        timeout=5,
    )

    # then only the API's configuration speaks
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-expose-headers"] == "retry-after"


def test_access_log_has_method_path_status_and_duration_but_no_query_or_token(
    gateway: tuple[LocalGateway, io.StringIO], api: str
) -> None:
    # given a request with a token and a query string
    token = _token()
    start = len(gateway[1].getvalue())

    # when it is served
    requests.get(
        f"{api}/projects/p1/repository-connection/exists?secret=s3cr3t",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )

    # then one line describes it, without the token or the query string
    [line] = gateway[1].getvalue()[start:].splitlines()
    method, path, status, duration = line.split(" ")
    assert (method, path, status) == ("GET", "/projects/p1/repository-connection/exists", "200")
    assert duration.endswith("ms") and duration[:-2].isdigit()
    assert token not in line and "s3cr3t" not in line
