"""No token or webhook secret in responses, log lines, the stored item or the GSI."""

from __future__ import annotations

import json
import logging

from tests.integration.conftest import Api, admin, member, sim_hooks

TOKEN = "ghp_LEAKcanaryTOKEN0123456789"
SECRET_FIELDS = {"accessToken", "webhookSecret", "previousWebhookSecret"}


def test_token_and_secret_never_appear_in_responses_logs_or_items(
    api: Api, sim, dynamodb_client, connections_table: str, capsys, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    # given an admin connecting (twice, to rotate the secret) and every read route called
    responses = [
        api.call(
            "PUT",
            "p1",
            body={"repositoryUrl": "https://github.com/acme/api", "accessToken": TOKEN},
            claims=admin("p1"),
        ),
        api.call(
            "PUT",
            "p1",
            body={"repositoryUrl": "https://github.com/acme/api", "accessToken": TOKEN},
            claims=admin("p1"),
        ),
        api.call("GET", "p1", claims=member("p1")),
        api.call("GET", "p1", "/exists", claims=member("p1")),
        api.call(
            "PUT",
            "p2",
            body={"repositoryUrl": "https://github.com/acme/api", "accessToken": TOKEN},
            claims=admin("p2"),
        ),
        api.call(
            "PUT",
            "p1",
            body={"repositoryUrl": "http://github.com/acme/api", "accessToken": TOKEN},
            claims=admin("p1"),
        ),
        api.call(
            "PUT",
            "p1",
            body={"repositoryUrl": "https://github.com/acme/api", "accessToken": TOKEN + " "},
            claims=admin("p1"),
        ),
    ]
    assert [r.status for r in responses] == [201, 200, 200, 200, 409, 422, 422]
    secret = sim_hooks(sim)[0]["secret"]
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
    api.call(
        "PUT",
        "p1",
        body={"repositoryUrl": "https://github.com/acme/api", "accessToken": TOKEN},
        claims=admin("p1"),
    )
    api.call(
        "PUT",
        "p1",
        body={"repositoryUrl": "https://github.com/acme/api", "accessToken": TOKEN},
        claims=admin("p1"),
    )
    items = dynamodb_client.query(
        TableName=connections_table,
        IndexName="projectId-index",
        KeyConditionExpression="projectId = :p",
        ExpressionAttributeValues={":p": {"S": "p1"}},
    )["Items"]
    assert len(items) == 1
    assert not SECRET_FIELDS & set(items[0])
    assert "webhookId" not in items[0]
