"""The two HTTP APIs as SAM deploys them (the SAM-translated template, translated with no
parameter values, with one origin and with several): the frontend API's CORS object whole,
its JWT authorizer on every route; the webhook API without either.

Found by review (issue 15): with ``CorsConfiguration: AllowOrigins: !Ref CorsAllowOrigin``,
SAM emitted the Ref as the *whole* ``x-amazon-apigateway-cors`` object (methods, headers,
exposed headers and max age dropped), or — given parameter values — the comma-separated
string as one origin. The local gateway read template.yaml directly, so no test saw it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.translated_template import translated_template

ONE = ("https://app.example.com",)
SEVERAL = ("https://app.example.com", "https://admin.example.com", "http://localhost:5173")
TRANSLATIONS = {
    "without parameter values": ("--without-values",),
    "one origin": (f"CorsAllowOrigin={','.join(ONE)}",),
    "several origins": (f"CorsAllowOrigin={','.join(SEVERAL)}",),
}
FRONTEND_ROUTES = {
    ("/projects/{projectId}/repository-connection", "get"),
    ("/projects/{projectId}/repository-connection", "put"),
    ("/projects/{projectId}/repository-connection", "delete"),
    ("/projects/{projectId}/repository-connection/exists", "get"),
    ("/projects/{projectId}/repository-connection/deliveries", "get"),
}


def _body(translation: tuple[str, ...], api: str) -> dict[str, Any]:
    resource = translated_template(*translation)["Resources"][api]
    assert resource["Type"] == "AWS::ApiGatewayV2::Api"
    body: dict[str, Any] = resource["Properties"]["Body"]
    return body


def _as_cloudformation_resolves(value: Any, parameters: dict[str, str]) -> Any:
    """Fn::Split and Ref to a String parameter, resolved as CloudFormation would."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return parameters[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::Split"}:
        delimiter, source = value["Fn::Split"]
        return _as_cloudformation_resolves(source, parameters).split(delimiter)
    return value


# (how SAM translated it, the origins the deployment passes)
CORS_CASES = {
    "no values, one origin": (TRANSLATIONS["without parameter values"], ONE),
    "no values, several origins": (TRANSLATIONS["without parameter values"], SEVERAL),
    "one origin": (TRANSLATIONS["one origin"], ONE),
    "several origins": (TRANSLATIONS["several origins"], SEVERAL),
}


@pytest.mark.parametrize(("translation", "origins"), CORS_CASES.values(), ids=CORS_CASES.keys())
def test_the_frontend_apis_cors_object_survives_translation_whole(
    translation: tuple[str, ...], origins: tuple[str, ...]
) -> None:
    # given the frontend API as SAM translates it
    cors = _body(translation, "HttpApi")["x-amazon-apigateway-cors"]
    # when CloudFormation resolves what is left
    allowed = _as_cloudformation_resolves(
        cors["allowOrigins"], {"CorsAllowOrigin": ",".join(origins)}
    )
    # then API Gateway gets a CORS object with every setting, and a list of the origins
    assert allowed == list(origins)
    assert {key: value for key, value in cors.items() if key != "allowOrigins"} == {
        "allowMethods": ["GET", "PUT", "DELETE", "OPTIONS"],
        "allowHeaders": ["authorization", "content-type"],
        "exposeHeaders": [
            "x-request-id",
            "apigw-requestid",
            "www-authenticate",
            "retry-after",
            "etag",
            "location",
        ],
        "maxAge": 600,
    }


@pytest.mark.parametrize("translation", TRANSLATIONS.values(), ids=TRANSLATIONS.keys())
def test_every_frontend_route_has_the_jwt_authorizer(translation: tuple[str, ...]) -> None:
    body = _body(translation, "HttpApi")
    routes = {(path, method): operation for path, ops in body["paths"].items()
              for method, operation in ops.items()}  # fmt: skip
    # then exactly the frontend routes, each behind the JWT authorizer
    assert set(routes) == FRONTEND_ROUTES
    assert all(op.get("security") == [{"JwtAuthorizer": []}] for op in routes.values()), routes
    authorizer = body["components"]["securitySchemes"]["JwtAuthorizer"]
    assert authorizer["x-amazon-apigateway-authorizer"]["type"] == "jwt"
    assert authorizer["x-amazon-apigateway-authorizer"]["jwtConfiguration"] == {
        "issuer": {"Ref": "JwtIssuer"},
        "audience": {"Ref": "JwtAudience"},
    }


@pytest.mark.parametrize("translation", TRANSLATIONS.values(), ids=TRANSLATIONS.keys())
def test_the_webhook_api_has_one_route_no_authorizer_and_no_cors(
    translation: tuple[str, ...],
) -> None:
    body = _body(translation, "WebhookApi")
    # then providers reach one POST route, whose signature is the credential
    assert {(path, method) for path, ops in body["paths"].items() for method in ops} == {
        ("/webhooks/{connectionId}", "post")
    }
    [operation] = body["paths"]["/webhooks/{connectionId}"].values()
    assert "security" not in operation
    assert "securitySchemes" not in body.get("components", {})
    assert "x-amazon-apigateway-cors" not in body
