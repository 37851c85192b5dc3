"""Delivery verification and identification rules, table-driven, no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from repoconn_core import providers
from repoconn_providers.signatures import (
    STANDARD_WEBHOOKS,
    delivery_id,
    event_kind,
    gitlab_signing_key,
    gitlab_signing_token,
    gitlab_token,
    identify,
    verify_bitbucket,
    verify_delivery,
    verify_github,
    verify_gitlab,
)
from standardwebhooks.webhooks import Webhook

SECRET = "s3cr3t-Value_of-32-random-bytes-ABCDEFG"
OTHER = "another-secret-entirely-0123456789abcdef"
BODY = b'{"ref":"refs/heads/main","after":"9f2c"}'
NOW = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)


def hex_hmac(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def secrets(*values: str) -> list[SecretStr]:
    return [SecretStr(value) for value in values]


GH = "X-Hub-Signature-256"
HUB = "X-Hub-Signature"
SIG = hex_hmac(SECRET, BODY)
SIG_OTHER = hex_hmac(OTHER, BODY)
SHA1 = "sha1=" + hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()


# GitHub ------------------------------------------------------------------------------------


def test_github_documented_test_vector_verifies() -> None:
    # given GitHub's published example (docs: "Testing the webhook payload validation")
    headers = {
        "X-Hub-Signature-256": (
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        )
    }
    # when it is verified with the documented secret
    verified = verify_github(headers, b"Hello, World!", secrets("It's a Secret to Everybody"))
    # then it passes
    assert verified is True


@pytest.mark.parametrize(
    ("headers", "body", "accepted", "expected"),
    [
        pytest.param({GH: SIG}, BODY, [SECRET], True, id="valid"),
        pytest.param({GH.lower(): SIG}, BODY, [SECRET], True, id="lower-case-name"),
        pytest.param({GH: "sha256=" + SIG[7:].upper()}, BODY, [SECRET], True, id="upper-hex"),
        pytest.param({GH: SIG}, BODY + b" ", [SECRET], False, id="tampered-body"),
        pytest.param({GH: SIG_OTHER}, BODY, [SECRET], False, id="wrong-secret"),
        pytest.param({}, BODY, [SECRET], False, id="missing-header"),
        pytest.param({GH: SIG[7:]}, BODY, [SECRET], False, id="no-sha256-prefix"),
        pytest.param({GH: "sha256="}, BODY, [SECRET], False, id="empty-digest"),
        # GitHub's legacy SHA-1 header alone is not accepted.
        pytest.param({HUB: SHA1}, BODY, [SECRET], False, id="sha1-only"),
        pytest.param({GH: SIG}, BODY, [OTHER, SECRET], True, id="second-secret"),
        pytest.param({GH: SIG}, BODY, [], False, id="no-secrets"),
    ],
)
def test_github_signature_rules(
    headers: dict[str, str], body: bytes, accepted: list[str], expected: bool
) -> None:
    assert verify_github(headers, body, secrets(*accepted)) is expected


# Bitbucket ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "accepted", "expected"),
    [
        pytest.param({HUB: SIG}, BODY, [SECRET], True, id="valid"),
        pytest.param({HUB.lower(): SIG}, BODY, [SECRET], True, id="lower-case-name"),
        pytest.param({HUB: SIG}, BODY.replace(b"main", b"evil"), [SECRET], False, id="tampered"),
        pytest.param({HUB: SIG_OTHER}, BODY, [SECRET], False, id="wrong-secret"),
        pytest.param({}, BODY, [SECRET], False, id="missing-header"),
        # Bitbucket's header is X-Hub-Signature; GitHub's -256 name does not count for it.
        pytest.param({GH: SIG}, BODY, [SECRET], False, id="github-header-name"),
        pytest.param({HUB: SHA1}, BODY, [SECRET], False, id="sha1"),
        pytest.param({HUB: SIG_OTHER}, BODY, [SECRET, OTHER], True, id="previous-secret"),
    ],
)
def test_bitbucket_signature_rules(
    headers: dict[str, str], body: bytes, accepted: list[str], expected: bool
) -> None:
    assert verify_bitbucket(headers, body, secrets(*accepted)) is expected


# GitLab ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "accepted", "expected"),
    [
        pytest.param({"X-Gitlab-Token": SECRET}, [SECRET], True, id="valid"),
        pytest.param({"x-gitlab-token": SECRET}, [SECRET], True, id="lower-case-name"),
        pytest.param({"X-Gitlab-Token": OTHER}, [SECRET], False, id="wrong-secret"),
        pytest.param({"X-Gitlab-Token": SECRET[:-1]}, [SECRET], False, id="prefix-of-secret"),
        pytest.param({"X-Gitlab-Token": SECRET + "x"}, [SECRET], False, id="secret-plus-one"),
        pytest.param({"X-Gitlab-Token": ""}, [SECRET], False, id="empty-token"),
        pytest.param({}, [SECRET], False, id="missing-header"),
        pytest.param({"X-Gitlab-Token": OTHER}, [SECRET, OTHER], True, id="previous-secret"),
    ],
)
def test_gitlab_token_rules(headers: dict[str, str], accepted: list[str], expected: bool) -> None:
    # The token does not depend on the body: any body verifies with a matching token.
    assert verify_gitlab(headers, BODY, secrets(*accepted), now=NOW) is expected


def test_gitlab_derived_token_verifies_without_a_signing_flag() -> None:
    # given a hook registered since issue 16 on an instance without signing tokens: its
    # X-Gitlab-Token is the token derived from the secret
    headers = {"X-Gitlab-Token": gitlab_token(SecretStr(SECRET))}
    # when / then: accepted, as the secret itself is (hooks registered before)
    assert verify_gitlab(headers, BODY, secrets(SECRET), now=NOW) is True
    assert verify_gitlab(headers, BODY, secrets(OTHER), now=NOW) is False


def test_gitlab_without_a_signing_flag_ignores_a_signature_header() -> None:
    # given a token-only connection and a delivery whose signature no key of ours made
    headers = {"X-Gitlab-Token": SECRET, "webhook-signature": "v1,bm90LW91cnM="}
    # when / then: the token decides
    assert verify_gitlab(headers, BODY, secrets(SECRET), now=NOW) is True


# GitLab with a signing token (Standard Webhooks) ---------------------------------------------

SIGNING = STANDARD_WEBHOOKS
KEY = gitlab_signing_key(SecretStr(SECRET))
WHSEC = gitlab_signing_token(SecretStr(SECRET))
TOKEN = gitlab_token(SecretStr(SECRET))


def test_gitlab_derived_values_are_distinct_and_well_formed() -> None:
    # given the webhook secret's derived token and signing token
    # then: a 32-byte key as whsec_ + base64, a 43-character URL-safe token, none of them
    # the secret or each other, and deterministic
    assert len(KEY) == 32
    assert "whsec_" + base64.b64encode(KEY).decode() == WHSEC
    assert len(TOKEN) == 43 and TOKEN.replace("-", "").replace("_", "").isalnum()
    assert len({SECRET, TOKEN, WHSEC, KEY.decode("latin-1")}) == 4
    assert gitlab_token(SecretStr(SECRET)) == TOKEN
    assert gitlab_signing_key(SecretStr(OTHER)) != KEY


def test_gitlab_derivation_is_pinned() -> None:
    # Registered hooks hold these values: a changed label would break every one of them.
    label = b"repository-connections gitlab signing-key v1"
    assert hmac.new(SECRET.encode(), label, hashlib.sha256).digest() == KEY
    raw = hmac.new(SECRET.encode(), b"repository-connections gitlab token v1", hashlib.sha256)
    assert base64.urlsafe_b64encode(raw.digest()).decode().rstrip("=") == TOKEN


def test_the_core_and_the_verifier_name_standard_webhooks_alike() -> None:
    assert STANDARD_WEBHOOKS == providers.STANDARD_WEBHOOKS


def gitlab_signed(
    *,
    token: str = TOKEN,
    key: bytes = KEY,
    timestamp: int | None = None,
    body: bytes = BODY,
    message_id: str = "0b0c1e2f-delivery",
) -> dict[str, str]:
    stamp = int(NOW.timestamp()) if timestamp is None else timestamp
    return {
        "X-Gitlab-Token": token,
        "webhook-id": message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": standard_signature(key, message_id, stamp, body),
    }


def test_gitlab_signed_delivery_verifies() -> None:
    assert verify_gitlab(gitlab_signed(), BODY, secrets(SECRET), now=NOW, signing=SIGNING)


def test_gitlab_signature_by_the_reference_library_verifies() -> None:
    # given a delivery signed by Standard Webhooks' reference implementation with the signing
    # token we register
    signature = Webhook(WHSEC).sign("msg-1", NOW, BODY.decode())
    headers = {
        "X-Gitlab-Token": TOKEN,
        "webhook-id": "msg-1",
        "webhook-timestamp": str(int(NOW.timestamp())),
        "webhook-signature": signature,
    }
    # when / then
    assert verify_gitlab(headers, BODY, secrets(SECRET), now=NOW, signing=SIGNING) is True


def test_gitlab_signature_header_names_are_case_insensitive() -> None:
    headers = {name.upper(): value for name, value in gitlab_signed().items()}
    assert verify_gitlab(headers, BODY, secrets(SECRET), now=NOW, signing=SIGNING) is True


FORGED = "v1," + base64.b64encode(b"x" * 32).decode()
SIGNED_V1 = gitlab_signed()["webhook-signature"]


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param({**gitlab_signed(), "webhook-signature": FORGED}, BODY, id="wrong-signature"),
        pytest.param(gitlab_signed(key=b"k" * 32), BODY, id="wrong-key"),
        # The bug of issue 16: a signature keyed with the X-Gitlab-Token's raw bytes.
        pytest.param(gitlab_signed(key=TOKEN.encode()), BODY, id="keyed-with-the-token"),
        pytest.param(gitlab_signed(key=SECRET.encode()), BODY, id="keyed-with-the-secret"),
        pytest.param(gitlab_signed(key=WHSEC.encode()), BODY, id="keyed-with-whsec-text"),
        pytest.param(gitlab_signed(), BODY + b"\n", id="tampered-body"),
        pytest.param({**gitlab_signed(), "webhook-id": "another-id"}, BODY, id="other-id"),
        pytest.param({**gitlab_signed(), "webhook-id": ""}, BODY, id="empty-id"),
        pytest.param({**gitlab_signed(), "webhook-timestamp": "soon"}, BODY, id="bad-timestamp"),
        pytest.param(
            {**gitlab_signed(), "webhook-signature": "v2," + SIGNED_V1[3:]},
            BODY,
            id="unknown-version",
        ),
        pytest.param(gitlab_signed(token=OTHER), BODY, id="signature-ok-token-wrong"),
        # The token must be the derived one: the secret itself is what older hooks send.
        pytest.param(gitlab_signed(token=SECRET), BODY, id="signature-ok-token-is-secret"),
        pytest.param({"X-Gitlab-Token": TOKEN}, BODY, id="token-without-signature"),
        pytest.param({"X-Gitlab-Token": SECRET}, BODY, id="secret-without-signature"),
        pytest.param(
            {k: v for k, v in gitlab_signed().items() if k != "webhook-timestamp"},
            BODY,
            id="missing-timestamp",
        ),
        pytest.param(
            {k: v for k, v in gitlab_signed().items() if k != "webhook-id"},
            BODY,
            id="missing-id",
        ),
        pytest.param(
            {k: v for k, v in gitlab_signed().items() if k != "X-Gitlab-Token"},
            BODY,
            id="missing-token",
        ),
    ],
)
def test_gitlab_signing_refusals(headers: dict[str, str], body: bytes) -> None:
    assert verify_gitlab(headers, body, secrets(SECRET), now=NOW, signing=SIGNING) is False


@pytest.mark.parametrize(
    ("offset_seconds", "expected"),
    [(-300, True), (300, True), (-301, False), (301, False), (-3600, False), (86400, False)],
)
def test_gitlab_signature_timestamp_must_be_within_five_minutes(
    offset_seconds: int, expected: bool
) -> None:
    # given a delivery signed offset_seconds away from the receiver's clock
    stamp = int((NOW + timedelta(seconds=offset_seconds)).timestamp())
    headers = gitlab_signed(timestamp=stamp)
    # when / then: the Standard Webhooks tolerance is 5 minutes either way
    assert verify_gitlab(headers, BODY, secrets(SECRET), now=NOW, signing=SIGNING) is expected


def test_gitlab_one_valid_signature_among_several_verifies() -> None:
    # given a sender rotating keys: a v2, a foreign v1 and ours, space-separated
    headers = gitlab_signed()
    bogus = "v1," + base64.b64encode(b"y" * 32).decode()
    headers["webhook-signature"] = f"v2,abc {bogus} {headers['webhook-signature']}"
    # when / then
    assert verify_gitlab(headers, BODY, secrets(SECRET), now=NOW, signing=SIGNING) is True


def test_gitlab_previous_secret_signs_and_tokens_inside_its_grace_window() -> None:
    # given a delivery still signed with the previous secret's derived values
    old = SecretStr(OTHER)
    headers = gitlab_signed(token=gitlab_token(old), key=gitlab_signing_key(old))
    # when / then: accepted while the previous secret is among the accepted ones
    assert verify_gitlab(headers, BODY, secrets(SECRET, OTHER), now=NOW, signing=SIGNING)
    assert not verify_gitlab(headers, BODY, secrets(SECRET), now=NOW, signing=SIGNING)


def test_gitlab_token_and_signature_must_come_from_the_same_secret() -> None:
    # given the token of one accepted secret and a signature keyed from the other
    headers = gitlab_signed(token=gitlab_token(SecretStr(OTHER)))
    # when / then: neither secret verifies both, so the delivery is refused
    assert not verify_gitlab(headers, BODY, secrets(SECRET, OTHER), now=NOW, signing=SIGNING)


def test_verify_delivery_passes_the_signing_flag_to_gitlab() -> None:
    token_only = {"X-Gitlab-Token": TOKEN}
    assert verify_delivery("GitLab", token_only, BODY, secrets(SECRET), NOW) is True
    assert verify_delivery("GitLab", token_only, BODY, secrets(SECRET), NOW, SIGNING) is False
    assert verify_delivery("GitLab", gitlab_signed(), BODY, secrets(SECRET), NOW, SIGNING)


# Dispatch ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service_type", "headers", "expected"),
    [
        ("GitHub", {"X-Hub-Signature-256": hex_hmac(SECRET, BODY)}, True),
        ("GitHub", {"X-Hub-Signature": hex_hmac(SECRET, BODY)}, False),
        ("GitLab", {"X-Gitlab-Token": SECRET}, True),
        ("GitLab", {"X-Hub-Signature-256": hex_hmac(SECRET, BODY)}, False),
        ("Bitbucket", {"X-Hub-Signature": hex_hmac(SECRET, BODY)}, True),
        ("Bitbucket", {"X-Gitlab-Token": SECRET}, False),
        ("Gitea", {"X-Hub-Signature-256": hex_hmac(SECRET, BODY)}, False),
    ],
)
def test_verify_delivery_uses_the_providers_own_rule(
    service_type: str, headers: dict[str, str], expected: bool
) -> None:
    assert verify_delivery(service_type, headers, BODY, secrets(SECRET), NOW) is expected


def test_verify_delivery_without_secrets_refuses() -> None:
    assert verify_delivery("GitLab", {"X-Gitlab-Token": ""}, BODY, [], NOW) is False


# Identification ----------------------------------------------------------------------------

BODY_HASH = "sha256-" + hashlib.sha256(BODY).hexdigest()
GUID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


@pytest.mark.parametrize(
    ("service_type", "headers", "expected"),
    [
        ("GitHub", {"X-GitHub-Delivery": GUID}, GUID),
        ("GitHub", {"x-github-delivery": "72d3162e"}, "72d3162e"),
        ("GitLab", {"Idempotency-Key": "idem-1", "X-Gitlab-Event-UUID": "event-1"}, "idem-1"),
        ("GitLab", {"X-Gitlab-Event-UUID": "event-1"}, "event-1"),
        ("GitLab", {"Idempotency-Key": "  ", "X-Gitlab-Event-UUID": "event-1"}, "event-1"),
        ("Bitbucket", {"X-Request-UUID": "{" + GUID + "}"}, "{" + GUID + "}"),
        # Another provider's header does not count.
        ("Bitbucket", {"X-GitHub-Delivery": "72d3162e"}, BODY_HASH),
        ("GitHub", {}, BODY_HASH),
        ("GitLab", {}, BODY_HASH),
    ],
)
def test_delivery_id_rules(service_type: str, headers: dict[str, str], expected: str) -> None:
    assert delivery_id(service_type, headers, BODY) == expected


def test_delivery_id_that_is_not_a_plain_token_is_hashed() -> None:
    # given an id with characters a key should not carry, and one far too long
    odd, long = "a#b c", "x" * 500
    # when / then: both are replaced by their SHA-256, deterministically
    assert delivery_id("GitHub", {"X-GitHub-Delivery": odd}, BODY) == (
        "sha256-" + hashlib.sha256(odd.encode()).hexdigest()
    )
    assert delivery_id("GitHub", {"X-GitHub-Delivery": long}, BODY) == (
        "sha256-" + hashlib.sha256(long.encode()).hexdigest()
    )


@pytest.mark.parametrize(
    ("service_type", "headers", "expected"),
    [
        ("GitHub", {"X-GitHub-Event": "push"}, "push"),
        ("GitHub", {"x-github-event": "pull_request"}, "pull_request"),
        ("GitLab", {"X-Gitlab-Event": "Push Hook"}, "push"),
        ("GitLab", {"X-Gitlab-Event": "Merge Request Hook"}, "merge_request"),
        ("Bitbucket", {"X-Event-Key": "repo:push"}, "repo:push"),
        ("Bitbucket", {"X-Event-Key": "pullrequest:created"}, "pullrequest:created"),
        ("GitHub", {}, "unknown"),
        ("GitHub", {"X-GitHub-Event": "we ird/<kind>"}, "we_ird_kind"),
    ],
)
def test_event_kind_rules(service_type: str, headers: dict[str, str], expected: str) -> None:
    assert event_kind(service_type, headers) == expected


def test_identify_returns_delivery_id_and_event_kind() -> None:
    headers = {"X-Event-Key": "repo:push", "X-Request-UUID": "req-1"}
    assert identify("Bitbucket", headers, BODY) == ("req-1", "repo:push")
