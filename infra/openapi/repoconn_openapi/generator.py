"""docs/openapi.json (the frontend's API) and docs/openapi-webhooks.json (the providers'
webhook receiver), generated from the handlers, template.yaml and the error classes
(``make openapi``): one document per HttpApi of the template (``DOCUMENTS``).

    python -m repoconn_openapi.generator            # write docs/openapi.json, openapi-webhooks.json
    python -m repoconn_openapi.generator --check    # exit 1 when a committed file is stale

(with ``infra/openapi`` on ``PYTHONPATH``, as ``make openapi`` runs it).

Where each part comes from:

- **paths, methods, parameters, request and success bodies**: each function's own Powertools
  resolver (``app.get_openapi_json_schema()``), i.e. the handler's signature and the pydantic
  models in ``repoconn_core.models``; the documents of all functions are merged.
- **which operations exist**: template.yaml's ``HttpApi`` events, read by the local gateway's
  route table (repoconn_local.gateway.routes). Every template route must have exactly that
  operation in its function's resolver and no resolver may declare an operation the template
  does not route to it — a mismatch is an error, not a silently incomplete document.
- **security**: the route's authorizer in the template. A JWT route gets the HTTP bearer
  scheme named after the template's authorizer; a route without one (the webhook receiver)
  gets an explicit empty ``security``.
- **errors**: route_errors.py's ``ROUTE_ERRORS``, per route: the error classes the function
  answers with, their status and code taken from the classes and narrowed per response in the
  problem+json ``Problem`` model, plus API Gateway's own ``{"message": ...}`` answers as
  ``GatewayError`` under ``application/json``. Powertools' default 422 (``HTTPValidationError``)
  is replaced: our resolver answers validation errors as problem+json (repoconn_core.problems).
- **the webhook route's body, headers and acknowledgement**: webhook.py (the receiver reads
  the raw body, so its resolver-less function declares none of them).
- **request bodies a handler reads itself**: ``REQUEST_BODIES``. PUT authorises the caller
  before it reads its body (docs/security.md, "Order of checks"), so the body is not a
  parameter Powertools would validate first — and is declared here instead.

The output is deterministic (sorted paths and components, fixed formatting), so a test can
regenerate it and compare with the committed file (tests/unit/test_openapi_drift.py).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel
from repoconn_core.models import ConnectRequest, Problem
from repoconn_local.aws.template_schema import DEFAULT_TEMPLATE_PATH, load_template
from repoconn_local.gateway.routes import Route, route_table
from repoconn_local.lambda_host.function_host import import_function_module
from repoconn_local.lambda_host.functions import FUNCTION_TYPE, TemplateError, function_spec

from repoconn_openapi.components import (
    OpenApiError,
    check_refs,
    merge_schemas,
    model_schemas,
    referenced_schemas,
)
from repoconn_openapi.examples import REQUESTS, SUCCESS
from repoconn_openapi.info import CONTACT, LICENSE, TAGS, servers
from repoconn_openapi.route_errors import (
    APPLICATION_JSON,
    GATEWAY_ERROR_SCHEMA,
    ROUTE_ERRORS,
    WEBHOOK,
    RouteErrors,
    error_responses,
    ref,
    request_id_headers,
)
from repoconn_openapi.webhook import WEBHOOK_ACK_SCHEMA, WEBHOOK_BODY, webhook_headers

REPO_ROOT = DEFAULT_TEMPLATE_PATH.parent
DOCS = REPO_ROOT / "docs"
DEFAULT_OUTPUT = DOCS / "openapi.json"


@dataclass(frozen=True)
class DocumentSpec:
    """One HttpApi's document: its file under docs/, title and what it is for."""

    file: str
    title: str
    description: str


# One document per HttpApi of the template: the frontend's client is generated from the first,
# which must not offer the providers' webhook receiver.
DOCUMENTS: dict[str, DocumentSpec] = {
    "HttpApi": DocumentSpec(
        "openapi.json",
        "Repository connections",
        "The API a frontend uses to connect a project to a repository and read the connection.",
    ),
    "WebhookApi": DocumentSpec(
        "openapi-webhooks.json",
        "Repository connections: webhook receiver",
        "Where the providers (GitHub, GitLab, Bitbucket Cloud) deliver webhook events; not for "
        "frontends (docs/openapi.json is theirs).",
    ),
}
# Powertools' stock validation-error models; our resolver never answers with them.
POWERTOOLS_VALIDATION_MODELS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")
# Route key → the JSON body model its handler reads with repoconn_core.http_api.request_body.
REQUEST_BODIES: dict[str, type[BaseModel]] = {
    "PUT /projects/{projectId}/repository-connection": ConnectRequest,
}


