"""The HTTP contract's bodies (camelCase on the wire), shared by handlers and OpenAPI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

if TYPE_CHECKING:
    from repoconn_core.delivery_history import DeliveryPage
    from repoconn_core.records import ConnectionSummary

MAX_TOKEN_LENGTH = 1024
PROJECT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
PROJECT_ID_DESCRIPTION = (
    "The project's id on the developer platform: 1 to 128 characters, letters, digits and "
    "`._:-`, starting with a letter or digit. Rights are per project (the token's roles claim)."
)

ProjectId = Annotated[
    str, Field(pattern=PROJECT_ID_PATTERN, title="Project id", description=PROJECT_ID_DESCRIPTION)
]
# The spellings the service answers with (providers.ServiceType's values).
ServiceTypeName = Literal["GitHub", "GitLab", "Bitbucket"]
HealthStatusName = Literal["healthy", "degraded", "failed"]
SERVICE_TYPE_NAMES: tuple[str, ...] = get_args(ServiceTypeName)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _iso_required(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# An instant on the wire: ISO 8601 in UTC with milliseconds and a Z (``2026-11-25T04:43:21.958Z``).
UtcTime = Annotated[
    datetime,
    PlainSerializer(_iso_required, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def _absent_when_unset(schema: dict[str, Any]) -> None:
    """An optional field the service leaves out rather than sending null: no ``default`` in the
    document, which generators (openapi-typescript) would read as "always present"."""
    schema.pop("default", None)


class ConnectRequest(BaseModel):
    """PUT body. Unknown fields are refused so a misspelt field is a clear 422, not a silent
    default. The token is a SecretStr from here to the cipher: its repr and str are masked."""

    model_config = ConfigDict(
        extra="forbid",
        hide_input_in_errors=True,
        json_schema_extra={
            "examples": [
                {
                    "repositoryUrl": "https://github.com/Acme/Widgets.git",
                    "accessToken": "ghp_exampleToken1234567890",
                    "serviceType": "GitHub",
                }
            ]
        },
    )

    repositoryUrl: str = Field(
        min_length=1,
        max_length=2048,
        title="Repository URL",
        description=(
            "The repository: `https://host/owner/repo[.git][/]`, `git@host:owner/repo.git` or "
            "`ssh://git@host[:port]/owner/repo.git` (GitLab subgroups allowed). Stored and "
            "answered in canonical form, `https://host/owner/repo` in lower case. Not a URI "
            "format: the scp-like `git@host:path` form is accepted too."
        ),
        examples=["https://github.com/Acme/Widgets.git", "git@gitlab.com:acme/group/repo.git"],
    )
    accessToken: SecretStr = Field(
        min_length=1,
        max_length=MAX_TOKEN_LENGTH,
        title="Access token",
        description=(
            "Provider access token (printable ASCII, no whitespace); stored encrypted, never "
            "returned or logged."
        ),
        examples=["ghp_exampleToken1234567890"],
    )
    serviceType: (
        Annotated[
            str,
            StringConstraints(max_length=32),
            WithJsonSchema({"type": "string", "enum": list(SERVICE_TYPE_NAMES)}),
        ]
        | None
    ) = Field(
        default=None,
        title="Service type",
        description=(
            "The provider, which must match the repository's host; inferred from the host when "
            "absent or null. Matched case-insensitively: `github` is accepted as `GitHub`. The "
            "answer always carries the spelling listed here."
        ),
        examples=["GitHub"],
        json_schema_extra=_absent_when_unset,
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


CONNECTION_EXAMPLE: dict[str, Any] = {
    "id": "f64fbb40-a369-4ed2-b077-5c5d8da79978",
    "repositoryUrl": "https://github.com/acme/widgets",
    "serviceType": "GitHub",
    "isActive": True,
    "lastSyncAt": "2026-11-25T04:43:22.592Z",
    "createdAt": "2026-11-25T04:43:21.958Z",
    "healthStatus": "healthy",
    "healthReason": "access token accepted and webhook active",
    "lastHealthCheckAt": "2026-11-25T04:43:25.104Z",
    "lastDeliveryAt": "2026-11-25T04:43:22.480Z",
}


class RepositoryConnectionInfo(BaseModel):
    """The public, non-secret view of a connection. Every field is always present; the ones
    that may be unknown are null then."""

    # Fields with a default are still always sent: required in the answer's schema.
    model_config = ConfigDict(
        json_schema_extra={"examples": [CONNECTION_EXAMPLE]},
        json_schema_serialization_defaults_required=True,
    )

    id: str = Field(
        title="Connection id",
        description=(
            "The connection's id (a UUID); connecting another repository gives a new one."
        ),
        json_schema_extra={"format": "uuid"},
        examples=[CONNECTION_EXAMPLE["id"]],
    )
    repositoryUrl: str = Field(
        title="Repository URL",
        description="The repository's canonical URL: `https://host/owner/repo`, lower case.",
        json_schema_extra={"format": "uri"},
        examples=[CONNECTION_EXAMPLE["repositoryUrl"]],
    )
    serviceType: ServiceTypeName = Field(
        title="Service type", description="The repository's provider.", examples=["GitHub"]
    )
    isActive: bool = Field(
        title="Active", description="Whether the connection is active (currently always true)."
    )
    lastSyncAt: UtcTime | None = Field(
        title="Last sync",
        description=(
            "When the connection last synced: set by a successful connect and advanced by each "
            "verified, non-duplicate webhook delivery; null if never."
        ),
    )
    createdAt: UtcTime = Field(
        title="Created", description="When the project was connected to this repository."
    )
    healthStatus: HealthStatusName | None = Field(
        default=None,
        title="Health status",
        description=(
            "The last health check's verdict: healthy, degraded (e.g. the webhook is disabled at "
            "the provider) or failed (e.g. the token was revoked); null before the first check."
        ),
    )
    healthReason: str | None = Field(
        default=None,
        title="Health reason",
        description="The last health check's reason in words; null before the first check.",
        examples=["access token accepted and webhook active"],
    )
    lastHealthCheckAt: UtcTime | None = Field(
        default=None,
        title="Last health check",
        description="When the health check last ran for this connection; null before the first.",
    )
    lastDeliveryAt: UtcTime | None = Field(
        default=None,
        title="Last delivery",
        description=(
            "When a webhook delivery last reached the service (any outcome); null until the "
            "first one, and again after seven days without any (the delivery log's retention). "
            "PUT answers null."
        ),
    )

    @classmethod
    def from_summary(
        cls, summary: ConnectionSummary, *, last_delivery_at: datetime | None = None
    ) -> RepositoryConnectionInfo:
        return cls(
            id=summary.id,
            repositoryUrl=summary.repository_url,
            serviceType=summary.service_type.value,
            isActive=summary.is_active,
            lastSyncAt=summary.last_sync_at,
            createdAt=summary.created_at,
            # Stored only from health.HealthStatus; validated here like every field.
            healthStatus=cast("HealthStatusName | None", summary.health_status),
            healthReason=summary.health_reason,
            lastHealthCheckAt=summary.last_health_check_at,
            lastDeliveryAt=last_delivery_at,
        )


class DeliveryInfo(BaseModel):
    """One delivery as the frontend shows it: never its payload."""

    deliveryId: str = Field(
        title="Delivery id",
        description="The provider's delivery id (e.g. X-GitHub-Delivery)",
        examples=["21a88412-566a-40f1-a9f0-84bca85aebd1"],
    )
    eventKind: str = Field(
        title="Event kind",
        description="The provider's event kind, e.g. push, merge_request",
        examples=["push"],
    )
    receivedAt: UtcTime = Field(
        title="Received",
        description="When it reached the service (redelivered: when the provider was asked)",
    )
    outcome: Literal["published", "duplicate", "dropped", "redelivered"] = Field(
        title="Outcome",
        description=(
            "published: put on the event bus; duplicate: a body already accepted within the "
            "replay window, acknowledged and not published again; dropped: its connection was "
            "gone or inactive when the relay got it; redelivered: the reconciliation asked the "
            "provider to deliver it again"
        ),
    )


class DeliveriesPage(BaseModel):
    """The most recent deliveries, newest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "deliveries": [
                        {
                            "deliveryId": "21a88412-566a-40f1-a9f0-84bca85aebd1",
                            "eventKind": "push",
                            "receivedAt": "2026-11-25T04:43:22.480Z",
                            "outcome": "published",
                        }
                    ],
                    "nextCursor": None,
                }
            ]
        }
    )

    deliveries: list[DeliveryInfo] = Field(
        title="Deliveries", description="This page's deliveries, newest first."
    )
    nextCursor: str | None = Field(
        title="Next cursor",
        description="Pass as ?cursor= for the next page; null on the last page",
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
    """Whether the project is connected to a repository."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"exists": True}]})

    exists: bool = Field(
        title="Exists", description="True when the project has a repository connection."
    )


class ValidationIssue(BaseModel):
    """One reason a request was refused as invalid: where, what kind, in words. Never the
    value that was sent (it may be the access token)."""

    loc: list[str] = Field(
        title="Location",
        description=(
            'Where: `body` or `path` or `query`, then the field, e.g. `["body", "repositoryUrl"]`.'
        ),
        examples=[["body", "repositoryUrl"]],
    )
    type: str = Field(
        title="Error type",
        description=(
            "A machine-readable kind: pydantic's error type (`missing`, `string_too_long`, ...) "
            "or the service's own (`insecure_scheme`, `enum`, ...)."
        ),
        examples=["insecure_scheme"],
    )
    msg: str = Field(title="Message", description="The reason in words.")


class Problem(BaseModel):
    """RFC 9457 problem details plus a stable machine ``code``."""

    type: str = Field(
        title="Problem type",
        description="A URN naming the problem: `urn:repository-connections:problem:<code>`.",
        examples=["urn:repository-connections:problem:connection_not_found"],
    )
    title: str = Field(
        title="Title", description="A short summary of the problem type (the same for a code)."
    )
    status: int = Field(title="Status", description="The HTTP status code of this answer.")
    detail: str = Field(title="Detail", description="What went wrong with this request.")
    code: str = Field(title="Code", description="The stable machine code (README's error table).")
    instance: str | SkipJsonSchema[None] = Field(
        default=None,
        title="Instance (request id)",
        description=(
            "The request's id (API Gateway's request id, also sent as the `x-request-id` and "
            "`apigw-requestid` headers): quote it when reporting a problem. A relative URI "
            "reference as RFC 9457 asks; absent only when the request carried no id."
        ),
        examples=["IXk2bhbBoAMEPbA="],
        json_schema_extra=_absent_when_unset,
    )
    errors: list[ValidationIssue] | SkipJsonSchema[None] = Field(
        default=None,
        title="Errors",
        description="Present on 422 answers that name fields: one entry per reason.",
        json_schema_extra=_absent_when_unset,
    )


class DisconnectResponse(BaseModel):
    """What a disconnect did."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"deleted": True, "webhookRemoved": True}]}
    )

    deleted: bool = Field(title="Deleted", description="The connection was deleted.")
    webhookRemoved: bool = Field(
        title="Webhook removed",
        description=(
            "The provider's webhook was removed too; false when the provider could not be "
            "reached or refused (the hook then stays at the provider)."
        ),
    )
