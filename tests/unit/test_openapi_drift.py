"""docs/openapi.json and docs/openapi-webhooks.json are generated (``make openapi``): they must
match what the handlers and template.yaml say now, and the generator must refuse a template and
handlers that disagree."""

from __future__ import annotations

import copy
import difflib
import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools import Logger
from repoconn_core.errors import RouteNotFound
from repoconn_core.http_api import http_resolver
from repoconn_local.aws.template_schema import DEFAULT_TEMPLATE_PATH, load_template
from repoconn_local.gateway.events import http_api_event
from repoconn_local.lambda_host.context import LocalLambdaContext
from repoconn_openapi.generator import (
    DOCS,
    OpenApiError,
    generate,
    generate_from,
    render,
)

CODE_ROOT = DEFAULT_TEMPLATE_PATH.parent
JWT_ROUTES = {
    ("get", "/projects/{projectId}/repository-connection"),
    ("put", "/projects/{projectId}/repository-connection"),
    ("delete", "/projects/{projectId}/repository-connection"),
    ("get", "/projects/{projectId}/repository-connection/exists"),
    ("get", "/projects/{projectId}/repository-connection/deliveries"),
}
WEBHOOK_ROUTE = ("post", "/webhooks/{connectionId}")


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return generate()


@pytest.fixture(scope="module")
def document(documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Both documents' paths and components in one, for the checks that span routes."""
    frontend, webhooks = documents["openapi.json"], documents["openapi-webhooks.json"]
    return {
        "paths": {**frontend["paths"], **webhooks["paths"]},
        "components": {
            "schemas": {
                **frontend["components"]["schemas"],
                **webhooks["components"]["schemas"],
            },
            "securitySchemes": frontend["components"]["securitySchemes"],
        },
    }


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method != "servers"
    }


@pytest.mark.parametrize("name", ["openapi.json", "openapi-webhooks.json"])
def test_the_committed_document_is_what_make_openapi_generates(
    documents: dict[str, dict[str, Any]], name: str
) -> None:
    # Given the document generated from the handlers and template.yaml now
    expected = render(documents[name])
    # When it is compared with the committed one
    path = DOCS / name
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    # Then they are the same
    if committed != expected:
        diff = "".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    expected.splitlines(keepends=True),
                    f"docs/{name} (committed)",
                    "generated",
                )
            )[:60]
        )
        pytest.fail(f"docs/{name} is stale: run `make openapi` and commit it.\n{diff}")


def test_every_template_route_is_an_operation_and_nothing_else(
    document: dict[str, Any],
) -> None:
    assert set(_operations(document)) == JWT_ROUTES | {WEBHOOK_ROUTE}


def test_the_frontends_document_has_no_webhook_receiver_and_the_receivers_has_only_it(
    documents: dict[str, dict[str, Any]],
) -> None:
    # Given the two documents
    frontend, webhooks = documents["openapi.json"], documents["openapi-webhooks.json"]
    # Then the frontend's offers only the JWT routes, the receiver's only the webhook route
    assert set(_operations(frontend)) == JWT_ROUTES
    assert set(_operations(webhooks)) == {WEBHOOK_ROUTE}
    # and neither carries what the other needs
    assert "DeliveryAck" not in frontend["components"]["schemas"]
    assert "RepositoryConnectionInfo" not in webhooks["components"]["schemas"]
    assert "securitySchemes" not in webhooks["components"]
    assert [tag["name"] for tag in frontend["tags"]] == ["connections"]
    assert [tag["name"] for tag in webhooks["tags"]] == ["webhooks"]


def test_jwt_routes_need_the_bearer_scheme_and_the_webhook_route_needs_none(
    document: dict[str, Any],
) -> None:
    operations = _operations(document)
    schemes = document["components"]["securitySchemes"]
    assert schemes == {
        "JwtAuthorizer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": schemes["JwtAuthorizer"]["description"],
        }
    }
    for route in JWT_ROUTES:
        assert operations[route]["security"] == [{"JwtAuthorizer": []}], route
    assert operations[WEBHOOK_ROUTE]["security"] == []
    assert "security" not in document