# Path parameters of the resolver-less function (the webhook receiver).
PATH_PARAMETERS = {
    "connectionId": (
        "The connection the delivery is for: the last segment of the webhook URL the service "
        "registered with the provider (the connection's id)."
    ),
}


def generate(template_path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """The documents (file name under docs/ → document) for the HTTP routes of the template at
    ``template_path``: one per HttpApi."""
    path = Path(template_path or DEFAULT_TEMPLATE_PATH).resolve()
    return generate_from(load_template(path), path.parent)


def generate_from(template: Mapping[str, Any], code_root: Path) -> dict[str, dict[str, Any]]:
    """The documents for ``template``'s HTTP routes, handlers under ``code_root``."""
    routes = route_table(template, _placeholder_parameters(template)).routes
    by_function: dict[str, list[Route]] = {}
    for route in routes:
        by_function.setdefault(route.function.logical_id, []).append(route)

    paths: dict[str, dict[str, dict[str, Any]]] = {}  # API → path → method → operation
    schemas: dict[str, Any] = {}
    security_schemes: dict[str, Any] = {}
    for logical_id, module in _function_modules(template):
        app = _resolver_of(import_function_module(module, code_root))
        if app is not None:
            document = json.loads(app.get_openapi_json_schema())
        else:
            document = _single_route_document(logical_id, by_function.get(logical_id, []))
        operations = _operations(document)
        expected = {(r.method.lower(), r.path): r for r in by_function.get(logical_id, [])}
        _require_same_routes(logical_id, module, set(operations), set(expected))
        for key, operation in operations.items():
            route = expected[key]
            method, route_path = key
            api_paths = paths.setdefault(route.api.logical_id, {})
            api_paths.setdefault(route_path, {})[method] = _operation(route, operation, module)
            if route.authorizer is not None:
                security_schemes[route.authorizer.name] = _bearer_scheme(route)
        merge_schemas(schemas, document.get("components", {}).get("schemas", {}))

    for model in REQUEST_BODIES.values():
        merge_schemas(schemas, model_schemas(model))
    for name in POWERTOOLS_VALIDATION_MODELS:
        schemas.pop(name, None)
    merge_schemas(schemas, model_schemas(Problem))
    schemas["GatewayError"] = GATEWAY_ERROR_SCHEMA
    schemas["DeliveryAck"] = WEBHOOK_ACK_SCHEMA

    unknown = sorted(set(paths) - set(DOCUMENTS))
    if unknown:
        raise OpenApiError(f"no document for the HttpApi {', '.join(unknown)} (DOCUMENTS)")
    return {
        DOCUMENTS[api].file: _document(
            template, code_root, api, paths[api], schemas, security_schemes
        )
        for api in DOCUMENTS
        if api in paths
    }


def _document(
    template: Mapping[str, Any],
    code_root: Path,
    api: str,
    paths: Mapping[str, dict[str, Any]],
    schemas: Mapping[str, Any],
    security_schemes: Mapping[str, Any],
) -> dict[str, Any]:
    """One API's document: its paths and only the components they use."""
    spec = DOCUMENTS[api]
    used = referenced_schemas(paths, schemas)
    check_refs({"paths": paths}, schemas)
    schemes = sorted(
        {
            name
            for item in paths.values()
            for operation in item.values()
            for requirement in operation.get("security", [])
            for name in requirement
        }
    )
    tags = sorted({tag for item in paths.values() for op in item.values() for tag in op["tags"]})
    components: dict[str, Any] = {"schemas": {name: schemas[name] for name in sorted(used)}}
    if schemes:
        components["securitySchemes"] = {name: security_schemes[name] for name in schemes}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": spec.title,
            "version": _project_version(code_root),
            "description": spec.description
            + " "
            + str(template.get("Description", "")).strip()
            + " Generated by `make openapi` from the handlers and template.yaml; do not edit.",
            "contact": CONTACT,
            "license": LICENSE,
        },
        "servers": servers(api),
        "tags": [{"name": tag, "description": TAGS[tag]} for tag in tags],
        "paths": {name: _sorted_methods(paths[name]) for name in sorted(paths)},
        "components": components,
    }


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------- template side


