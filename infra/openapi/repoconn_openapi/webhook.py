"""The webhook route's request and answer, written here: the receiver hashes the raw body
(functions/receive_webhook), so Powertools sees no body model and no headers to document."""

from __future__ import annotations

from typing import Any

from repoconn_openapi.route_errors import APPLICATION_JSON

_DELIVERY_ID: dict[str, Any] = {
    "type": "string",
    "description": "The provider's delivery id (e.g. X-GitHub-Delivery).",
}
WEBHOOK_ACK_SCHEMA: dict[str, Any] = {
    "description": "The receiver's acknowledgement of a verified delivery.",
    "title": "DeliveryAck",
    "oneOf": [
        {
            "type": "object",
            "description": "Recorded for publishing (202), or a duplicate of one (200).",
            "properties": {
                "accepted": {
                    "type": "boolean",
                    "const": True,
                    "description": "The delivery is (or already was) recorded for publishing.",
                },
                "duplicate": {
                    "type": "boolean",
                    "description": "A delivery with this id was accepted before (answered 200).",
                },
                "deliveryId": _DELIVERY_ID,
            },
            "required": ["accepted", "duplicate", "deliveryId"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "description": (
                "Verified but not published (200): a ping, or an event kind the hook does not"
                " subscribe to."
            ),
            "properties": {
                "accepted": {
                    "type": "boolean",
                    "const": False,
                    "description": "Verified, but nothing is published.",
                },
                "ignored": {
                    "type": "string",
                    "enum": ["ping", "not_subscribed"],
                    "description": (
                        "Why: a ping, or an event kind the hook does not subscribe to."
                    ),
                },
                "deliveryId": _DELIVERY_ID,
            },
            "required": ["accepted", "ignored", "deliveryId"],
            "additionalProperties": False,
        },
    ],
}
WEBHOOK_HEADERS = {
    "X-GitHub-Event": "GitHub: event name (push, pull_request, ping).",
    "X-GitHub-Delivery": "GitHub: delivery id (replay protection).",
    "X-GitHub-Hook-ID": "GitHub: the hook's id.",
    "X-Hub-Signature-256": "GitHub: sha256=HMAC of the body with the webhook secret.",
    "X-Gitlab-Event": "GitLab: event name (Push Hook, Merge Request Hook).",
    "X-Gitlab-Token": (
        "GitLab: the hook's token (derived from the webhook secret; older hooks: the secret)."
    ),
    "X-Gitlab-Event-UUID": "GitLab: delivery id.",
    "Idempotency-Key": "GitLab: stable across retries of one delivery.",
    "webhook-id": "GitLab signing token (Standard Webhooks): message id.",
    "webhook-timestamp": "GitLab signing token (Standard Webhooks): Unix seconds.",
    "webhook-signature": (
        "GitLab signing token (Standard Webhooks): v1,<base64 HMAC>; required when the hook "
        "has a signing token."
    ),
    "X-Event-Key": "Bitbucket: event key (repo:push, pullrequest:created).",
    "X-Request-UUID": "Bitbucket: delivery id.",
    "X-Hook-UUID": "Bitbucket: the hook's UUID.",
    "X-Hub-Signature": "Bitbucket: sha256=HMAC of the body with the webhook secret.",
}
WEBHOOK_BODY: dict[str, Any] = {
    "description": "The provider's event payload, exactly as signed.",
    "required": True,
    "content": {
        APPLICATION_JSON: {"schema": {"type": "object"}},
        # GitHub's form encoding: the JSON object in a `payload` field.
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "properties": {
                    "payload": {
                        "type": "string",
                        "description": "The event's JSON object, as GitHub form-encodes it.",
                    }
                },
                "required": ["payload"],
            }
        },
    },
}


def webhook_headers() -> list[dict[str, Any]]:
    """The providers' delivery headers, as optional header parameters."""
    return [
        {
            "name": name,
            "in": "header",
            "required": False,
            "description": description,
            "schema": {"type": "string"},
        }
        for name, description in WEBHOOK_HEADERS.items()
    ]