def test_errors_are_problem_json_and_gateway_answers_are_documented_apart(
    document: dict[str, Any],
) -> None:
    operations = _operations(document)
    put = operations[("put", "/projects/{projectId}/repository-connection")]["responses"]
    # Given the README's status table for PUT
    assert set(put) == {
        "200", "201", "400", "401", "403", "404", "409", "413", "422", "429", "500", "502", "503"
    }  # fmt: skip
    for status, response in put.items():
        content = response.get("content", {})
        # 413 on PUT and 429: only API Gateway sends them
        if int(status) >= 400 and status not in ("413", "429"):
            problem = content["application/problem+json"]["schema"]["allOf"]
            assert problem[0] == {"$ref": "#/components/schemas/Problem"}
            assert problem[1]["properties"]["status"] == {"const": int(status)}
    # API Gateway's own answers: the authorizer's 401, no route 404, 413, throttling 429, the
    # failed function's 500, integration 503
    for status in ("401", "404", "413", "429", "500", "503"):
        gateway = put[status]["content"]["application/json"]["schema"]["allOf"][0]
        assert gateway == {"$ref": "#/components/schemas/GatewayError"}
    assert "Retry-After" in put["503"]["headers"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    # The webhook receiver has no authorizer, so its 401 is the receiver's own problem only
    webhook_401 = operations[WEBHOOK_ROUTE]["responses"]["401"]["content"]
    assert set(webhook_401) == {"application/problem+json"}


def _template() -> dict[str, Any]:
    return copy.deepcopy(load_template(DEFAULT_TEMPLATE_PATH))


def test_a_template_route_without_a_handler_operation_is_refused() -> None:
    # Given the template routes one more path to the get function than its resolver declares
    template = _template()
    events = template["Resources"]["GetConnectionFunction"]["Properties"]["Events"]
    events["Extra"] = copy.deepcopy(events["Get"])
    events["Extra"]["Properties"]["Path"] = "/projects/{projectId}/other"
    # When / then the document is not generated
    with pytest.raises(OpenApiError, match=r"GET /projects/\{projectId\}/other"):
        generate_from(template, CODE_ROOT)


def test_a_handler_operation_the_template_does_not_route_is_refused() -> None:
    # Given the template no longer routes anything to the exists function
    template = _template()
    del template["Resources"]["ConnectionExistsFunction"]["Properties"]["Events"]
    # When / then the document is not generated
    with pytest.raises(OpenApiError, match="does not route to it"):
        generate_from(template, CODE_ROOT)


def test_the_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    from repoconn_openapi.generator import main

    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n", encoding="utf-8")
    assert main(["--output-dir", str(tmp_path), "--check"]) == 1
    assert main(["--output-dir", str(tmp_path)]) == 0
    assert main(["--output-dir", str(tmp_path), "--check"]) == 0
    assert (tmp_path / "openapi-webhooks.json").is_file()


def test_route_not_found_is_what_a_resolver_answers_for_a_path_it_does_not_route() -> None:
    # Given a resolver with the service's problem map and one route
    app = http_resolver(Logger(service="openapi-drift"))

    @app.get("/known")
    def known() -> dict[str, str]:
        return {}

    # When a path it does not route reaches the function
    answer = app.resolve(http_api_event("GET", "/unknown"), LocalLambdaContext("openapi-drift"))

    # Then the answer is the one the generator reads from RouteNotFound
    assert answer["statusCode"] == RouteNotFound.status == 404
    assert json.loads(answer["body"])["code"] == RouteNotFound.code == "route_not_found"


def _properties(schema: Any, where: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(where, name, schema) of every property in ``schema``, through allOf/anyOf/oneOf/items."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    if not isinstance(schema, dict):
        return found
    for name, prop in (schema.get("properties") or {}).items():
        found.append((where, name, prop))
        found.extend(_properties(prop, f"{where}.{name}"))
    for key in ("allOf", "anyOf", "oneOf"):
        for index, branch in enumerate(schema.get(key) or []):
            found.extend(_properties(branch, f"{where}.{key}[{index}]"))
    found.extend(_properties(schema.get("items"), f"{where}[]"))
    return found


def test_every_field_and_parameter_is_described_and_no_title_is_pydantics_guess(
    documents: dict[str, dict[str, Any]],
) -> None:
    # Given every component property and every parameter of both documents
    undescribed, guessed = [], []
    for name, document in documents.items():
        for schema_name, schema in document["components"]["schemas"].items():
            for where, prop_name, prop in _properties(schema, f"{name}:{schema_name}"):
                # (a property narrowed in an allOf branch, e.g. a problem's status const,
                # keeps the description of the schema it narrows)
                if "allOf" not in where and "description" not in prop:
                    undescribed.append(f"{where}.{prop_name}")
                # pydantic's guess for a camelCase name: "repositoryUrl" -> "Repositoryurl"
                if prop_name != prop_name.lower() and prop.get("title") == prop_name.capitalize():
                    guessed.append(f"{where}.{prop_name}: {prop['title']}")
        for path, item in document["paths"].items():
            for method, operation in item.items():
                for parameter in operation.get("parameters", []):
                    if not parameter.get("description"):
                        undescribed.append(f"{name}: {method} {path} {parameter['name']}")
    # Then none lacks a description and no title is guessed
    assert (undescribed, guessed) == ([], [])


def test_the_answers_enums_and_the_problems_optional_fields_are_exact(
    documents: dict[str, dict[str, Any]],
) -> None:
    schemas = documents["openapi.json"]["components"]["schemas"]
    info = schemas["RepositoryConnectionInfo"]["properties"]
    assert info["serviceType"]["enum"] == ["GitHub", "GitLab", "Bitbucket"]
    assert info["healthStatus"]["anyOf"][0]["enum"] == ["healthy", "degraded", "failed"]
    assert info["createdAt"]["format"] == "date-time"
    assert info["id"]["format"] == "uuid"
    request = schemas["ConnectRequest"]["properties"]["serviceType"]
    assert request["anyOf"][0] == {"type": "string", "enum": ["GitHub", "GitLab", "Bitbucket"]}
    assert "case-insensitively" in request["description"]
    # errors[] and instance: absent when unset, never null, no default
    problem = schemas["Problem"]
    assert problem["required"] == ["type", "title", "status", "detail", "code"]
    for name in ("errors", "instance"):
        assert "default" not in problem["properties"][name]
        assert "anyOf" not in problem["properties"][name]
    assert problem["properties"]["errors"]["items"] == {
        "$ref": "#/components/schemas/ValidationIssue"
    }
    assert schemas["ValidationIssue"]["required"] == ["loc", "type", "msg"]