def _placeholder_parameters(template: Mapping[str, Any]) -> dict[str, str]:
    """Parameters without a Default (issuer, audience, CORS origins) do not change the paths;
    route_table only needs some value to resolve them."""
    parameters: Mapping[str, Any] = template.get("Parameters") or {}
    return {
        name: "https://openapi.invalid"
        for name, declaration in parameters.items()
        if isinstance(declaration, Mapping) and "Default" not in declaration
    }


def _function_modules(template: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(logical id, handler module) of every function in the template, routed or not, as the
    Lambda host imports it."""
    parameters = _placeholder_parameters(template)
    return [
        (logical_id, function_spec(template, logical_id, parameters).module)
        for logical_id, resource in (template.get("Resources") or {}).items()
        if isinstance(resource, Mapping) and resource.get("Type") == FUNCTION_TYPE
    ]


def _resolver_of(module: Any) -> APIGatewayHttpResolver | None:
    app = getattr(module, "app", None)
    return app if isinstance(app, APIGatewayHttpResolver) else None


def _single_route_document(logical_id: str, routes: Sequence[Route]) -> dict[str, Any]:
    """What a function without a resolver declares: its one template route, with the path's
    parameters as required strings (the rest of its operation is written here, as for any
    raw-body route: WEBHOOK_BODY, WEBHOOK_HEADERS, DeliveryAck)."""
    if not routes:  # not behind the API (the relay, the health check)
        return {}
    if len(routes) > 1:
        raise OpenApiError(f"{logical_id}: a function without a resolver serves one route only")
    route = routes[0]
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": PATH_PARAMETERS[name],
            "schema": {"type": "string"},
        }
        for name in re.findall(r"\{([^}]+)\}", route.path)
    ]
    operation = {"parameters": parameters, "responses": {"200": {"description": "OK"}}}
    return {"paths": {route.path: {route.method.lower(): operation}}}


def _operations(document: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, route_path): operation
        for route_path, item in (document.get("paths") or {}).items()
        for method, operation in item.items()
    }


def _require_same_routes(
    logical_id: str,
    module: str,
    declared: set[tuple[str, str]],
    routed: set[tuple[str, str]],
) -> None:
    def names(keys: set[tuple[str, str]]) -> str:
        return ", ".join(f"{method.upper()} {path}" for method, path in sorted(keys))

    if routed - declared:
        raise OpenApiError(
            f"{logical_id}: template.yaml routes {names(routed - declared)} to {module}, "
            "whose resolver has no such operation"
        )
    if declared - routed:
        raise OpenApiError(
            f"{logical_id}: {module} declares {names(declared - routed)}, "
            "which template.yaml does not route to it"
        )


# ---------------------------------------------------------------------------- per operation


def _operation(route: Route, generated: Mapping[str, Any], module: str) -> dict[str, Any]:
    errors = ROUTE_ERRORS.get(route.route_key)
    if errors is None:
        raise OpenApiError(f"{route.route_key}: no entry in ROUTE_ERRORS (route_errors.py)")
    operation = copy.deepcopy(dict(generated))
    operation["operationId"] = _operation_id(route.function.logical_id)
    operation["tags"] = ["webhooks" if route.authorizer is None else "connections"]
    summary, description = _docstring(module)
    operation["summary"] = summary
    if description:
        operation["description"] = description
    operation["security"] = [{route.authorizer.name: []}] if route.authorizer else []
    if route.path == WEBHOOK:
        operation["parameters"] = [*operation.get("parameters", []), *webhook_headers()]
        operation["requestBody"] = copy.deepcopy(WEBHOOK_BODY)
    body_model = REQUEST_BODIES.get(route.route_key)
    if body_model is not None:
        if "requestBody" in operation:
            raise OpenApiError(f"{route.route_key}: its handler declares a body parameter too")
        operation["requestBody"] = {
            "description": (body_model.__doc__ or "").split("\n", 1)[0].strip(),
            "content": {APPLICATION_JSON: {"schema": {"$ref": ref(body_model.__name__)}}},
            "required": True,
        }
    if "requestBody" in operation:
        examples = REQUESTS.get(route.route_key)
        if examples is None:
            raise OpenApiError(f"{route.route_key}: no request examples (examples.py)")
        operation["requestBody"]["content"][APPLICATION_JSON]["examples"] = examples
    operation["parameters"] = [_parameter(p) for p in operation.get("parameters", [])]
    responses = _success_responses(route, operation.get("responses", {}), errors)
    responses.update(error_responses(route, errors))
    operation["responses"] = {str(status): responses[status] for status in sorted(responses)}
    return {key: operation[key] for key in _OPERATION_KEY_ORDER if key in operation}


_OPERATION_KEY_ORDER = (
    "tags",
    "summary",
    "description",
    "operationId",
    "security",
    "parameters",
    "requestBody",
    "responses",
)


def _operation_id(logical_id: str) -> str:
    name = logical_id.removesuffix("Function")
    return name[:1].lower() + name[1:]


def _docstring(module: str) -> tuple[str, str]:
    """The handler module's first docstring paragraph: its summary (after the route and
    dash) and the paragraph as description."""
    doc = (sys.modules[module].__doc__ or "").strip()
    paragraph = " ".join(doc.split("\n\n", 1)[0].split())
    summary = paragraph.split(" — ", 1)[1] if " — " in paragraph else paragraph
    summary = summary.rstrip(".")
    return summary[:1].upper() + summary[1:], paragraph


def _success_responses(
    route: Route, generated: Mapping[str, Any], errors: RouteErrors
) -> dict[int, Any]:
    ok = copy.deepcopy(generated.get("200"))
    if ok is None:
        raise OpenApiError(f"{route.route_key}: the resolver documents no 200 answer")
    if route.path == WEBHOOK:
        ok["content"] = {APPLICATION_JSON: {"schema": {"$ref": ref("DeliveryAck")}}}
        ok["description"] = (
            "A duplicate delivery (already accepted once) acknowledged again, or a ping or an"
            " event kind the hook does not subscribe to, acknowledged and not published."
        )
    else:
        ok["description"] = "OK" if not errors.also_success else "Updated: the same repository."
    responses: dict[int, Any] = {200: ok}
    for status, description in errors.also_success.items():
        responses[status] = {**copy.deepcopy(ok), "description": description}
    for status, response in responses.items():
        examples = SUCCESS.get((route.route_key, status))
        if examples is None:
            raise OpenApiError(f"{route.route_key}: no examples of its {status} (examples.py)")
        response["headers"] = request_id_headers(from_function=True)
        response["content"][APPLICATION_JSON]["examples"] = copy.deepcopy(examples)
    return responses


def _parameter(parameter: Mapping[str, Any]) -> dict[str, Any]:
    """A parameter as a client sends it: never null (an optional one is left out, which
    ``required: false`` says), so pydantic's ``anyOf [T, null]`` becomes T."""
    result = copy.deepcopy(dict(parameter))
    schema = result.get("schema", {})
    branches = schema.get("anyOf")
    if isinstance(branches, list):
        kept = [branch for branch in branches if branch != {"type": "null"}]
        if len(kept) == 1:
            del schema["anyOf"]
            schema.update(kept[0])
    if not result.get("description"):
        raise OpenApiError(f"parameter {result.get('name')} has no description")
    return result


