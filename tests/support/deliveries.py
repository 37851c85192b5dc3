"""Webhook deliveries as each provider sends them: the headers its documentation lists,
signed with the hook's secret (GitHub and Bitbucket: an HMAC of the body; GitLab: its token,
and, for a hook with a signing token, a Standard Webhooks signature made by the spec's
reference implementation, the ``standardwebhooks`` package)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr
from repoconn_providers.signatures import gitlab_token
from standardwebhooks.webhooks import Webhook

from tests.support.simulator_control import SimHook

# A push, as the providers' payloads start.
PUSH = {"ref": "refs/heads/main", "before": "0" * 40, "after": "9f2c" * 10, "commits": []}


def fresh_push() -> dict[str, Any]:
    """A push with a head commit of its own: a new event, as every real push is (the receiver
    takes an equal body for a replay of the same delivery)."""
    return {**PUSH, "after": uuid.uuid4().hex + "0" * 8}


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes
    delivery_id: str


@dataclass(frozen=True)
class HookKeys:
    """What a hook proves its deliveries with, as the simulator lists it: ``secret`` (GitLab:
    the X-Gitlab-Token value) and, for a GitLab hook with one, its ``whsec_`` signing token."""

    secret: str
    signing_token: str | None = None

    @classmethod
    def of(cls, hook: SimHook) -> HookKeys:
        return cls(str(hook["secret"]), hook.get("signingToken"))


def listed_secret(provider: str, secret: str) -> str:
    """What the provider holds as the hook's ``secret`` for a connection's webhook secret:
    GitLab's X-Gitlab-Token is derived from it (signatures.gitlab_token), the others sign
    with the secret itself. ``provider``: a ServiceType value or a simulator provider name."""
    if provider.lower() == "gitlab":
        return gitlab_token(SecretStr(secret))
    return secret


def standard_webhooks_signature(
    signing_token: str, message_id: str, body: bytes, at: datetime | None = None
) -> tuple[str, str]:
    """``(webhook-timestamp, webhook-signature)`` as the reference implementation signs."""
    moment = at or datetime.now(UTC)
    signature = Webhook(signing_token).sign(message_id, moment, body.decode("utf-8"))
    return str(int(moment.timestamp())), signature


def hub_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed(
    provider: str,
    keys: str | HookKeys,
    *,
    payload: dict[str, Any] | None = None,
    body: bytes | None = None,
    delivery_id: str | None = None,
    signed_at: datetime | None = None,
) -> Delivery:
    """A delivery with the headers each provider documents, signed with ``keys`` (a secret, or
    a hook's keys: a GitLab one with a signing token also gets the Standard Webhooks headers,
    timestamped ``signed_at`` or now); without ``payload`` or ``body``, a new push each time
    (``fresh_push``)."""
    if isinstance(keys, str):
        keys = HookKeys(keys)
    secret = keys.secret
    raw = body if body is not None else json.dumps(payload or fresh_push()).encode()
    did = delivery_id or str(uuid.uuid4())
    headers: dict[str, str] = {"Content-Type": "application/json"}
    if provider == "GitHub":
        # https://docs.github.com/en/webhooks/webhook-events-and-payloads#delivery-headers
        headers |= {
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": did,
            "X-GitHub-Hook-ID": "490000001",
            "X-Hub-Signature-256": hub_signature(secret, raw),
        }
    elif provider == "GitLab":
        # https://docs.gitlab.com/user/project/integrations/webhooks/#delivery-headers
        headers |= {
            "X-Gitlab-Event": "Push Hook",
            "X-Gitlab-Token": secret,
            "X-Gitlab-Event-UUID": did,
            "Idempotency-Key": did,
        }
        if keys.signing_token is not None:
            # webhook-id is the Idempotency-Key (GitLab MR 230944).
            stamp, signature = standard_webhooks_signature(keys.signing_token, did, raw, signed_at)
            headers |= {
                "webhook-id": did,
                "webhook-timestamp": stamp,
                "webhook-signature": signature,
            }
    else:
        # https://support.atlassian.com/bitbucket-cloud/docs/event-payloads/#HTTP-headers
        headers |= {
            "X-Event-Key": "repo:push",
            "X-Request-UUID": did,
            "X-Hook-UUID": "4f1d2a0e-1111-2222-3333-444455556666",
            "X-Hub-Signature": hub_signature(secret, raw),
        }
    return Delivery(headers, raw, did)


SIGNATURE_HEADER = {
    "GitHub": "X-Hub-Signature-256",
    "GitLab": "X-Gitlab-Token",
    "Bitbucket": "X-Hub-Signature",
}


EVENT_HEADER = {"GitHub": "X-GitHub-Event", "GitLab": "X-Gitlab-Event", "Bitbucket": "X-Event-Key"}


def relabelled(delivery: Delivery, provider: str, event: str) -> Delivery:
    """The same signed delivery under another event header (no provider signs that header)."""
    return replace(delivery, headers={**delivery.headers, EVENT_HEADER[provider]: event})
