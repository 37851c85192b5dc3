"""A connection's secret fields, sealed and opened in one place.

The cipher (``ports.FieldCipher``) binds every blob to projectId + repositoryUrl + field name
and a binding string; this is the one place that names the fields and writes the bindings:

- ``accessToken`` and ``webhookSecret``: ``generation=<n>``, the item's write generation. A
  blob from another write of the same item (an older webhookSecret copied back) does not open;
- ``previousWebhookSecret``: the secret a rotation replaced, sealed again under its own field
  name with ``generation=<n>;expires=<ISO time>``. Pushing its expiry out, or moving it into
  ``webhookSecret``, makes it unreadable instead of accepted.

What no binding can stop: a table writer restoring a whole earlier item (every field of one
older write). docs/security.md says so.

KMS calls: ``seal`` one GenerateDataKey per field (two; three with a rotated-out secret, which
``rotate`` opens first with one Decrypt); each opening one Decrypt. Items written in format
1 (before issue 14) open as before: their previous secret is the old webhookSecret blob kept
verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aws_lambda_powertools import Logger
from pydantic import SecretStr

from repoconn_core.errors import StoredSecretUnreadable
from repoconn_core.ports import FieldCipher
from repoconn_core.records import SealedSecrets, StoredConnection, WebhookConnection

ACCESS_TOKEN = "accessToken"  # noqa: S105 - a field name, not a secret
WEBHOOK_SECRET = "webhookSecret"  # noqa: S105 - a field name
PREVIOUS_WEBHOOK_SECRET = "previousWebhookSecret"  # noqa: S105 - a field name
# The first byte of a blob written before issue 14 (cipher.LEGACY_FORMAT_VERSION).
_LEGACY_FORMAT = b"\x01"
# What the webhook-secret methods read: a whole connection, or the receiver's view of one.
HoldsWebhookSecrets = StoredConnection | WebhookConnection

log = Logger(child=True)


@dataclass(frozen=True)
class WebhookSecrets:
    """The secrets a delivery may be signed with: the current one, and the one it replaced
    while that is inside its grace window."""

    current: SecretStr
    previous: SecretStr | None


@dataclass(frozen=True)
class RotatedSecret:
    """The webhook secret a rotation replaces, and until when deliveries signed with it count."""

    secret: SecretStr
    expires_at: datetime

    def __repr__(self) -> str:
        return f"RotatedSecret(expires_at={self.expires_at!r})"


def binding(generation: int, expires_at: datetime | None = None) -> str:
    """The binding string of a field sealed by write ``generation`` (with an expiry: the
    previous webhook secret's)."""
    text = f"generation={generation}"
    if expires_at is not None:
        text += f";expires={expires_at.astimezone(UTC).isoformat(timespec='microseconds')}"
    return text


class ConnectionSecrets:
    def __init__(self, cipher: FieldCipher) -> None:
        self._cipher = cipher

    def seal(
        self,
        *,
        project_id: str,
        repository_url: str,
        token: SecretStr,
        webhook_secret: SecretStr,
        generation: int,
        previous: RotatedSecret | None = None,
    ) -> SealedSecrets:
        """Each field under its own data key, bound to write ``generation``."""
        fields = {ACCESS_TOKEN: token, WEBHOOK_SECRET: webhook_secret}
        bindings = {ACCESS_TOKEN: binding(generation), WEBHOOK_SECRET: binding(generation)}
        if previous is not None:
            fields[PREVIOUS_WEBHOOK_SECRET] = previous.secret
            bindings[PREVIOUS_WEBHOOK_SECRET] = binding(generation, previous.expires_at)
        blobs = self._cipher.encrypt_fields(
            project_id=project_id, repository_url=repository_url, fields=fields, bindings=bindings
        )
        return SealedSecrets(
            blobs[ACCESS_TOKEN],
            blobs[WEBHOOK_SECRET],
            generation=generation,
            previous_webhook_secret=blobs.get(PREVIOUS_WEBHOOK_SECRET),
            previous_secret_expires_at=previous.expires_at if previous else None,
        )

    def rotate(
        self,
        stored: StoredConnection,
        *,
        token: SecretStr,
        webhook_secret: SecretStr,
        previous_expires_at: datetime,
    ) -> SealedSecrets:
        """The secrets of ``stored``'s next write (a reconnect, a repair): its current webhook
        secret, opened with one Decrypt, is sealed again as the previous one, accepted until
        ``previous_expires_at``."""
        return self.seal(
            project_id=stored.project_id,
            repository_url=stored.repository_url,
            token=token,
            webhook_secret=webhook_secret,
            generation=stored.secret_generation + 1,
            previous=RotatedSecret(self.webhook_secret(stored), previous_expires_at),
        )

    def token(self, stored: StoredConnection) -> SecretStr:
        return self._open(stored, ACCESS_TOKEN, stored.access_token)

    def webhook_secret(self, stored: HoldsWebhookSecrets) -> SecretStr:
        return self._open(stored, WEBHOOK_SECRET, stored.webhook_secret)

    def webhook_secrets(self, stored: HoldsWebhookSecrets, now: datetime) -> WebhookSecrets:
        current = self.webhook_secret(stored)
        blob = stored.previous_webhook_secret
        if blob is None or not in_grace(stored, now):
            return WebhookSecrets(current, None)
        if blob[:1] == _LEGACY_FORMAT:
            # Format 1: the old webhookSecret blob kept verbatim, bound to that field.
            return WebhookSecrets(current, self._open(stored, WEBHOOK_SECRET, blob))
        try:
            previous = self._open(
                stored,
                PREVIOUS_WEBHOOK_SECRET,
                blob,
                binding(stored.secret_generation, stored.previous_secret_expires_at),
            )
        except StoredSecretUnreadable:
            # Its expiry or generation is not the one it was sealed with: never accept it.
            # The current secret still verifies; the tampering is for the operator.
            log.warning(
                "the previous webhook secret does not open with its stored expiry; ignored",
                extra={"connectionId": stored.id},
            )
            return WebhookSecrets(current, None)
        return WebhookSecrets(current, previous)

    def _open(
        self, stored: HoldsWebhookSecrets, field: str, blob: bytes, bound: str | None = None
    ) -> SecretStr:
        return self._cipher.decrypt_fields(
            {field: blob},
            project_id=stored.project_id,
            repository_url=stored.repository_url,
            bindings={field: binding(stored.secret_generation) if bound is None else bound},
        )[field]


def in_grace(stored: HoldsWebhookSecrets, now: datetime) -> bool:
    """Whether the secret a reconnect rotated out is still accepted."""
    expires = stored.previous_secret_expires_at
    return expires is not None and now < expires
