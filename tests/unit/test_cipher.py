"""SecretCipher against a moto KMS key (which enforces the encryption context): envelope
format 2 (a data key per field), format-1 blobs still readable, call counts, binding,
failures."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from botocore.stub import Stubber
from pydantic import SecretStr
from repoconn_core.cipher import FORMAT_VERSION, NONCE_BYTES, SecretCipher
from repoconn_core.errors import DependencyUnavailable, StoredSecretUnreadable

from tests.support.legacy_format import format_1_blobs

PROJECT = "project-1"
REPOSITORY = "https://github.com/acme/widgets"
TOKEN = "ghp_exampleTokenValue0123456789abcdef"
WEBHOOK_SECRET = "c2VjcmV0LXdlYmhvb2stdmFsdWUtMzItYnl0ZXM"


def _encrypt(cipher: SecretCipher, **overrides: Any) -> dict[str, bytes]:
    arguments: dict[str, Any] = {
        "project_id": PROJECT,
        "repository_url": REPOSITORY,
        "fields": {"accessToken": SecretStr(TOKEN), "webhookSecret": SecretStr(WEBHOOK_SECRET)},
    }
    arguments.update(overrides)
    return cipher.encrypt_fields(**arguments)


def _parse(blob: bytes) -> tuple[int, str, bytes, bytes, bytes]:
    version = blob[0]
    (key_length,) = struct.unpack_from(">H", blob, 1)
    key_id = blob[3 : 3 + key_length].decode()
    offset = 3 + key_length
    (wrapped_length,) = struct.unpack_from(">H", blob, offset)
    offset += 2
    wrapped = blob[offset : offset + wrapped_length]
    offset += wrapped_length
    return (
        version,
        key_id,
        wrapped,
        blob[offset : offset + NONCE_BYTES],
        blob[offset + NONCE_BYTES :],
    )


def _assert_no_secret_in(error: BaseException) -> None:
    seen: BaseException | None = error
    while seen is not None:
        for text in (str(seen), repr(seen)):
            assert TOKEN not in text
            assert WEBHOOK_SECRET not in text
        seen = seen.__cause__ or seen.__context__


def test_encrypted_fields_decrypt_to_the_original_values(cipher: SecretCipher) -> None:
    # given
    blobs = _encrypt(cipher)

    # when
    secrets = cipher.decrypt_fields(blobs, project_id=PROJECT, repository_url=REPOSITORY)

    # then
    assert {name: value.get_secret_value() for name, value in secrets.items()} == {
        "accessToken": TOKEN,
        "webhookSecret": WEBHOOK_SECRET,
    }


def test_decrypt_field_opens_a_single_field(cipher: SecretCipher) -> None:
    # given
    blobs = _encrypt(cipher)

    # when
    secret = cipher.decrypt_field(
        blobs["webhookSecret"], project_id=PROJECT, repository_url=REPOSITORY, field="webhookSecret"
    )

    # then
    assert secret.get_secret_value() == WEBHOOK_SECRET


def test_encrypt_fields_makes_one_generate_data_key_call_per_field(
    cipher: SecretCipher, kms_calls: list[str]
) -> None:
    # when
    _encrypt(cipher)

    # then
    assert kms_calls == ["GenerateDataKey", "GenerateDataKey"]


def test_decrypt_fields_makes_one_decrypt_call_per_field(
    cipher: SecretCipher, kms_calls: list[str]
) -> None:
    # given
    blobs = _encrypt(cipher)
    kms_calls.clear()

    # when
    cipher.decrypt_fields(blobs, project_id=PROJECT, repository_url=REPOSITORY)

    # then
    assert kms_calls == ["Decrypt", "Decrypt"]


def test_each_data_key_is_bound_to_project_repository_and_field(
    cipher: SecretCipher, kms_client: Any, kms_key_id: str
) -> None:
    # given
    requests: list[dict[str, Any]] = []
    kms_client.meta.events.register(
        "provide-client-params.kms.GenerateDataKey",
        lambda params, **_: requests.append(dict(params)),
    )

    # when
    _encrypt(cipher)

    # then
    assert requests == [
        {
            "KeyId": kms_key_id,
            "KeySpec": "AES_256",
            "EncryptionContext": {
                "projectId": PROJECT,
                "repositoryUrl": REPOSITORY,
                "field": field,
            },
        }
        for field in ("accessToken", "webhookSecret")
    ]


def test_blob_starts_with_version_byte_and_carries_the_key_arn(
    cipher: SecretCipher, kms_client: Any, kms_key_id: str
) -> None:
    # given
    key_arn = kms_client.describe_key(KeyId=kms_key_id)["KeyMetadata"]["Arn"]

    # when
    blobs = _encrypt(cipher)

    # then
    access, webhook = _parse(blobs["accessToken"]), _parse(blobs["webhookSecret"])
    assert blobs["accessToken"][0] == FORMAT_VERSION == 0x02
    assert access[1] == key_arn
    assert webhook[1] == key_arn
    assert access[2] != webhook[2]  # a data key per field: the token's never opens the secret
    assert access[3] != webhook[3]  # a fresh nonce per field
    assert len(access[3]) == 12


def test_the_webhook_secret_opens_with_a_kms_that_refuses_the_token_context(
    cipher: SecretCipher, kms_client: Any, kms_key_id: str
) -> None:
    # given a KMS that refuses any Decrypt whose context names the access token field (what
    # the receiver's IAM condition does in AWS)
    blobs = _encrypt(cipher)
    asked: list[str] = []

    def refuse_token(params: dict[str, Any], **_: Any) -> None:
        field = params["EncryptionContext"].get("field")
        asked.append(field)
        if field != "webhookSecret":
            raise PermissionError("AccessDenied: kms:Decrypt on accessToken")

    kms_client.meta.events.register("provide-client-params.kms.Decrypt", refuse_token)

    # when the webhook secret is opened
    secret = cipher.decrypt_field(
        blobs["webhookSecret"], project_id=PROJECT, repository_url=REPOSITORY, field="webhookSecret"
    )

    # then it opens, and only its own context was asked for
    assert secret.get_secret_value() == WEBHOOK_SECRET
    assert asked == ["webhookSecret"]
    # while the token cannot be opened by that KMS
    with pytest.raises(PermissionError):
        cipher.decrypt_field(
            blobs["accessToken"], project_id=PROJECT, repository_url=REPOSITORY, field="accessToken"
        )


@pytest.mark.parametrize(
    ("sealed_with", "opened_with"),
    [
        ("generation=3", "generation=4"),
        ("generation=3;expires=2026-12-03T14:00:00.000000+00:00",
         "generation=3;expires=2099-12-03T14:00:00.000000+00:00"),
        ("generation=3", ""),
    ],
    ids=["another-write", "expiry-pushed-out", "binding-dropped"],
)  # fmt: skip
def test_a_blob_opens_only_with_the_binding_it_was_sealed_with(
    cipher: SecretCipher, sealed_with: str, opened_with: str
) -> None:
    # given a blob sealed with one binding
    [blob] = cipher.encrypt_fields(
        project_id=PROJECT,
        repository_url=REPOSITORY,
        fields={"previousWebhookSecret": SecretStr(WEBHOOK_SECRET)},
        bindings={"previousWebhookSecret": sealed_with},
    ).values()
    arguments = {"project_id": PROJECT, "repository_url": REPOSITORY}
    # then it opens with that binding and with no other
    assert (
        cipher.decrypt_field(
            blob, **arguments, field="previousWebhookSecret", binding=sealed_with
        ).get_secret_value()
        == WEBHOOK_SECRET
    )
    with pytest.raises(StoredSecretUnreadable):
        cipher.decrypt_field(blob, **arguments, field="previousWebhookSecret", binding=opened_with)
    # nor under another field name (KMS refuses the context)
    with pytest.raises(StoredSecretUnreadable):
        cipher.decrypt_field(blob, **arguments, field="webhookSecret", binding=sealed_with)


def _format_1_blobs(kms_client: Any, kms_key_id: str) -> dict[str, bytes]:
    values = {"accessToken": TOKEN, "webhookSecret": WEBHOOK_SECRET}
    return format_1_blobs(kms_client, kms_key_id, PROJECT, REPOSITORY, values)


def test_format_1_blobs_still_open_with_one_decrypt(
    cipher: SecretCipher, kms_client: Any, kms_key_id: str, kms_calls: list[str]
) -> None:
    # given an item's blobs written in format 1
    blobs = _format_1_blobs(kms_client, kms_key_id)
    kms_calls.clear()
    # when they are opened (with whatever binding the caller passes: format 1 has none)
    secrets = cipher.decrypt_fields(
        blobs,
        project_id=PROJECT,
        repository_url=REPOSITORY,
        bindings={"accessToken": "generation=0", "webhookSecret": "generation=0"},
    )
    # then they read as written, their shared data key unwrapped once
    assert {name: value.get_secret_value() for name, value in secrets.items()} == {
        "accessToken": TOKEN,
        "webhookSecret": WEBHOOK_SECRET,
    }
    assert kms_calls == ["Decrypt"]
    # and a format-1 blob still fails under another field or item
    with pytest.raises(StoredSecretUnreadable):
        cipher.decrypt_field(
            blobs["accessToken"],
            project_id=PROJECT,
            repository_url=REPOSITORY,
            field="webhookSecret",
        )
    with pytest.raises(StoredSecretUnreadable):
        cipher.decrypt_fields(blobs, project_id="project-2", repository_url=REPOSITORY)


def test_blob_contains_no_plaintext_bytes(cipher: SecretCipher) -> None:
    # when
    blobs = _encrypt(cipher)

    # then
    for blob in blobs.values():
        assert TOKEN.encode() not in blob
        assert WEBHOOK_SECRET.encode() not in blob
        assert TOKEN[:8].encode() not in blob


def test_same_value_encrypts_differently_each_time(cipher: SecretCipher) -> None:
    # when
    first, second = _encrypt(cipher), _encrypt(cipher)

    # then
    assert first["accessToken"] != second["accessToken"]


def test_tampered_ciphertext_is_unreadable(cipher: SecretCipher) -> None:
    # given
    blob = bytearray(_encrypt(cipher)["accessToken"])
    blob[-1] ^= 0x01

    # when
    with pytest.raises(StoredSecretUnreadable) as raised:
        cipher.decrypt_field(
            bytes(blob), project_id=PROJECT, repository_url=REPOSITORY, field="accessToken"
        )

    # then
    assert (raised.value.status, raised.value.code, raised.value.field) == (
        500,
        "stored_secret_unreadable",
        "accessToken",
    )
    _assert_no_secret_in(raised.value)


def test_tampered_wrapped_key_is_unreadable(cipher: SecretCipher) -> None:
    # given
    blob = bytearray(_encrypt(cipher)["accessToken"])
    _, key_id, _, _, _ = _parse(bytes(blob))
    blob[1 + 2 + len(key_id) + 2 + 10] ^= 0xFF  # a byte inside the wrapped data key

    # when / then
    with pytest.raises(StoredSecretUnreadable):
        cipher.decrypt_field(
            bytes(blob), project_id=PROJECT, repository_url=REPOSITORY, field="accessToken"
        )


@pytest.mark.parametrize(
    ("project_id", "repository_url"),
    [
        ("project-2", REPOSITORY),
        (PROJECT, "https://github.com/acme/gadgets"),
    ],
    ids=["another-project", "another-repository"],
)
def test_blob_moved_to_another_item_is_unreadable(
    cipher: SecretCipher, project_id: str, repository_url: str
) -> None:
    # given
    blobs = _encrypt(cipher)

    # when
    with pytest.raises(StoredSecretUnreadable) as raised:
        cipher.decrypt_fields(blobs, project_id=project_id, repository_url=repository_url)

    # then
    assert raised.value.code == "stored_secret_unreadable"
    _assert_no_secret_in(raised.value)


def test_blob_moved_to_another_field_is_unreadable(cipher: SecretCipher) -> None:
    # given
    blobs = _encrypt(cipher)

    # when
    with pytest.raises(StoredSecretUnreadable) as raised:
        cipher.decrypt_field(
            blobs["accessToken"],
            project_id=PROJECT,
            repository_url=REPOSITORY,
            field="webhookSecret",
        )

    # then
    assert raised.value.field == "webhookSecret"
    _assert_no_secret_in(raised.value)


def test_swapped_fields_of_one_item_are_unreadable(cipher: SecretCipher) -> None:
    # given
    blobs = _encrypt(cipher)
    swapped = {"accessToken": blobs["webhookSecret"], "webhookSecret": blobs["accessToken"]}

    # when / then
    with pytest.raises(StoredSecretUnreadable):
        cipher.decrypt_fields(swapped, project_id=PROJECT, repository_url=REPOSITORY)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda blob: b"\x03" + blob[1:],
        lambda blob: b"",
        lambda blob: blob[:40],
        lambda blob: blob[:1] + b"\xff\xff" + blob[3:],
    ],
    ids=["unknown-version", "empty", "truncated", "bad-length"],
)
def test_malformed_blob_is_unreadable_without_calling_kms(
    cipher: SecretCipher, kms_calls: list[str], mangle: Any
) -> None:
    # given
    blob = mangle(_encrypt(cipher)["accessToken"])
    kms_calls.clear()

    # when
    with pytest.raises(StoredSecretUnreadable) as raised:
        cipher.decrypt_field(
            blob, project_id=PROJECT, repository_url=REPOSITORY, field="accessToken"
        )

    # then
    assert raised.value.code == "stored_secret_unreadable"
    assert kms_calls == []


def test_kms_throttling_on_encrypt_is_dependency_unavailable(
    cipher: SecretCipher, kms_client: Any
) -> None:
    # given
    with Stubber(kms_client) as stubber:
        stubber.add_client_error("generate_data_key", service_error_code="ThrottlingException")

        # when
        with pytest.raises(DependencyUnavailable) as raised:
            _encrypt(cipher)

    # then
    assert (raised.value.status, raised.value.code) == (503, "dependency_unavailable")
    assert raised.value.headers() == {"Retry-After": "2"}
    _assert_no_secret_in(raised.value)


def test_kms_failure_on_decrypt_is_dependency_unavailable(
    cipher: SecretCipher, kms_client: Any
) -> None:
    # given
    blobs = _encrypt(cipher)
    with Stubber(kms_client) as stubber:
        stubber.add_client_error("decrypt", service_error_code="KMSInternalException")

        # when
        with pytest.raises(DependencyUnavailable) as raised:
            cipher.decrypt_fields(blobs, project_id=PROJECT, repository_url=REPOSITORY)

    # then
    assert (raised.value.status, raised.value.headers()) == (503, {"Retry-After": "10"})


def test_plain_strings_are_refused(cipher: SecretCipher, kms_calls: list[str]) -> None:
    # when
    with pytest.raises(TypeError) as raised:
        _encrypt(cipher, fields={"accessToken": TOKEN})

    # then
    assert TOKEN not in str(raised.value)
    assert kms_calls == []


def test_no_fields_make_no_kms_call(cipher: SecretCipher, kms_calls: list[str]) -> None:
    # when
    blobs = _encrypt(cipher, fields={})

    # then
    assert blobs == {}
    assert kms_calls == []
