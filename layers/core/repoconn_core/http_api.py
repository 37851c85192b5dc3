"""What every HTTP handler shares: the resolver, the caller's identity, logging set-up."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from repoconn_core.identity import Principal, principal_from_claims
from repoconn_core.models import PROJECT_ID_PATTERN
from repoconn_core.problems import install_problem_handlers
from repoconn_core.settings import settings

# The ``{projectId}`` path parameter of every project route.
ProjectIdPath = Annotated[str, Path(pattern=PROJECT_ID_PATTERN)]
LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def http_resolver(logger: Logger) -> APIGatewayHttpResolver:
    """A payload-2.0 resolver with pydantic validation and the one problem+json error map."""
    app = APIGatewayHttpResolver(enable_validation=True)
    install_problem_handlers(app, logger)
    return app


class HttpFunction:
    """One HTTP route's Lambda function: its resolver with the problem+json map, its logger and
    metrics, and ``handler``, the entry point that resolves an event with the request's
    correlation id in every log line and flushes the metrics afterwards. The event is never
    logged (tokens travel in bodies)."""

    def __init__(self) -> None:
        self.logger = Logger()
        self.metrics = Metrics()
        self.app = http_resolver(self.logger)

        @self.logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
        @self.metrics.log_metrics
        def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
            return self.app.resolve(event, context)

        self.handler: LambdaHandler = handler


def caller(app: APIGatewayHttpResolver) -> Principal:
    """Who is calling the route being resolved (the JWT authorizer's claims)."""
    config = settings()
    return principal_from_claims(
        jwt_claims(app.current_event.raw_event),
        groups_claim=config.groups_claim,
        projects_claim=config.projects_claim,
        admin_group=config.admin_group,
    )


def jwt_claims(event: Mapping[str, Any]) -> Mapping[str, object] | None:
    """The JWT authorizer's claims (requestContext.authorizer.jwt.claims), or None."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims")
    return claims if isinstance(claims, Mapping) else None
