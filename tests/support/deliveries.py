"""Webhook deliveries as each provider sends them: the headers its documentation lists,
signed with the hook's secret (GitHub and Bitbucket: an HMAC of the body; GitLab: the secret
itself, and optionally a Standard Webhooks signature)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

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


def hub_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed(
    provider: str,
    secret: str,
    *,
    payload: dict[str, Any] | None = None,
    body: bytes | None = None,
    delivery_id: str | None = None,
    standard_webhooks: bool = False,
) -> Delivery:
    """A delivery with the headers each provider documents, signed with ``secret``; without
    ``payload`` or ``body``, a new push each time (``fresh_push``)."""
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
        if standard_webhooks:
            stamp = str(int(time.time()))
            content = f"{did}.{stamp}.".encode() + raw
            digest = hmac.new(secret.encode(), content, hashlib.sha256).digest()
            headers |= {
                "webhook-id": did,
                "webhook-timestamp": stamp,
                "webhook-signature": "v1," + base64.b64encode(digest).decode(),
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
