"""Stored connections as a test writes them straight into a store (or a fake of one): every
field set, the ones the test is about given as ``changes``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from repoconn_core.delivery_events import VerifiedDelivery
from repoconn_core.providers import ServiceType
from repoconn_core.records import StoredConnection


def stored_connection(at: datetime, **changes: Any) -> StoredConnection:
    """p1's GitHub connection to https://github.com/acme/api, active, with placeholder
    ciphertexts, created and last updated ``at``, with ``changes`` on top."""
    values: dict[str, Any] = {
        "id": "c-1",
        "project_id": "p1",
        "repository_url": "https://github.com/acme/api",
        "service_type": ServiceType.GITHUB,
        "access_token": b"sealed-token",
        "webhook_secret": b"sealed-secret",
        "webhook_id": "490000001",
        "is_active": True,
        "last_sync_at": None,
        "created_at": at,
        "updated_at": at,
    }
    return StoredConnection(**{**values, **changes})


def verified_delivery(at: datetime, **changes: Any) -> VerifiedDelivery:
    """A GitHub push to c-1 (p1's https://github.com/acme/api), delivery d-1, verified and
    received ``at``, with ``changes`` on top."""
    values: dict[str, Any] = {
        "connection_id": "c-1",
        "project_id": "p1",
        "repository_url": "https://github.com/acme/api",
        "service_type": ServiceType.GITHUB,
        "event_kind": "push",
        "delivery_id": "d-1",
        "received_at": at,
        "payload": {"ref": "refs/heads/main"},
        "body_bytes": 42,
    }
    return VerifiedDelivery(**{**values, **changes})
