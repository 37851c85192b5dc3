"""Envelope encryption of a connection's secrets: the only module that talks to KMS.

One ``GenerateDataKey`` per write gives a fresh AES-256 data key, wrapped by the customer
managed key under an encryption context of ``projectId`` + ``repositoryUrl``. Each secret
field is sealed with AES-256-GCM under that data key, with a fresh 12-byte nonce and
additional authenticated data (AAD) binding format version, key id, projectId,
repositoryUrl and the field name. So a blob copied to another item fails at KMS (the
encryption context no longer matches), and a blob copied to another field of the same item
fails at GCM (the AAD no longer matches).

Stored blob, version 1 (all lengths big-endian unsigned 16-bit)::

    0x01 | len(key id) | key id (UTF-8 ARN) | len(wrapped key) | wrapped key | nonce (12) |
    ciphertext + GCM tag (16)

The key id is the ARN KMS reports for the data key, so decryption keeps working after the
alias moves to another key, and a later format can be told apart by its first byte.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from repoconn_core.errors import DependencyUnavailable, DomainError, StoredSecretUnreadable

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

FORMAT_VERSION = 0x01
NONCE_BYTES = 12
TAG_BYTES = 16
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")

# KMS says the ciphertext or its context is wrong: the stored data is at fault, retrying
# cannot help. https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html#API_Decrypt_Errors
_UNREADABLE_KMS_CODES = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})
_THROTTLED_KMS_CODES = frozenset({"ThrottlingException", "LimitExceededException"})
THROTTLED_RETRY_AFTER = 2
UNAVAILABLE_RETRY_AFTER = 10


@dataclass(frozen=True)
class _Envelope:
    key_id: str
    wrapped_key: bytes
    nonce: bytes
    sealed: bytes  # ciphertext + tag


class SecretCipher:
    """Seals and opens the secret fields of one connection item."""

    def __init__(self, kms_client: KMSClient, key_id: str) -> None:
        self._kms = kms_client
        self._key_id = key_id

    def __repr__(self) -> str:
        return f"SecretCipher(key_id={self._key_id!r})"

    def encrypt_fields(
        self,
        *,
        project_id: str,
        repository_url: str,
        fields: Mapping[str, SecretStr],
    ) -> dict[str, bytes]:
        """Seal every field under one fresh data key (exactly one GenerateDataKey call)."""
        for name, value in fields.items():
            if not isinstance(value, SecretStr):
                # Refuse plain strings: they would be printed by any stray repr upstream.
                raise TypeError(f"field {name!r} must be a SecretStr")
        if not fields:
            return {}
        context = _encryption_context(project_id, repository_url)
        try:
            response = self._kms.generate_data_key(
                KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=context
            )
        except (ClientError, BotoCoreError) as error:
            raise _kms_failure(error, field=None) from error
        key_id = response["KeyId"]
        wrapped_key = response["CiphertextBlob"]
        plaintext_key = bytearray(response["Plaintext"])
        del response  # drop our reference to the immutable plaintext copy boto returned
        blobs: dict[str, bytes] = {}
        with _aead(plaintext_key) as aead:
            for name, value in fields.items():
                nonce = os.urandom(NONCE_BYTES)
                aad = _aad(key_id, project_id, repository_url, name)
                sealed = aead.encrypt(nonce, value.get_secret_value().encode("utf-8"), aad)
                blobs[name] = _encode(_Envelope(key_id, wrapped_key, nonce, sealed))
        return blobs

    def decrypt_fields(
        self,
        blobs: Mapping[str, bytes],
        *,
        project_id: str,
        repository_url: str,
    ) -> dict[str, SecretStr]:
        """Open every field; blobs sharing a wrapped key cost one KMS Decrypt together."""
        envelopes = {name: _decode(blob, field=name) for name, blob in blobs.items()}
        # Cache plaintext data keys by (key id, wrapped key) only for the length of this call.
        data_keys: dict[tuple[str, bytes], bytearray] = {}
        try:
            secrets: dict[str, SecretStr] = {}
            for name, envelope in envelopes.items():
                cache_key = (envelope.key_id, envelope.wrapped_key)
                if cache_key not in data_keys:
                    data_keys[cache_key] = self._unwrap(
                        envelope, project_id, repository_url, field=name
                    )
                secrets[name] = _open(
                    data_keys[cache_key], envelope, project_id, repository_url, name
                )
            return secrets
        finally:
            for data_key in data_keys.values():
                _zero(data_key)

    def decrypt_field(
        self, blob: bytes, *, project_id: str, repository_url: str, field: str
    ) -> SecretStr:
        """Open one field (one KMS Decrypt)."""
        return self.decrypt_fields(
            {field: blob}, project_id=project_id, repository_url=repository_url
        )[field]

    def _unwrap(
        self, envelope: _Envelope, project_id: str, repository_url: str, *, field: str
    ) -> bytearray:
        try:
            response = self._kms.decrypt(
                CiphertextBlob=envelope.wrapped_key,
                # Pinning the key id makes KMS refuse a wrapped key from another key.
                KeyId=envelope.key_id,
                EncryptionContext=_encryption_context(project_id, repository_url),
            )
        except (ClientError, BotoCoreError) as error:
            raise _kms_failure(error, field=field) from error
        plaintext_key = bytearray(response["Plaintext"])
        del response
        return plaintext_key


def _encryption_context(project_id: str, repository_url: str) -> dict[str, str]:
    return {"projectId": project_id, "repositoryUrl": repository_url}


def _aad(key_id: str, project_id: str, repository_url: str, field: str) -> bytes:
    # Length-prefixed parts, so ("ab", "c") and ("a", "bc") can never produce the same AAD.
    parts = [bytes([FORMAT_VERSION])]
    for text in (key_id, project_id, repository_url, field):
        raw = text.encode("utf-8")
        parts.append(_U32.pack(len(raw)) + raw)
    return b"".join(parts)


def _encode(envelope: _Envelope) -> bytes:
    key_id = envelope.key_id.encode("utf-8")
    return b"".join(
        (
            bytes([FORMAT_VERSION]),
            _U16.pack(len(key_id)),
            key_id,
            _U16.pack(len(envelope.wrapped_key)),
            envelope.wrapped_key,
            envelope.nonce,
            envelope.sealed,
        )
    )


def _decode(blob: bytes, *, field: str) -> _Envelope:
    unreadable = StoredSecretUnreadable("A stored secret has an unknown format.", field=field)
    view = memoryview(bytes(blob))
    if len(view) < 1 or view[0] != FORMAT_VERSION:
        raise unreadable
    offset = 1
    chunks: list[bytes] = []
    for _ in range(2):  # key id, wrapped key
        if len(view) < offset + _U16.size:
            raise unreadable
        (length,) = _U16.unpack_from(view, offset)
        offset += _U16.size
        if length == 0 or len(view) < offset + length:
            raise unreadable
        chunks.append(bytes(view[offset : offset + length]))
        offset += length
    if len(view) < offset + NONCE_BYTES + TAG_BYTES:
        raise unreadable
    nonce = bytes(view[offset : offset + NONCE_BYTES])
    sealed = bytes(view[offset + NONCE_BYTES :])
    try:
        key_id = chunks[0].decode("utf-8")
    except UnicodeDecodeError:
        raise unreadable from None
    return _Envelope(key_id, chunks[1], nonce, sealed)


def _open(
    data_key: bytearray, envelope: _Envelope, project_id: str, repository_url: str, field: str
) -> SecretStr:
    aad = _aad(envelope.key_id, project_id, repository_url, field)
    with _aead(data_key, zero_after=False) as aead:
        try:
            plaintext = aead.decrypt(envelope.nonce, envelope.sealed, aad)
        except InvalidTag:
            raise StoredSecretUnreadable(
                "A stored secret failed its integrity check.", field=field
            ) from None
    try:
        return SecretStr(plaintext.decode("utf-8"))
    except UnicodeDecodeError:
        raise StoredSecretUnreadable("A stored secret is not text.", field=field) from None


@contextmanager
def _aead(data_key: bytearray, *, zero_after: bool = True) -> Iterator[AESGCM]:
    """An AES-GCM object for the data key; our copy of the key is zeroed afterwards.

    Best effort only: Python gives no guarantee about other copies (boto's response bytes,
    the copy inside OpenSSL), but our own buffer does not outlive the operation.
    """
    aead = AESGCM(data_key)  # copies the key into OpenSSL's context
    try:
        yield aead
    finally:
        if zero_after:
            _zero(data_key)


def _zero(buffer: bytearray) -> None:
    buffer[:] = bytes(len(buffer))


def _kms_failure(error: ClientError | BotoCoreError, *, field: str | None) -> DomainError:
    """Map a KMS failure to a domain error. Messages name the operation, never a value."""
    code = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else ""
    if code in _UNREADABLE_KMS_CODES:
        return StoredSecretUnreadable("A stored secret's data key was refused by KMS.", field=field)
    if code in _THROTTLED_KMS_CODES:
        return DependencyUnavailable("KMS is throttling requests.", THROTTLED_RETRY_AFTER)
    return DependencyUnavailable("KMS is unavailable.", UNAVAILABLE_RETRY_AFTER)