def _bearer_scheme(route: Route) -> dict[str, Any]:
    assert route.authorizer is not None
    return {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": (
            f"The HTTP API's JWT authorizer ({route.authorizer.name}): a token from the "
            "configured issuer and audience in the Authorization header. Locally: "
            "`repoconn token --sub ID [--admin] --project ID`."
        ),
    }


def _sorted_methods(item: Mapping[str, Any]) -> dict[str, Any]:
    order = ("servers", "get", "put", "post", "delete", "patch")
    return {key: item[key] for key in sorted(item, key=order.index)}


def _project_version(root: Path) -> str:
    with (root / "pyproject.toml").open("rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


# ---------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m repoconn_openapi.generator",
        description="Write docs/openapi.json and docs/openapi-webhooks.json from the handlers "
        "and template.yaml.",
    )
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE_PATH)
    parser.add_argument("--output-dir", type=Path, default=DOCS)
    parser.add_argument(
        "--check", action="store_true", help="only compare; exit 1 if a file would change"
    )
    args = parser.parse_args(argv)
    try:
        documents = generate(args.template)
    except (OpenApiError, TemplateError) as error:
        print(f"openapi: {error}", file=sys.stderr)
        return 1
    stale = False
    for name, document in documents.items():
        output = args.output_dir / name
        text = render(document)
        current = output.read_text(encoding="utf-8") if output.exists() else None
        if current == text:
            continue
        if args.check:
            print(f"openapi: {output} is stale; run `make openapi`", file=sys.stderr)
            stale = True
            continue
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"openapi: wrote {output}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
