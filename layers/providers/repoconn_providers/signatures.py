"""Verifying and identifying incoming webhook deliveries. Pure standard library, no I/O.

Each provider authenticates a delivery differently:

- GitHub signs the raw body: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``
  (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries). The
  legacy SHA-1 ``X-Hub-Signature`` it also sends is ignored.
- Bitbucket Cloud signs the raw body the same way, but in ``X-Hub-Signature`` (sha256,
  despite GitHub's use of that name for SHA-1;
  https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/).
- GitLab does not sign by default: it echoes the hook's secret token in ``X-Gitlab-Token``
  (https://docs.gitlab.com/user/project/integrations/webhooks/#validate-requests-with-a-secret-token).
  Where the instance supports signing tokens, our hooks also have one and GitLab adds the
  Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64
  HMAC-SHA256 of "{id}.{timestamp}.{body}">``; https://www.standardwebhooks.com/), keyed with the
  base64-decoded bytes after the token's ``whsec_`` prefix. Neither value is the connection's
  webhook secret: both are derived from it (``gitlab_token``, ``gitlab_signing_token``), so the
  ``X-Gitlab-Token`` every delivery carries does not reveal the signing key. For a connection whose
  hook has a signing token (``STANDARD_WEBHOOKS``) the signature is required; for any other, the
  token alone is checked, as it is all such a hook sends (docs/decisions.md, issue 16).

Every accepted secret (current, and the previous one inside its grace window) is compared
with ``hmac.compare_digest`` and all of them are always tried, so neither the timing nor the
answer tells which one matched. Header names are looked up case-insensitively: API Gateway
hands them over lower-cased.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

GITHUB = "GitHub"
GITLAB = "GitLab"
BITBUCKET = "Bitbucket"

# Standard Webhooks: "reject the request if the timestamp is more than 5 minutes away".
STANDARD_WEBHOOKS_TOLERANCE_SECONDS = 5 * 60
_WHSEC_PREFIX = "whsec_"
# The stored ``webhookSigning`` of a connection whose hook signs per Standard Webhooks (the core's
# ``repoconn_core.providers.STANDARD_WEBHOOKS``; a unit test keeps the two equal).
STANDARD_WEBHOOKS = "standard-webhooks"
# Domain separation: what GitLab is given is derived from the webhook secret, one label each,
# so neither value tells the other or the secret (HMAC-SHA256 as a PRF).
_GITLAB_SIGNING_KEY_LABEL = b"repository-connections gitlab signing-key v1"
_GITLAB_TOKEN_LABEL = b"repository-connections gitlab token v1"
_SHA256_PREFIX = "sha256="
# Provider ids are UUIDs/GUIDs; anything else is hashed so a key never grows or breaks.
_PLAIN_ID = re.compile(r"^[A-Za-z0-9{}._:-]{1,128}$")
_MAX_EVENT_KIND = 64
_EVENT_KIND_JUNK = re.compile(r"[^a-z0-9:._-]+")


class Secret(Protocol):
    """Anything with a masked value, such as pydantic's SecretStr."""

    def get_secret_value(self) -> str: ...


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value by case-insensitive name, or None."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


# Verification -----------------------------------------------------------------------------


def verify_github(headers: Mapping[str, str], body: bytes, secrets: Sequence[Secret]) -> bool:
    """``X-Hub-Signature-256`` is ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return _verify_hub_signature(header(headers, "X-Hub-Signature-256"), body, secrets)


def verify_bitbucket(headers: Mapping[str, str], body: bytes, secrets: Sequence[Secret]) -> bool:
    """Bitbucket Cloud's ``X-Hub-Signature`` is ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return _verify_hub_signature(header(headers, "X-Hub-Signature"), body, secrets)


def verify_gitlab(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[Secret],
    *,
    now: datetime,
    signing: str | None = None,
) -> bool:
    """``signing`` is the connection's stored ``webhookSigning``.

    ``STANDARD_WEBHOOKS``: ``X-Gitlab-Token`` must equal ``gitlab_token(secret)`` and a
    ``webhook-signature`` must verify with ``gitlab_signing_key(secret)``, for the same accepted
    secret, within 5 minutes of its ``webhook-timestamp``; without the signature headers the
    delivery is refused, so whoever learns the token cannot just leave them out.

    Otherwise (no signing token at the hook): ``X-Gitlab-Token`` must equal the secret itself
    (hooks registered before signing tokens) or ``gitlab_token(secret)``; a ``webhook-signature``
    is ignored, since no key of ours signed it.
    """
    token = header(headers, "X-Gitlab-Token")
    if token is None:
        return False
    # Digests of equal length: compare_digest then takes the same time whatever the token's
    # length, so a guess does not learn the secret's length.
    token_digest = _digest(token)
    if signing == STANDARD_WEBHOOKS:
        signature = header(headers, "webhook-signature")
        signed = _standard_webhooks_content(headers, body, now)
        if signature is None or signed is None:
            return False
        matched = False
        for secret in secrets:
            ok = hmac.compare_digest(token_digest, _digest(gitlab_token(secret)))
            ok = _standard_webhooks_match(signature, signed, gitlab_signing_key(secret)) and ok
            matched = ok or matched  # every secret is tried: no early exit reveals which matched
        return matched
    matched = False
    for secret in secrets:
        as_is = hmac.compare_digest(token_digest, _digest(secret.get_secret_value()))
        derived = hmac.compare_digest(token_digest, _digest(gitlab_token(secret)))
        matched = matched | as_is | derived  # no short circuit: both are always compared
    return matched


