"""The HTTP contract's bodies (camelCase on the wire), shared by handlers and OpenAPI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_serializer, field_validator

if TYPE_CHECKING:
    from repoconn_core.records import ConnectionSummary

MAX_TOKEN_LENGTH = 1024
PROJECT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"

ProjectId = Annotated[str, Field(pattern=PROJECT_ID_PATTERN, description="The project's id")]


class ConnectRequest(BaseModel):
    """PUT body. Unknown fields are refused so a misspelt field is a clear 422, not a silent
    default. The token is a SecretStr from here to the cipher: its repr and str are masked."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    repositoryUrl: str = Field(
        min_length=1, max_length=2048, examples=["https://github.com/acme/api"]
    )
    accessToken: SecretStr = Field(
        min_length=1,
        max_length=MAX_TOKEN_LENGTH,
        description="Provider access token; stored encrypted, never returned.",
    )
    serviceType: str | None = Field(
        default=None, max_length=32, description="GitHub | GitLab | Bitbucket; inferred when absent"
    )

    @field_validator("accessToken")
    @classmethod
    def _token_has_no_whitespace(cls, value: SecretStr) -> SecretStr:
        # A pasted token with a newline or space is always a mistake and would fail at the
        # provider with a confusing 401; say so here instead.
        if any(ch.isspace() for ch in value.get_secret_value()):
            raise ValueError("accessToken must not contain whitespace")
        # Provider tokens are printable ASCII; anything else cannot even be sent in an HTTP
        # header (a non-Latin-1 character was a 500 before: found by contract fuzzing).
        if not all("!" <= ch <= "~" for ch in value.get_secret_value()):
            raise ValueError("accessToken must be printable ASCII")
        return value


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RepositoryConnectionInfo(BaseModel):
    """The public, non-secret view of a connection."""

    id: str
    repositoryUrl: str
    serviceType: str
    isActive: bool
    lastSyncAt: datetime | None
    createdAt: datetime
    healthStatus: str | None = Field(default=None, description="healthy | degraded | failed")
    healthReason: str | None = None
    lastHealthCheckAt: datetime | None = None

    @field_serializer("lastSyncAt", "createdAt", "lastHealthCheckAt")
    def _serialize_time(self, value: datetime | None) -> str | None:
        return _iso(value)

    @classmethod
    def from_summary(cls, summary: ConnectionSummary) -> RepositoryConnectionInfo:
        return cls(
            id=summary.id,
            repositoryUrl=summary.repository_url,
            serviceType=str(summary.service_type),
            isActive=summary.is_active,
            lastSyncAt=summary.last_sync_at,
            createdAt=summary.created_at,
            healthStatus=summary.health_status,
            healthReason=summary.health_reason,
            lastHealthCheckAt=summary.last_health_check_at,
        )


class ExistsResponse(BaseModel):
    exists: bool


class Problem(BaseModel):
    """RFC 9457 problem details plus a stable machine ``code``."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, object]] | None = None


class DisconnectResponse(BaseModel):
    deleted: bool
    webhookRemoved: bool
