"""Envelope encryption of a connection's secrets: the only module that talks to KMS.

Format 2 (written since issue 14): **one data key per secret field**. Each field gets its own
``GenerateDataKey``, wrapped by the customer managed key under an encryption context of
``projectId`` + ``repositoryUrl`` + ``field``, and is sealed with AES-256-GCM under that key,
with a fresh 12-byte nonce and additional authenticated data (AAD) binding format version, key
id, projectId, repositoryUrl, field name and the field's *binding* — a string the caller
chooses (connection_secrets.py: the item's write generation, and for the previous webhook
secret its expiry too). So:

- a blob copied to another item, or to another field, fails at KMS: the context no longer
  matches. Opening the webhook secret never unwraps the key of the access token, and IAM can
  allow one field and not another (``kms:EncryptionContext:field``), which CloudTrail records;
- a blob whose binding changed (an expiry pushed out, a blob from another write) fails at GCM.

Format 1 (written before): one data key per write, its context without ``field``, the AAD
without a binding. Format-1 blobs still open (the first byte tells the formats apart), so items
written before stay readable until re-encrypted.

Stored blob (both formats; lengths big-endian unsigned 16-bit)::

    version | len(key id) | key id (UTF-8 ARN) | len(wrapped key) | wrapped key | nonce (12) |
    ciphertext + GCM tag (16)

The key id is the ARN KMS reports for the data key, so decryption keeps working after the
alias moves to another key.
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

FORMAT_VERSION = 0x02
LEGACY_FORMAT_VERSION = 0x01
_FORMATS = frozenset({FORMAT_VERSION, LEGACY_FORMAT_VERSION})
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
    version: int
    key_id: str
    wrapped_key: bytes
    nonce: bytes
    sealed: bytes  # ciphertext + tag


class SecretCipher:
    """Seals and opens the secret fields of one connection item."""

    def __init__(self, kms_client: KMSClient, key_id: str) -> None:
        self._kms = kms_client
        self._key_id = key_id
        self._current_key_arn: str | None = None

    def __repr__(self) -> str:
        return f"SecretCipher(key_id={self._key_id!r})"

    def encrypt_fields(
        self,
        *,
        project_id: str,
        repository_url: str,
        fields: Mapping[str, SecretStr],
        bindings: Mapping[str, str] | None = None,
    ) -> dict[str, bytes]:
        """Seal each field under a data key of its own (one GenerateDataKey per field), bound
        to the item, the field and ``bindings[field]`` (empty when not given)."""
        for name, value in fields.items():
            if not isinstance(value, SecretStr):
                # Refuse plain strings: they would be printed by any stray repr upstream.
                raise TypeError(f"field {name!r} must be a SecretStr")
        bound = bindings or {}
        blobs: dict[str, bytes] = {}
        for name, value in fields.items():
            context = _encryption_context(project_id, repository_url, name)
            try:
                response = self._kms.generate_data_key(
                    KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=context
                )
            except (ClientError, BotoCoreError) as error:
                raise _kms_failure(error, field=name) from error
            key_id = response["KeyId"]
            wrapped_key = response["CiphertextBlob"]
            plaintext_key = bytearray(response["Plaintext"])
            del response  # drop our reference to the immutable plaintext copy boto returned
            nonce = os.urandom(NONCE_BYTES)
            aad = _aad(
                FORMAT_VERSION, key_id, project_id, repository_url, name, bound.get(name, "")
            )
            with _aead(plaintext_key) as aead:
                sealed = aead.encrypt(nonce, value.get_secret_value().encode("utf-8"), aad)
            blobs[name] = _encode(_Envelope(FORMAT_VERSION, key_id, wrapped_key, nonce, sealed))
        return blobs

    def decrypt_fields(
        self,
        blobs: Mapping[str, bytes],
        *,
        project_id: str,
        repository_url: str,
        bindings: Mapping[str, str] | None = None,
    ) -> dict[str, SecretStr]:
        """Open every field (format 2: one KMS Decrypt each; format-1 blobs sharing a wrapped
        key cost one Decrypt together)."""
        bound = bindings or {}
        envelopes = {name: _decode(blob, field=name) for name, blob in blobs.items()}
        # Cache plaintext data keys by (format, key id, wrapped key) only for this call.
        data_keys: dict[tuple[int, str, bytes], bytearray] = {}
        try:
            secrets: dict[str, SecretStr] = {}
            for name, envelope in envelopes.items():
                cache_key = (envelope.version, envelope.key_id, envelope.wrapped_key)
                if cache_key not in data_keys:
                    data_keys[cache_key] = self._unwrap(
                        envelope, project_id, repository_url, field=name
                    )
                secrets[name] = _open(
                    data_keys[cache_key],
                    envelope,
                    project_id,
                    repository_url,
                    name,
                    bound.get(name, ""),
                )
            return secrets
        finally:
            for data_key in data_keys.values():
                _zero(data_key)

    def is_current(self, blob: bytes) -> bool:
        """Whether ``blob`` is in the current format, under the key the configured key id (an
        alias, say) names now — what re-encryption leaves alone. One DescribeKey per cipher."""
        try:
            envelope = _decode(blob, field="?")
        except StoredSecretUnreadable:
            return False
        if envelope.version != FORMAT_VERSION:
            return False
        if self._current_key_arn is None:
            try:
                metadata = self._kms.describe_key(KeyId=self._key_id)["KeyMetadata"]
            except (ClientError, BotoCoreError) as error:
                raise _kms_failure(error, field=None) from error
            self._current_key_arn = metadata["Arn"]
        return envelope.key_id == self._current_key_arn

    def decrypt_field(
        self, blob: bytes, *, project_id: str, repository_url: str, field: str, binding: str = ""
    ) -> SecretStr:
        """Open one field (one KMS Decrypt)."""
        return self.decrypt_fields(
            {field: blob},
            project_id=project_id,
            repository_url=repository_url,
            bindings={field: binding},
        )[field]

    def _unwrap(
        self, envelope: _Envelope, project_id: str, repository_url: str, *, field: str
    ) -> bytearray:
        try:
            response = self._kms.decrypt(
                CiphertextBlob=envelope.wrapped_key,
                # Pinning the key id makes KMS refuse a wrapped key from another key.
                KeyId=envelope.key_id,
                EncryptionContext=_encryption_context(
                    project_id,
                    repository_url,
                    field if envelope.version == FORMAT_VERSION else None,
                ),
            )
        except (ClientError, BotoCoreError) as error:
            raise _kms_failure(error, field=field) from error
        plaintext_key = bytearray(response["Plaintext"])
        del response
        return plaintext_key


def _encryption_context(project_id: str, repository_url: str, field: str | None) -> dict[str, str]:
    """Format 2 names the field; format 1's context (field None) did not."""
    context = {"projectId": project_id, "repositoryUrl": repository_url}
    if field is not None:
        context["field"] = field
    return context


def _aad(
    version: int, key_id: str, project_id: str, repository_url: str, field: str, binding: str
) -> bytes:
    # Length-prefixed parts, so ("ab", "c") and ("a", "bc") can never produce the same AAD.
    # Format 1 had no binding part.
    texts = [key_id, project_id, repository_url, field]
    if version != LEGACY_FORMAT_VERSION:
        texts.append(binding)
    parts = [bytes([version])]
    for text in texts:
        raw = text.encode("utf-8")
        parts.append(_U32.pack(len(raw)) + raw)
    return b"".join(parts)


def _encode(envelope: _Envelope) -> bytes:
    key_id = envelope.key_id.encode("utf-8")
    return b"".join(
        (
            bytes([envelope.version]),
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
    if len(view) < 1 or view[0] not in _FORMATS:
        raise unreadable
    version = view[0]
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
    return _Envelope(version, key_id, chunks[1], nonce, sealed)


def _open(
    data_key: bytearray,
    envelope: _Envelope,
    project_id: str,
    repository_url: str,
    field: str,
    binding: str,
) -> SecretStr:
    aad = _aad(envelope.version, envelope.key_id, project_id, repository_url, field, binding)
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
