"""What every HTTP handler shares: the resolver, the caller's identity, logging set-up."""

from __future__ import annotations

import binascii
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from repoconn_core.errors import MalformedBody
from repoconn_core.identity import (
    Principal,
    principal_from_claims,
    require_project_admin,
    require_write_scope,
)
from repoconn_core.json_body import load_json
from repoconn_core.logs import function_logger
from repoconn_core.models import PROJECT_ID_DESCRIPTION, PROJECT_ID_PATTERN
from repoconn_core.problems import install_problem_handlers, request_id_of, with_request_id
from repoconn_core.settings import settings

# The ``{projectId}`` path parameter of every project route.
ProjectIdPath = Annotated[
    str,
    Path(
        pattern=PROJECT_ID_PATTERN,
        title="Project id",
        description=PROJECT_ID_DESCRIPTION,
        examples=["demo"],
    ),
]
LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]
Body = TypeVar("Body", bound=BaseModel)

_JSON_CONTENT_TYPES = ("", "application/json")


def http_resolver(logger: Logger) -> APIGatewayHttpResolver:
    """A payload-2.0 resolver with pydantic validation and the one problem+json error map."""
    # No route declares a body parameter: a route reads its body with request_body, after
    # authorising, so Powertools never parses one. debug=False: POWERTOOLS_DEV or
    # POWERTOOLS_EVENT_HANDLER_DEBUG would print events (logs.py).
    app = APIGatewayHttpResolver(enable_validation=True, debug=False)
    install_problem_handlers(app, logger)
    return app


class HttpFunction:
    """One HTTP route's Lambda function: its resolver with the problem+json map, its logger and
    metrics, and ``handler``, the entry point that resolves an event with the request's
    correlation id in every log line and flushes the metrics afterwards. The event is never
    logged (tokens travel in bodies). A route reads its caller and body through it."""

    def __init__(self) -> None:
        self.logger = function_logger()
        self.metrics = Metrics()
        self.app = http_resolver(self.logger)

        @self.logger.inject_lambda_context(
            correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False
        )
        @self.metrics.log_metrics
        def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
            return with_request_id(self.app.resolve(event, context), request_id_of(event))

        self.handler: LambdaHandler = handler

    def caller(self, *, write: bool = False) -> Principal:
        """Who is calling the route being resolved (the JWT authorizer's claims). ``write``: the
        route changes something, so the token needs one of the write scopes when any are set.
        A rights claim the service refused is logged here, as the configuration problem it is."""
        config = settings()
        principal = principal_from_claims(
            jwt_claims(self.app.current_event.raw_event), config.claim_names()
        )
        for claim, reason in principal.refused_claims:
            self.logger.warning(
                "a rights claim was refused: configuration problem in the identity provider",
                extra={"claim": claim, "reason": reason},
            )
        if write:
            require_write_scope(principal, config.write_scopes)
        return principal

    def project_admin(self, project_id: str) -> Principal:
        """The caller, refused unless they may change ``project_id`` — for a route that must
        say so before it reads its body (docs/security.md, "Order of checks")."""
        principal = self.caller(write=True)
        require_project_admin(principal, project_id)
        return principal

    def request_body(self, model: type[Body]) -> Body:
        """The request's JSON body as ``model``: 400 ``malformed_body`` unless it is JSON within
        json_body.py's limits sent as JSON, 422 naming the fields that fail validation."""
        event = self.app.current_event
        content_type = (event.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
        if content_type not in _JSON_CONTENT_TYPES:
            raise MalformedBody("The request body must be JSON sent as application/json.")
        try:
            text = event.decoded_body or ""
        except (UnicodeDecodeError, binascii.Error):
            # API Gateway hands over a body that is not UTF-8 base64-encoded.
            raise MalformedBody("The request body must be a UTF-8 JSON object.") from None
        data = load_json(text, not_json="The request body must be a JSON object.") if text else None
        try:
            return model.model_validate(data)
        except ValidationError as invalid:
            # The same 422 the resolver gives for any validation failure (problems.py).
            raise RequestValidationError(
                [{**error, "loc": ("body", *error["loc"])} for error in invalid.errors()]
            ) from None


def jwt_claims(event: Mapping[str, Any]) -> Mapping[str, object] | None:
    """The JWT authorizer's claims (requestContext.authorizer.jwt.claims), or None."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims")
    return claims if isinstance(claims, Mapping) else None
