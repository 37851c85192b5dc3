"""The records the use cases exchange with storage — plain frozen dataclasses, no DynamoDB.

``ConnectionSummary`` is the non-secret part of a connection: exactly what the table's
``projectId-index`` projects, so a read use case never holds ciphertext. ``StoredConnection``
is a summary plus the secret fields, as the cipher's blobs (never plaintext). The storage
adapters (``repoconn_core.storage``) map both to and from items from these field lists alone.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum

from repoconn_core.providers import Hook, ServiceType, webhook_signing


@dataclass(frozen=True, kw_only=True)
class ConnectionSummary:
    """The non-secret part of a connection: exactly what the projectId-index projects."""

    id: str
    project_id: str
    repository_url: str
    service_type: ServiceType
    is_active: bool
    last_sync_at: datetime | None
    created_at: datetime
    updated_at: datetime
    health_status: str | None = None
    health_reason: str | None = None
    last_health_check_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class StoredConnection(ConnectionSummary):
    """A connection as stored; secrets are the cipher's blobs, never plaintext."""

    access_token: bytes
    webhook_secret: bytes
    webhook_id: str | None
    previous_webhook_secret: bytes | None = None
    previous_secret_expires_at: datetime | None = None
    # Incremented by every write that seals new secrets; part of each blob's binding, so a blob
    # from another write does not open here (connection_secrets.py). 0: written before issue 14.
    secret_generation: int = 0
    # How the hook proves its deliveries beyond its token: providers.STANDARD_WEBHOOKS (a
    # GitLab signing token; the receiver then requires the signature) or None. Not secret.
    webhook_signing: str | None = None

    def with_secrets(self, sealed: SealedSecrets, *, at: datetime) -> StoredConnection:
        """This connection holding the secrets of ``sealed`` — the secret rotated out included,
        sealed again as the previous one with its expiry — written ``at``."""
        return replace(
            self,
            access_token=sealed.access_token,
            webhook_secret=sealed.webhook_secret,
            previous_webhook_secret=sealed.previous_webhook_secret,
            previous_secret_expires_at=sealed.previous_secret_expires_at,
            secret_generation=sealed.generation,
            updated_at=at,
        )

    def with_hook(self, sealed: SealedSecrets, hook: Hook, *, at: datetime) -> StoredConnection:
        """This connection with a new hook and the secrets of ``sealed`` (a health repair;
        in-flight deliveries may still be signed with the secret rotated out)."""
        return replace(
            self.with_secrets(sealed, at=at),
            webhook_id=hook.id,
            webhook_signing=webhook_signing(hook),
        )

    def webhook_view(self) -> WebhookConnection:
        """What the receiver would read of this connection."""
        return WebhookConnection(**{name: getattr(self, name) for name in WEBHOOK_FIELDS})

    def summary(self) -> ConnectionSummary:
        """The non-secret part, as a GSI read would return it."""
        return ConnectionSummary(**{name: getattr(self, name) for name in SUMMARY_FIELDS})

    def __repr__(self) -> str:
        # Ciphertext is not secret, but there is no reason to print it either.
        return (
            f"StoredConnection(id={self.id!r}, project_id={self.project_id!r}, "
            f"repository_url={self.repository_url!r}, service_type={self.service_type!r})"
        )


@dataclass(frozen=True, kw_only=True)
class WebhookConnection:
    """What the webhook receiver reads of a connection — never the access token. Its GetItem
    projects exactly these attributes, and IAM allows it no other (docs/security.md)."""

    id: str
    project_id: str
    repository_url: str
    service_type: ServiceType
    is_active: bool
    updated_at: datetime
    webhook_secret: bytes
    previous_webhook_secret: bytes | None = None
    previous_secret_expires_at: datetime | None = None
    secret_generation: int = 0
    webhook_signing: str | None = None

    def __repr__(self) -> str:
        return f"WebhookConnection(id={self.id!r}, repository_url={self.repository_url!r})"


WEBHOOK_FIELDS = tuple(field.name for field in fields(WebhookConnection))


@dataclass(frozen=True, kw_only=True)
class PendingSecret:
    """A webhook secret on its way to the provider (connect, hook repair): stored before the
    provider can sign with it, so a delivery it signs at once — GitHub's ``ping`` on creation,
    a push during a rotation — verifies (docs/decisions.md, "Secrets before the provider").

    ``webhook_secret`` is the blob the connection's next write stores, sealed exactly as there
    (field ``webhookSecret``, write ``secret_generation``): no extra KMS call to stage it, and
    it opens only for this project and repository. Accepted until ``expires_at``.
    """

    connection_id: str
    project_id: str
    repository_url: str
    service_type: ServiceType
    webhook_secret: bytes
    secret_generation: int
    staged_at: datetime
    expires_at: datetime

    def webhook_view(self) -> WebhookConnection:
        """The connection as a delivery signed with this secret speaks for; its only secret
        is this one."""
        return WebhookConnection(
            id=self.connection_id,
            project_id=self.project_id,
            repository_url=self.repository_url,
            service_type=self.service_type,
            is_active=True,
            updated_at=self.staged_at,
            webhook_secret=self.webhook_secret,
            secret_generation=self.secret_generation,
        )

    def __repr__(self) -> str:
        return (
            f"PendingSecret(connection_id={self.connection_id!r}, expires_at={self.expires_at!r})"
        )


# What ``with_secrets`` changes, as re-encryption writes it (webhook_id unchanged).
RESEALED_FIELDS = (
    "access_token",
    "webhook_secret",
    "webhook_id",
    "previous_webhook_secret",
    "previous_secret_expires_at",
    "secret_generation",
    "updated_at",
)
# What ``with_hook`` changes: the fields a re-created hook writes - also whether it signs.
HOOK_FIELDS = (*RESEALED_FIELDS, "webhook_signing")
SUMMARY_FIELDS = tuple(field.name for field in fields(ConnectionSummary))
CONNECTION_FIELDS = tuple(field.name for field in fields(StoredConnection))


@dataclass(frozen=True)
class SealedSecrets:
    """A connection's secret fields as one write stores them: the cipher's blobs, the write's
    generation, and the secret it rotated out (sealed again with its expiry) if any."""

    access_token: bytes
    webhook_secret: bytes
    generation: int = 1
    previous_webhook_secret: bytes | None = None
    previous_secret_expires_at: datetime | None = None

    def __repr__(self) -> str:
        return "SealedSecrets(...)"


class DeliveryOutcome(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
