"""The HTTP contract's bodies (camelCase on the wire), shared by handlers and OpenAPI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_serializer, field_validator

if TYPE_CHECKING:
    from repoconn_core.delivery_history import DeliveryPage
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
    lastDeliveryAt: datetime | None = Field(
        default=None,
        description=(
            "When a webhook delivery last reached the service (any outcome); null until the "
            "first one, and again after seven days without any (the delivery log's retention)."
        ),
    )

    @field_serializer("lastSyncAt", "createdAt", "lastHealthCheckAt", "lastDeliveryAt")
    def _serialize_time(self, value: datetime | None) -> str | None:
        return _iso(value)

    @classmethod
    def from_summary(
        cls, summary: ConnectionSummary, *, last_delivery_at: datetime | None = None
    ) -> RepositoryConnectionInfo:
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
            lastDeliveryAt=last_delivery_at,
        )


class DeliveryInfo(BaseModel):
    """One delivery as the frontend shows it: never its payload."""

    deliveryId: str = Field(description="The provider's delivery id (e.g. X-GitHub-Delivery)")
    eventKind: str = Field(description="The provider's event kind, e.g. push, merge_request")
    receivedAt: datetime = Field(
        description="When it reached the service (redelivered: when the provider was asked)"
    )
    outcome: Literal["published", "duplicate", "dropped", "redelivered"] = Field(
        description=(
            "published: put on the event bus; duplicate: a body already accepted within the "
            "replay window, acknowledged and not published again; dropped: its connection was "
            "gone or inactive when the relay got it; redelivered: the reconciliation asked the "
            "provider to deliver it again"
        )
    )

    @field_serializer("receivedAt")
    def _serialize_time(self, value: datetime) -> str | None:
        return _iso(value)


class DeliveriesPage(BaseModel):
    """The most recent deliveries, newest first."""

    deliveries: list[DeliveryInfo]
    nextCursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page"
    )

    @classmethod
    def from_page(cls, page: DeliveryPage) -> DeliveriesPage:
        return cls(
            deliveries=[
                DeliveryInfo(
                    deliveryId=entry.delivery_id,
                    eventKind=entry.event_kind,
                    receivedAt=entry.received_at,
                    outcome=entry.outcome.value,
                )
                for entry in page.entries
            ],
            nextCursor=page.next_cursor,
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
