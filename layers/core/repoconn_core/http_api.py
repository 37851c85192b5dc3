"""What every HTTP handler shares: the resolver, the caller's identity, logging set-up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from repoconn_core.identity import Principal, principal_from_claims
from repoconn_core.problems import install_problem_handlers
from repoconn_core.settings import settings


def http_resolver(logger: Logger) -> APIGatewayHttpResolver:
    """A payload-2.0 resolver with pydantic validation and the one problem+json error map."""
    app = APIGatewayHttpResolver(enable_validation=True)
    install_problem_handlers(app, logger)
    return app


def jwt_claims(event: Mapping[str, Any]) -> Mapping[str, object] | None:
    """The JWT authorizer's claims (requestContext.authorizer.jwt.claims), or None."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims")
    return claims if isinstance(claims, Mapping) else None


def principal_from(event: Mapping[str, Any]) -> Principal:
    config = settings()
    return principal_from_claims(
        jwt_claims(event),
        groups_claim=config.groups_claim,
        projects_claim=config.projects_claim,
        admin_group=config.admin_group,
    )
