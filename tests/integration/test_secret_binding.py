"""Each stored secret opens only as itself (issue 14): per-field data keys, the previous
webhook secret under its own field with its expiry and the write generation in its binding.

Connections are made and re-made through the deployed handlers (moto KMS enforces the
encryption context); the item is then changed the way a table writer without KMS could, and
opened the way the service opens it (ConnectionSecrets) or delivered to the real receiver.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from repoconn_core import wiring
from repoconn_core.connection_secrets import ConnectionSecrets
from repoconn_core.errors import StoredSecretUnreadable
from repoconn_core.records import StoredConnection

from tests.support.api import Api, given_connected
from tests.support.deliveries import signed
from tests.support.handlers import deliver_to_receiver
from tests.support.simulator_control import SimulatorControl

REPOSITORY = "https://github.com/acme/binding"
OTHER_REPOSITORY = "https://github.com/acme/binding-other"
TOKEN = "tok-good-binding-0123456789"


@pytest.fixture
def secrets(api: Api) -> ConnectionSecrets:
    return ConnectionSecrets(wiring.secret_cipher())


@pytest.fixture
def rotated(api: Api, sim_control: SimulatorControl) -> Iterator[dict[str, Any]]:
    """REPOSITORY connected, then connected again (the first secret rotated out), with the
    item before and after and both secrets."""
    store = wiring.connection_store()
    info = given_connected(api, REPOSITORY, token=TOKEN)
    first = store.get(REPOSITORY)
    old_secret = str(sim_control.hook_of(info["id"])["secret"])
    given_connected(api, REPOSITORY, token=TOKEN, expect=200)
    second = store.get(REPOSITORY)
    assert first is not None and second is not None
    yield {
        "id": info["id"],
        "first": first,
        "second": second,
        "old_secret": old_secret,
        "new_secret": str(sim_control.hook_of(info["id"])["secret"]),
    }


def _save(stored: StoredConnection, replacing: StoredConnection) -> None:
    wiring.connection_store().save(stored, replacing=replacing)
    wiring.reset()  # a fresh receiver container: nothing cached


def _deliver(connection_id: str, secret: str) -> int:
    delivery = signed("GitHub", secret)
    return deliver_to_receiver(connection_id, delivery.headers, delivery.body).status


def test_a_rotation_seals_the_previous_secret_under_its_own_field_and_generation(
    rotated: dict[str, Any], secrets: ConnectionSecrets
) -> None:
    second: StoredConnection = rotated["second"]
    # then the new write is generation 2, its previous secret is the old one, readable inside
    # its grace window, and both deliveries verify
    assert (rotated["first"].secret_generation, second.secret_generation) == (1, 2)
    opened = secrets.webhook_secrets(second, datetime.now(UTC))
    assert opened.current.get_secret_value() == rotated["new_secret"]
    assert opened.previous is not None
    assert opened.previous.get_secret_value() == rotated["old_secret"]
    assert _deliver(rotated["id"], rotated["old_secret"]) == 202
    assert _deliver(rotated["id"], rotated["new_secret"]) == 202


@pytest.mark.parametrize(
    "source",
    ["the previous secret of this write", "the current secret of the write before"],
)
def test_another_webhook_secret_blob_in_the_current_field_does_not_open(
    rotated: dict[str, Any], secrets: ConnectionSecrets, source: str
) -> None:
    # given webhookSecret overwritten by a table writer with a blob that once held the old
    # secret: this write's previousWebhookSecret, or the first write's webhookSecret
    first, second = rotated["first"], rotated["second"]
    blob = (
        second.previous_webhook_secret
        if source.startswith("the previous")
        else first.webhook_secret
    )
    changed = replace(second, webhook_secret=blob)
    # then it does not open (another field, or another generation)
    with pytest.raises(StoredSecretUnreadable):
        secrets.webhook_secret(changed)
    # and the receiver refuses every delivery (a stored secret it cannot read: 500, logged)
    # rather than accept the old secret
    _save(changed, second)
    assert _deliver(rotated["id"], rotated["old_secret"]) == 500


def test_an_expiry_pushed_out_makes_the_previous_secret_worthless(
    rotated: dict[str, Any], secrets: ConnectionSecrets
) -> None:
    # given the previous secret's expiry pushed to 2099 by a table writer
    second: StoredConnection = rotated["second"]
    extended = replace(second, previous_secret_expires_at=datetime(2099, 1, 1, tzinfo=UTC))
    # then it is not accepted (its binding names the real expiry), the current one still is
    assert secrets.webhook_secrets(extended, datetime.now(UTC)).previous is None
    _save(extended, second)
    assert _deliver(rotated["id"], rotated["old_secret"]) == 401
    assert _deliver(rotated["id"], rotated["new_secret"]) == 202


def test_after_its_real_expiry_the_previous_secret_is_refused(
    rotated: dict[str, Any], secrets: ConnectionSecrets
) -> None:
    second: StoredConnection = rotated["second"]
    assert second.previous_secret_expires_at is not None
    later = second.previous_secret_expires_at + timedelta(seconds=1)
    assert secrets.webhook_secrets(second, later).previous is None


def test_a_blob_moved_to_another_item_does_not_open(
    api: Api, rotated: dict[str, Any], secrets: ConnectionSecrets
) -> None:
    given_connected(api, OTHER_REPOSITORY, project="p2", token=TOKEN)
    other = wiring.connection_store().get(OTHER_REPOSITORY)
    assert other is not None
    for field in ("access_token", "webhook_secret"):
        moved = replace(other, **{field: getattr(rotated["second"], field)})
        with pytest.raises(StoredSecretUnreadable):
            (secrets.token if field == "access_token" else secrets.webhook_secret)(moved)


def test_the_receiver_verifies_with_a_kms_that_refuses_the_access_token(
    rotated: dict[str, Any],
) -> None:
    # given KMS answering AccessDenied for any Decrypt of the accessToken field (the receiver's
    # IAM condition in AWS), on every client the handlers build
    asked: list[str] = []

    def receiver_policy(params: dict[str, Any], **_: Any) -> None:
        field = params.get("EncryptionContext", {}).get("field")
        asked.append(str(field))
        if field not in ("webhookSecret", "previousWebhookSecret"):
            raise PermissionError("AccessDenied")

    events = boto3._get_default_session().events
    events.register("provide-client-params.kms.Decrypt", receiver_policy)
    wiring.reset()
    try:
        # when deliveries signed with the current and the previous secret arrive
        statuses = [
            _deliver(rotated["id"], rotated["new_secret"]),
            _deliver(rotated["id"], rotated["old_secret"]),
        ]
    finally:
        events.unregister("provide-client-params.kms.Decrypt", receiver_policy)
    # then both verify, and the receiver never asked for the token's data key
    assert statuses == [202, 202]
    assert set(asked) == {"webhookSecret", "previousWebhookSecret"}


def test_the_receiver_never_reads_the_access_token_attribute(
    rotated: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given every DynamoDB request pynamodb sends, recorded
    from pynamodb.connection.base import Connection

    sent: list[tuple[str, dict[str, Any]]] = []
    original = Connection.dispatch

    def recording(self: Connection, operation: str, kwargs: dict[str, Any]) -> Any:
        sent.append((operation, dict(kwargs)))
        return original(self, operation, kwargs)

    monkeypatch.setattr(Connection, "dispatch", recording)
    wiring.reset()  # a cold receiver: pointer and item are both read
    # when deliveries arrive (the first one cold)
    assert _deliver(rotated["id"], rotated["new_secret"]) == 202
    assert _deliver(rotated["id"], rotated["old_secret"]) == 202
    # then every GetItem projects, and no projection names the access token
    reads = [kwargs for operation, kwargs in sent if operation == "GetItem"]
    assert len(reads) >= 2
    for kwargs in reads:
        assert "ProjectionExpression" in kwargs
        names = set(kwargs.get("ExpressionAttributeNames", {}).values())
        assert names and "accessToken" not in names
