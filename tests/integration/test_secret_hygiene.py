"""No token or webhook secret in responses, log lines, the stored item or the GSI."""

from __future__ import annotations

import json
import logging

from tests.support.api import Api
from tests.support.simulator_control import SimulatorControl

TOKEN = "ghp_LEAKcanaryTOKEN0123456789"
REPOSITORY = "https://github.com/acme/api"
SECRET_FIELDS = {"accessToken", "webhookSecret", "previousWebhookSecret"}


def test_token_and_secret_never_appear_in_responses_logs_or_items(
    api: Api, sim_control: SimulatorControl, dynamodb_client, connections_table: str, capsys, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    # given an admin connecting (twice, to rotate the secret) and every read route called
    responses = [
        api.connect("p1", REPOSITORY, TOKEN),
        api.connect("p1", REPOSITORY, TOKEN),
        api.read("p1"),
        api.read("p1", "/exists"),
        api.connect("p2", REPOSITORY, TOKEN),
        api.connect("p1", "http://github.com/acme/api", TOKEN),
        api.connect("p1", REPOSITORY, TOKEN + " "),
    ]
    assert [r.status for r in responses] == [201, 200, 200, 200, 409, 422, 422]
    secret = sim_control.hooks()[0]["secret"]
    # when everything observable is collected
    captured = capsys.readouterr()
    logs = (
        captured.out
        + captured.err
        + "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records)
    )
    bodies = "\n".join(r.text + json.dumps(r.headers) for r in responses)
    items = dynamodb_client.scan(TableName=connections_table)["Items"]
    stored = json.dumps(items, default=lambda b: b.hex() if isinstance(b, bytes) else str(b))
    raw_bytes = b"".join(value["B"] for item in items for value in item.values() if "B" in value)
    # then neither value is anywhere
    assert logs, "expected the handlers to log something"
    for needle in (TOKEN, secret):
        assert needle not in logs
        assert needle not in bodies
        assert needle not in stored
        assert needle.encode() not in raw_bytes


def test_gsi_items_carry_no_secret_attribute(
    api: Api, dynamodb_client, connections_table: str
) -> None:
    # given a connection made twice (the second rotates its secret)
    api.connect("p1", REPOSITORY, TOKEN)
    api.connect("p1", REPOSITORY, TOKEN)
    # when the project's index entries are read
    items = dynamodb_client.query(
        TableName=connections_table,
        IndexName="projectId-index",
        KeyConditionExpression="projectId = :p",
        ExpressionAttributeValues={":p": {"S": "p1"}},
    )["Items"]
    # then there is one, without any secret or the hook id
    assert len(items) == 1
    assert not SECRET_FIELDS & set(items[0])
    assert "webhookId" not in items[0]
