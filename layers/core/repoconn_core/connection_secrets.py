"""A connection's secret fields, sealed and opened in one place.

The cipher (``ports.FieldCipher``) binds every blob to projectId + repositoryUrl + field name;
this is the one place that names those fields and passes that binding, so a use case asks for
"the token" or "the webhook secrets" instead of restating the call. Each method costs one KMS
call, as the call-count tests pin: ``seal`` one GenerateDataKey, each opening one Decrypt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import SecretStr

from repoconn_core.ports import FieldCipher
from repoconn_core.records import SealedSecrets, StoredConnection

ACCESS_TOKEN = "accessToken"  # noqa: S105 - a field name, not a secret
WEBHOOK_SECRET = "webhookSecret"  # noqa: S105 - a field name


@dataclass(frozen=True)
class WebhookSecrets:
    """The secrets a delivery may be signed with: the current one, and the one it replaced
    while that is inside its grace window."""

    current: SecretStr
    previous: SecretStr | None


class ConnectionSecrets:
    def __init__(self, cipher: FieldCipher) -> None:
        self._cipher = cipher

    def seal(
        self, *, project_id: str, repository_url: str, token: SecretStr, webhook_secret: SecretStr
    ) -> SealedSecrets:
        """Both fields under one fresh data key (one GenerateDataKey)."""
        blobs = self._cipher.encrypt_fields(
            project_id=project_id,
            repository_url=repository_url,
            fields={ACCESS_TOKEN: token, WEBHOOK_SECRET: webhook_secret},
        )
        return SealedSecrets(blobs[ACCESS_TOKEN], blobs[WEBHOOK_SECRET])

    def token(self, stored: StoredConnection) -> SecretStr:
        return self._open(stored, ACCESS_TOKEN, stored.access_token)

    def webhook_secret(self, stored: StoredConnection) -> SecretStr:
        return self._open(stored, WEBHOOK_SECRET, stored.webhook_secret)

    def webhook_secrets(self, stored: StoredConnection, now: datetime) -> WebhookSecrets:
        # Both blobs are bound to field "webhookSecret": the previous one is the old
        # webhookSecret blob kept verbatim (docs/decisions.md, "Envelope encryption").
        current = self.webhook_secret(stored)
        previous = None
        if stored.previous_webhook_secret is not None and in_grace(stored, now):
            previous = self._open(stored, WEBHOOK_SECRET, stored.previous_webhook_secret)
        return WebhookSecrets(current, previous)

    def _open(self, stored: StoredConnection, field: str, blob: bytes) -> SecretStr:
        return self._cipher.decrypt_fields(
            {field: blob}, project_id=stored.project_id, repository_url=stored.repository_url
        )[field]


def in_grace(stored: StoredConnection, now: datetime) -> bool:
    """Whether the secret a reconnect rotated out is still accepted."""
    expires = stored.previous_secret_expires_at
    return expires is not None and now < expires
