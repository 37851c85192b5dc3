"""Secrets sealed the way the cipher sealed them before issue 14 (format 1): one data key for
the write under a context without ``field``, an AAD without binding - built here from the
format's definition, to show that such items still open and that re-encryption moves them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from repoconn_core.cipher import NONCE_BYTES, _aad, _encode, _Envelope
from repoconn_core.records import StoredConnection

LEGACY = 0x01


def format_1_blobs(
    kms_client: Any, key_id: str, project_id: str, repository_url: str, values: Mapping[str, str]
) -> dict[str, bytes]:
    """``values`` (field → plaintext) sealed in format 1 under one fresh data key."""
    key = kms_client.generate_data_key(
        KeyId=key_id,
        KeySpec="AES_256",
        EncryptionContext={"projectId": project_id, "repositoryUrl": repository_url},
    )
    blobs = {}
    for field, value in values.items():
        nonce = os.urandom(NONCE_BYTES)
        aad = _aad(LEGACY, key["KeyId"], project_id, repository_url, field, "")
        sealed = AESGCM(key["Plaintext"]).encrypt(nonce, value.encode(), aad)
        blobs[field] = _encode(
            _Envelope(LEGACY, key["KeyId"], key["CiphertextBlob"], nonce, sealed)
        )
    return blobs


def as_format_1(
    stored: StoredConnection,
    kms_client: Any,
    key_id: str,
    *,
    token: str,
    webhook_secret: str,
    previous: tuple[str, datetime] | None = None,
) -> StoredConnection:
    """``stored`` with its token and webhook secret sealed in format 1 (generation 0), as an
    item written before issue 14 holds them; ``previous``: a rotated-out secret and its expiry,
    kept as format 1 kept it — the earlier write's ``webhookSecret`` blob, its own data key."""
    blobs = format_1_blobs(
        kms_client,
        key_id,
        stored.project_id,
        stored.repository_url,
        {"accessToken": token, "webhookSecret": webhook_secret},
    )
    old_blob, old_expiry = None, None
    if previous is not None:
        old_secret, old_expiry = previous
        old_blob = format_1_blobs(
            kms_client,
            key_id,
            stored.project_id,
            stored.repository_url,
            {"webhookSecret": old_secret},
        )["webhookSecret"]
    return replace(
        stored,
        access_token=blobs["accessToken"],
        webhook_secret=blobs["webhookSecret"],
        previous_webhook_secret=old_blob,
        previous_secret_expires_at=old_expiry,
        secret_generation=0,
    )
