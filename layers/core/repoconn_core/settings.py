"""Service settings: one pydantic model, read from the environment once per container."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from repoconn_core.claims import claim_values
from repoconn_core.identity import ClaimNames
from repoconn_core.network_policy import api_url_refusal
from repoconn_core.providers import ProviderEndpoint, ServiceType

PUBLIC_HOSTS: dict[str, ServiceType] = {
    "github.com": ServiceType.GITHUB,
    "gitlab.com": ServiceType.GITLAB,
    "bitbucket.org": ServiceType.BITBUCKET,
}


class SelfHostedProvider(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)

    service_type: ServiceType = Field(alias="serviceType")
    api_url: str = Field(alias="apiUrl")


class Settings(BaseModel):
    """Every setting, with the environment variable that sets it (see docs/operations.md)."""

    model_config = ConfigDict(frozen=True)

    table_name: str = "repository-connections"
    kms_key_id: str = "alias/repository-connections"
    aws_region: str = "us-east-1"
    # Set only for local runs (embedded moto server); in AWS the SDK's defaults apply.
    aws_endpoint_url: str | None = None
    webhook_base_url: str = "http://127.0.0.1:3000"

    # Rights (identity.py, docs/security.md): entries "<projectId>:admin|member" in the roles
    # claim; a platform-wide admin group in the groups claim only when one is named here.
    roles_claim: str = Field(default="project_roles", min_length=1)
    groups_claim: str = Field(default="cognito:groups", min_length=1)
    platform_admin_group: str = ""
    # OAuth scopes of which the write routes need one ("" = no scope required). Comma- or
    # space-separated in the environment.
    write_scopes: frozenset[str] = frozenset()

    github_api_url: str = "https://api.github.com"
    gitlab_api_url: str = "https://gitlab.com/api/v4"
    bitbucket_api_url: str = "https://api.bitbucket.org/2.0"
    # {"git.example.com": {"serviceType": "GitLab", "apiUrl": "https://git.example.com/api/v4"}}
    self_hosted_providers: dict[str, SelfHostedProvider] = Field(default_factory=dict)
    # Local dev only: lets provider API base URLs point at the simulator on loopback.
    allow_loopback_provider_api: bool = False

    provider_connect_timeout: float = 3.05
    provider_read_timeout: float = 10.0
    provider_max_retries: int = 2

    webhook_secret_grace_seconds: int = 3600
    # What a synchronous Lambda invocation (6 MB request payload) leaves for a delivery's body
    # once API Gateway has wrapped it in its event: JSON-escaped (quotes double) or base64
    # (4/3) for non-text content types. docs/decisions.md, "Real sizes".
    webhook_max_body_bytes: int = 4_194_304
    secret_cache_ttl_seconds: int = 300
    # How long the receiver trusts a connection it read without reading it again (receive.py).
    connection_cache_ttl_seconds: int = Field(default=5, ge=0, le=300)
    event_bus_name: str = "default"

    health_check_max_workers: int = Field(default=4, ge=1, le=32)
    health_check_page_size: int = Field(default=100, ge=1, le=1000)
    health_check_stop_margin_seconds: int = Field(default=30, ge=0)

    # Reconciliation of missed deliveries (reconcile.py, docs/decisions.md). The lookback stays
    # under the receiver's 7-day replay window, so a redelivered event it once accepted is
    # still a duplicate; 72 h is as long as GitHub keeps its delivery log.
    reconcile_lookback_hours: int = Field(default=72, ge=1, le=144)
    reconcile_backoff_minutes: int = Field(default=15, ge=1)
    reconcile_max_redeliveries_per_event: int = Field(default=8, ge=1)
    reconcile_max_redeliveries_per_connection: int = Field(default=20, ge=0)
    reconcile_max_redeliveries_per_run: int = Field(default=200, ge=0)
    reconcile_max_history_pages: int = Field(default=10, ge=1, le=100)
    reconcile_max_workers: int = Field(default=4, ge=1, le=32)
    reconcile_page_size: int = Field(default=100, ge=1, le=1000)
    reconcile_stop_margin_seconds: int = Field(default=30, ge=0)

    @field_validator("self_hosted_providers", mode="before")
    @classmethod
    def _parse_json(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("write_scopes", mode="before")
    @classmethod
    def _split_scopes(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [scope for scope in value.replace(",", " ").split() if scope]
        return value

    @field_validator("platform_admin_group")
    @classmethod
    def _group_readable(cls, value: str) -> str:
        # The group is matched in a claim that may arrive flattened ("[a b]"); a name that
        # form would make ambiguous could never be matched exactly.
        if value:
            claim_values([value])
        return value

    @field_validator("self_hosted_providers")
    @classmethod
    def _lower_hosts(cls, value: dict[str, SelfHostedProvider]) -> dict[str, SelfHostedProvider]:
        return {host.lower(): provider for host, provider in value.items()}

    @field_validator("webhook_base_url", "github_api_url", "gitlab_api_url", "bitbucket_api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _provider_api_addresses(self) -> Settings:
        # An API base URL whose host is an IP literal (any spelling) or a loopback name must be
        # an address the provider clients may contact (network_policy): refused here, at cold
        # start, rather than on the first connect. DNS names are checked when resolved.
        urls = {
            "github_api_url": self.github_api_url,
            "gitlab_api_url": self.gitlab_api_url,
            "bitbucket_api_url": self.bitbucket_api_url,
        }
        for host, provider in self.self_hosted_providers.items():
            urls[f"self_hosted_providers[{host}].apiUrl"] = provider.api_url
        for name, url in urls.items():
            reason = api_url_refusal(url, allow_loopback=self.allow_loopback_provider_api)
            if reason is not None:
                raise ValueError(f"{name}: the API host is a {reason.value} address")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {
            name: env[name.upper()]
            for name in cls.model_fields
            if name.upper() in env and env[name.upper()] != ""
        }
        return cls.model_validate(values)

    def claim_names(self) -> ClaimNames:
        return ClaimNames(
            roles_claim=self.roles_claim,
            groups_claim=self.groups_claim,
            platform_admin_group=self.platform_admin_group or None,
        )

    def provider_endpoints(self) -> dict[str, ProviderEndpoint]:
        """Repository host → where its API lives. Only these hosts are accepted."""
        base = {
            ServiceType.GITHUB: self.github_api_url,
            ServiceType.GITLAB: self.gitlab_api_url,
            ServiceType.BITBUCKET: self.bitbucket_api_url,
        }
        endpoints = {
            host: ProviderEndpoint(kind, base[kind]) for host, kind in PUBLIC_HOSTS.items()
        }
        for host, provider in self.self_hosted_providers.items():
            endpoints[host] = ProviderEndpoint(
                provider.service_type, provider.api_url.rstrip("/"), self_hosted=True
            )
        return endpoints


@cache
def settings() -> Settings:
    """The container's settings, validated at cold start."""
    return Settings.from_env()
