"""The HTTP APIs of template.yaml as a route table the local gateway serves.

Every ``AWS::Serverless::Function`` event of ``Type: HttpApi`` becomes a route: its Method and
Path, the function's handler module (``CodeUri`` + ``Handler``), its timeout, and the auth and
CORS settings of the API it belongs to. All HttpApi resources of the template are served on one
local port (in AWS each has its own host); two APIs declaring the same route is an error.

Matching follows API Gateway's rules for HTTP APIs
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html):
the most specific route wins — literal segments over ``{param}``, any route over one with a
greedy ``{proxy+}``, an exact method over ``ANY``, and ``$default`` last. A path that matches
no route, or matches only routes of other methods, is answered 404 by the gateway, as API
Gateway does (HTTP APIs do not answer 405).

The routes' functions and template values are read as the Lambda host reads them
(repoconn_local.lambda_host.functions): ``!Ref`` to a parameter is resolved, any other
intrinsic where a literal is needed is reported, not guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from repoconn_local.lambda_host.functions import (
    FUNCTION_TYPE,
    FunctionSpec,
    TemplateError,
    TemplateValues,
    function_spec_of,
)

HTTP_API_TYPE = "AWS::Serverless::HttpApi"
# SAM's name for the API it creates when an HttpApi event names no ApiId.
IMPLICIT_API_ID = "ServerlessHttpApi"
DEFAULT_ROUTE = "$default"
ANY_METHOD = "ANY"
# HTTP API's maximum (and default) integration timeout.
MAX_INTEGRATION_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class JwtAuthorizerSpec:
    """A JWT authorizer; locally its issuer and audience are the local ones (jwt_authorizer)."""

    name: str
    header: str = "authorization"


@dataclass(frozen=True)
class CorsConfig:
    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False


@dataclass(frozen=True)
class ApiSpec:
    logical_id: str
    cors: CorsConfig | None = None


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: FunctionSpec
    api: ApiSpec
    authorizer: JwtAuthorizerSpec | None = None
    scopes: tuple[str, ...] = ()
    integration_timeout_seconds: float = MAX_INTEGRATION_TIMEOUT_SECONDS

    @property
    def route_key(self) -> str:
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.strip("/").split("/")) if self.path.strip("/") else ()

    @property
    def greedy(self) -> bool:
        return self.path == DEFAULT_ROUTE or (
            bool(self.segments) and self.segments[-1].endswith("+}")
        )


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteTable:
    routes: tuple[Route, ...]

    def match(self, method: str, path: str) -> RouteMatch | None:
        """The route API Gateway would pick for ``method`` and the raw request ``path``."""
        candidates = [
            (route, params)
            for route in self.routes
            if route.method in (method, ANY_METHOD)
            for params in [_match_path(route, path)]
            if params is not None
        ]
        if not candidates:
            return None
        route, params = max(candidates, key=lambda item: _specificity(item[0], method))
        return RouteMatch(route, params)

    def apis_for_path(self, path: str) -> list[ApiSpec]:
        """The APIs holding a route (any method) for ``path``: whose CORS rules apply."""
        apis: dict[str, ApiSpec] = {}
        for route in self.routes:
            if _match_path(route, path) is not None:
                apis.setdefault(route.api.logical_id, route.api)
        return list(apis.values())

    def apis(self) -> list[ApiSpec]:
        apis: dict[str, ApiSpec] = {}
        for route in self.routes:
            apis.setdefault(route.api.logical_id, route.api)
        return list(apis.values())


def route_table(
    template: Mapping[str, Any], parameter_overrides: Mapping[str, str] | None = None
) -> RouteTable:
    """Every HttpApi route of the template, resolved for a local run."""
    resolver = TemplateValues(template, parameter_overrides or {})
    resources: Mapping[str, Any] = template.get("Resources") or {}
    globals_: Mapping[str, Any] = template.get("Globals") or {}
    function_globals: Mapping[str, Any] = globals_.get("Function") or {}
    api_globals: Mapping[str, Any] = globals_.get("HttpApi") or {}

    routes: list[Route] = []
    apis: dict[str, tuple[ApiSpec, _ApiAuth]] = {}
    for logical_id, resource in resources.items():
        if not isinstance(resource, Mapping) or resource.get("Type") != FUNCTION_TYPE:
            continue
        properties: Mapping[str, Any] = resource.get("Properties") or {}
        events: Mapping[str, Any] = properties.get("Events") or {}
        http_events = {
            name: event
            for name, event in events.items()
            if isinstance(event, Mapping) and event.get("Type") == "HttpApi"
        }
        if not http_events:
            continue
        function = function_spec_of(logical_id, properties, function_globals, resolver)
        for event_name, event in http_events.items():
            event_properties: Mapping[str, Any] = event.get("Properties") or {}
            api_id = _api_id(logical_id, event_name, event_properties)
            if api_id not in apis:
                apis[api_id] = _api_spec(api_id, resources, api_globals, resolver)
            api, auth = apis[api_id]
            routes.append(_route(function, event_name, event_properties, api, auth, resolver))

    _reject_duplicates(routes)
    return RouteTable(tuple(routes))


# ----------------------------------------------------------------------------- matching


def _match_path(route: Route, path: str) -> dict[str, str] | None:
    if route.path == DEFAULT_ROUTE:
        return {}
    wanted = route.segments
    # Segments as sent: "/a/" has an empty last segment and is not "/a".
    given = tuple(path[1:].split("/")) if path not in ("", "/") else ()
    params: dict[str, str] = {}
    for position, pattern in enumerate(wanted):
        if pattern.startswith("{") and pattern.endswith("+}"):
            rest = "/".join(given[position:])
            if not rest:
                return None
            params[pattern[1:-2]] = unquote(rest)
            return params
        if position >= len(given) or not given[position]:
            return None
        if pattern.startswith("{") and pattern.endswith("}"):
            # HTTP APIs hand path parameters over percent-decoded.
            params[pattern[1:-1]] = unquote(given[position])
        elif pattern != given[position]:
            return None
    return params if len(given) == len(wanted) else None


def _specificity(route: Route, method: str) -> tuple[int, int, tuple[int, ...], int]:
    """Higher is more specific: non-$default, non-greedy, literals first, exact method."""
    kinds = tuple(
        0 if segment.endswith("+}") else 1 if segment.startswith("{") else 2
        for segment in route.segments
    )
    return (
        0 if route.path == DEFAULT_ROUTE else 1,
        0 if route.greedy else 1,
        kinds,
        1 if route.method == method else 0,
    )


# ----------------------------------------------------------------------------- template


@dataclass(frozen=True)
class _ApiAuth:
    default_authorizer: str | None
    authorizers: Mapping[str, JwtAuthorizerSpec]


def _api_id(function_id: str, event_name: str, properties: Mapping[str, Any]) -> str:
    api = properties.get("ApiId")
    if api is None:
        return IMPLICIT_API_ID
    if isinstance(api, Mapping) and isinstance(api.get("Ref"), str):
        return str(api["Ref"])
    raise TemplateError(f"{function_id}.{event_name}: ApiId must be !Ref to an HttpApi resource")


def _api_spec(
    api_id: str,
    resources: Mapping[str, Any],
    api_globals: Mapping[str, Any],
    resolver: TemplateValues,
) -> tuple[ApiSpec, _ApiAuth]:
    resource = resources.get(api_id)
    if api_id != IMPLICIT_API_ID and (
        not isinstance(resource, Mapping) or resource.get("Type") != HTTP_API_TYPE
    ):
        raise TemplateError(f"{api_id} is not an {HTTP_API_TYPE} resource")
    own: Mapping[str, Any] = (resource or {}).get("Properties") or {}
    properties = {**api_globals, **own}
    body = properties.get("DefinitionBody")
    # A body that only carries API-wide settings (CORS) is fine: the routes still come from
    # the functions' events. Routes declared in OpenAPI are not served locally.
    if "DefinitionUri" in properties or (
        body is not None and (not isinstance(body, Mapping) or body.get("paths"))
    ):
        raise TemplateError(f"{api_id}: OpenAPI definitions are not served locally")
    return (
        ApiSpec(api_id, _cors(api_id, _cors_configuration(properties), resolver)),
        _auth(api_id, properties.get("Auth") or {}),
    )


def _auth(api_id: str, auth: Mapping[str, Any]) -> _ApiAuth:
    authorizers: dict[str, JwtAuthorizerSpec] = {}
    for name, config in (auth.get("Authorizers") or {}).items():
        if not isinstance(config, Mapping) or "JwtConfiguration" not in config:
            raise TemplateError(f"{api_id}.{name}: only JWT authorizers are emulated locally")
        source = config.get("IdentitySource", "$request.header.Authorization")
        prefix = "$request.header."
        if not isinstance(source, str) or not source.startswith(prefix):
            raise TemplateError(f"{api_id}.{name}: IdentitySource must be a request header")
        authorizers[name] = JwtAuthorizerSpec(name, source[len(prefix) :].lower())
    default = auth.get("DefaultAuthorizer")
    if default is not None and default not in authorizers:
        raise TemplateError(f"{api_id}: DefaultAuthorizer {default} is not declared")
    return _ApiAuth(default, authorizers)


def _cors_configuration(properties: Mapping[str, Any]) -> Any:
    """SAM's CorsConfiguration, else the OpenAPI body's x-amazon-apigateway-cors (its keys
    are SAM's, lower camel case) — where template.yaml keeps it, since SAM mangles an
    intrinsic AllowOrigins in CorsConfiguration."""
    if "CorsConfiguration" in properties:
        return properties["CorsConfiguration"]
    body = properties.get("DefinitionBody")
    cors = body.get("x-amazon-apigateway-cors") if isinstance(body, Mapping) else None
    if not isinstance(cors, Mapping):
        return None
    return {key[0].upper() + key[1:]: value for key, value in cors.items()}


def _cors(api_id: str, config: Any, resolver: TemplateValues) -> CorsConfig | None:
    if config is None or config is False:
        return None
    if config is True:
        # SAM: CorsConfiguration: true allows every origin, method and header.
        return CorsConfig(("*",), ("*",), ("*",))
    if not isinstance(config, Mapping):
        raise TemplateError(f"{api_id}.CorsConfiguration: expected true or a mapping")

    def strings(name: str) -> tuple[str, ...]:
        value = resolver.value(config.get(name, []), f"{api_id}.CorsConfiguration.{name}")
        return tuple(str(item) for item in (value if isinstance(value, list) else [value]))

    max_age = resolver.value(config.get("MaxAge"), f"{api_id}.CorsConfiguration.MaxAge")
    credentials = resolver.value(
        config.get("AllowCredentials", False), f"{api_id}.CorsConfiguration.AllowCredentials"
    )
    return CorsConfig(
        allow_origins=strings("AllowOrigins"),
        allow_methods=tuple(method.upper() for method in strings("AllowMethods")),
        allow_headers=tuple(header.lower() for header in strings("AllowHeaders")),
        expose_headers=tuple(header.lower() for header in strings("ExposeHeaders")),
        max_age=int(max_age) if max_age is not None else None,
        allow_credentials=credentials in (True, "true", "True"),
    )


def _route(
    function: FunctionSpec,
    event_name: str,
    properties: Mapping[str, Any],
    api: ApiSpec,
    auth: _ApiAuth,
    resolver: TemplateValues,
) -> Route:
    where = f"{function.logical_id}.{event_name}"
    path = properties.get("Path", DEFAULT_ROUTE)
    method = str(properties.get("Method", ANY_METHOD)).upper()
    if not isinstance(path, str) or not (path == DEFAULT_ROUTE or path.startswith("/")):
        raise TemplateError(f"{where}: Path must start with / (or be $default)")
    if str(properties.get("PayloadFormatVersion", "2.0")) != "2.0":
        raise TemplateError(f"{where}: only payload format 2.0 is emulated")
    route_auth: Mapping[str, Any] = properties.get("Auth") or {}
    authorizer_name = route_auth.get("Authorizer", auth.default_authorizer)
    authorizer: JwtAuthorizerSpec | None = None
    if authorizer_name is not None and authorizer_name != "NONE":
        if authorizer_name not in auth.authorizers:
            raise TemplateError(f"{where}: authorizer {authorizer_name} is not declared")
        authorizer = auth.authorizers[authorizer_name]
    scopes = resolver.value(route_auth.get("AuthorizationScopes", []), where)
    timeout_ms = resolver.value(properties.get("TimeoutInMillis"), where)
    return Route(
        method=method,
        path=path,
        function=function,
        api=api,
        authorizer=authorizer,
        scopes=tuple(str(scope) for scope in scopes),
        integration_timeout_seconds=(
            min(int(timeout_ms) / 1000, MAX_INTEGRATION_TIMEOUT_SECONDS)
            if timeout_ms is not None
            else MAX_INTEGRATION_TIMEOUT_SECONDS
        ),
    )


def _reject_duplicates(routes: Sequence[Route]) -> None:
    seen: dict[str, str] = {}
    for route in routes:
        key = route.route_key
        if key in seen:
            raise TemplateError(
                f"route {key} is declared twice ({seen[key]}, {route.function.logical_id}); "
                "the local gateway serves every HttpApi on one port"
            )
        seen[key] = route.function.logical_id