def gitlab_signing_key(secret: Secret) -> bytes:
    """The 32-byte Standard Webhooks key of a GitLab hook, derived from its webhook secret."""
    return _derive(secret, _GITLAB_SIGNING_KEY_LABEL)


def gitlab_signing_token(secret: Secret) -> str:
    """``whsec_`` + base64 of ``gitlab_signing_key``: GitLab's ``signing_token`` parameter."""
    return _WHSEC_PREFIX + base64.b64encode(gitlab_signing_key(secret)).decode("ascii")


def gitlab_token(secret: Secret) -> str:
    """The ``X-Gitlab-Token`` of a GitLab hook (its ``token`` parameter): 32 derived bytes,
    URL-safe base64 without padding (43 characters, like the secret itself)."""
    raw = _derive(secret, _GITLAB_TOKEN_LABEL)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _derive(secret: Secret, label: bytes) -> bytes:
    return hmac.new(secret.get_secret_value().encode("utf-8"), label, hashlib.sha256).digest()


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


def verify_delivery(
    service_type: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[Secret],
    now: datetime,
    signing: str | None = None,
) -> bool:
    """The provider's own check for ``service_type`` (``GitHub`` | ``GitLab`` | ``Bitbucket``);
    ``signing`` is the connection's stored ``webhookSigning`` (GitLab only)."""
    if not secrets:
        return False
    if service_type == GITHUB:
        return verify_github(headers, body, secrets)
    if service_type == GITLAB:
        return verify_gitlab(headers, body, secrets, now=now, signing=signing)
    if service_type == BITBUCKET:
        return verify_bitbucket(headers, body, secrets)
    return False


def _verify_hub_signature(given: str | None, body: bytes, secrets: Sequence[Secret]) -> bool:
    if given is None or not given.startswith(_SHA256_PREFIX):
        return False
    # Hex is case-insensitive; providers send lower case, but a receiver should not care.
    given_bytes = given.strip().lower().encode("utf-8")
    matched = False
    for secret in secrets:
        key = secret.get_secret_value().encode("utf-8")
        expected = (_SHA256_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()).encode()
        matched = hmac.compare_digest(expected, given_bytes) or matched
    return matched


def _standard_webhooks_content(
    headers: Mapping[str, str], body: bytes, now: datetime
) -> bytes | None:
    """``{webhook-id}.{webhook-timestamp}.{body}``, or None when the id or timestamp is missing
    or the timestamp is more than 5 minutes away from ``now`` (replay protection)."""
    message_id = header(headers, "webhook-id")
    timestamp = header(headers, "webhook-timestamp")
    if not message_id or not timestamp or not timestamp.isascii() or not timestamp.isdigit():
        return None
    if abs(now.timestamp() - int(timestamp)) > STANDARD_WEBHOOKS_TOLERANCE_SECONDS:
        return None
    return f"{message_id}.{timestamp}.".encode() + body


def _standard_webhooks_match(signature_header: str, signed: bytes, key: bytes) -> bool:
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    matched = False
    # Several space-separated "version,signature" pairs while the sender rotates keys; any
    # "v1" one matching passes, other versions are skipped.
    for candidate in signature_header.split(" "):
        version, _, value = candidate.partition(",")
        if version != "v1" or not value:
            continue
        matched = hmac.compare_digest(expected, value.encode("utf-8")) or matched
    return matched


# Identification ---------------------------------------------------------------------------


def delivery_id(service_type: str, headers: Mapping[str, str], body: bytes) -> str:
    """The provider's id of this delivery, stable across its retries.

    GitHub ``X-GitHub-Delivery`` (kept on redelivery); GitLab ``Idempotency-Key`` (the same on
    every retry of one event), else ``X-Gitlab-Event-UUID``; Bitbucket ``X-Request-UUID``.
    Without one, the SHA-256 of the body stands in, so an identical body is still a duplicate.
    """
    names = {
        GITHUB: ("X-GitHub-Delivery",),
        GITLAB: ("Idempotency-Key", "X-Gitlab-Event-UUID"),
        BITBUCKET: ("X-Request-UUID",),
    }.get(service_type, ())
    for name in names:
        value = (header(headers, name) or "").strip()
        if not value:
            continue
        if _PLAIN_ID.fullmatch(value):
            return value
        return "sha256-" + hashlib.sha256(value.encode("utf-8")).hexdigest()
    return "sha256-" + hashlib.sha256(body).hexdigest()


def event_kind(service_type: str, headers: Mapping[str, str]) -> str:
    """The provider's event name, normalised: GitHub ``push``, GitLab ``Push Hook`` →
    ``push``, Bitbucket ``repo:push``; ``unknown`` without the header."""
    name = {GITHUB: "X-GitHub-Event", GITLAB: "X-Gitlab-Event", BITBUCKET: "X-Event-Key"}.get(
        service_type
    )
    raw = (header(headers, name) if name else None) or ""
    kind = raw.strip().lower()
    if service_type == GITLAB and kind.endswith(" hook"):
        kind = kind[: -len(" hook")]
    kind = _EVENT_KIND_JUNK.sub("_", kind).strip("_")[:_MAX_EVENT_KIND]
    return kind or "unknown"


def identify(service_type: str, headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
    """``(delivery id, event kind)`` of a delivery."""
    return delivery_id(service_type, headers, body), event_kind(service_type, headers)
