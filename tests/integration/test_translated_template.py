"""What SAM deploys: the translated template's function roles against docs/security.md's
"IAM per function" table (tests/support/translated_template.py). A policy broadened in
template.yaml — or by a SAM upgrade adding a managed policy — fails here until the documented
table says so."""

from __future__ import annotations

import json

import pytest
from repoconn_core.storage.schema import DELIVERY_LOG_ATTRIBUTES, LAST_DELIVERY_ATTRIBUTES

from tests.support.translated_template import (
    ROOT,
    documented_rows,
    policy_rows,
    translated_template,
)

SECURITY_DOC = ROOT / "docs" / "security.md"


def test_every_function_role_is_exactly_the_documented_iam_table() -> None:
    # given the template as SAM translates it, and the table in docs/security.md
    deployed = policy_rows(translated_template())
    documented = documented_rows(SECURITY_DOC.read_text(encoding="utf-8"))
    # then every deployed permission is documented, and nothing documented is missing
    assert deployed - documented == set(), "deployed but not in docs/security.md"
    assert documented - deployed == set(), "in docs/security.md but not deployed"
    print(f"IAM table: {len(deployed)} rows over {len({row[0] for row in deployed})} functions")


def test_the_public_receiver_writes_only_delivery_records_and_delivery_logs() -> None:
    # given the receiver's statements as deployed
    rows = policy_rows(translated_template())
    receiver = {row for row in rows if row[0] == "WebhookReceiverFunction"}
    # then its writes are PutItem only on delivery#… partition keys, and UpdateItem only on
    # deliveries#… (a duplicate's log entry), of the log's attributes, nothing asked back
    writes = {
        row for row in receiver if row[1].startswith("dynamodb:") and row[1] != "dynamodb:GetItem"
    }
    assert writes == {
        (
            "WebhookReceiverFunction",
            "dynamodb:PutItem",
            "ConnectionsTable",
            json.dumps({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["delivery#*"]}}),
        ),
        (
            "WebhookReceiverFunction",
            "dynamodb:UpdateItem",
            "ConnectionsTable",
            json.dumps(
                {
                    "ForAllValues:StringEquals": {
                        "dynamodb:Attributes": list(DELIVERY_LOG_ATTRIBUTES)
                    },
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["deliveries#*"]},
                    "StringEqualsIfExists": {"dynamodb:ReturnValues": ["NONE"]},
                },
                sort_keys=True,
            ),
        ),
    }


@pytest.mark.parametrize(
    ("function", "attributes"),
    [
        ("GetConnectionFunction", LAST_DELIVERY_ATTRIBUTES),
        ("ListDeliveriesFunction", DELIVERY_LOG_ATTRIBUTES),
    ],
)
def test_the_read_functions_read_only_delivery_logs_besides_the_index(
    function: str, attributes: tuple[str, ...]
) -> None:
    # given the read function's statements as deployed
    rows = {row for row in policy_rows(translated_template()) if row[0] == function}
    dynamodb = {row for row in rows if row[1].startswith("dynamodb:")}
    # then a Query of the index, and a projected GetItem on deliveries#… keys: never an item
    # with ciphertext
    assert dynamodb == {
        (function, "dynamodb:Query", "ConnectionsTable/index/projectId-index", ""),
        (
            function,
            "dynamodb:GetItem",
            "ConnectionsTable",
            json.dumps(
                {
                    "ForAllValues:StringEquals": {"dynamodb:Attributes": list(attributes)},
                    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["deliveries#*"]},
                    "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
                },
                sort_keys=True,
            ),
        ),
    }


def test_the_receiver_may_unwrap_only_webhook_secret_data_keys() -> None:
    # given the receiver's KMS statement as deployed
    [kms] = [
        row
        for row in policy_rows(translated_template())
        if row[0] == "WebhookReceiverFunction" and row[1].startswith("kms:")
    ]
    condition = json.loads(kms[3])
    # then it is Decrypt only, and a context naming another field (the access token) is out
    assert kms[1] == "kms:Decrypt"
    assert condition["StringEqualsIfExists"] == {
        "kms:EncryptionContext:field": ["webhookSecret", "previousWebhookSecret"]
    }
    assert set(condition["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"]) == {
        "projectId",
        "repositoryUrl",
        "field",
    }


def test_the_relay_reads_only_this_tables_stream() -> None:
    # given the relay's permissions as deployed
    relay = {
        row for row in policy_rows(translated_template()) if row[0] == "PublishDeliveriesFunction"
    }
    # then no managed policy reads streams account-wide, and its stream actions name this
    # table's streams
    managed = {row[2] for row in relay if row[1] == "managed policy"}
    assert "AWSLambdaDynamoDBExecutionRole" not in managed
    streams = {
        (row[1], row[2])
        for row in relay
        if row[1].startswith("dynamodb:")
        and row[1] not in ("dynamodb:BatchGetItem", "dynamodb:UpdateItem")
    }
    assert streams == {
        (action, "ConnectionsTable/stream/*")
        for action in (
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
        )
    }


def test_the_receivers_reads_are_limited_to_the_attributes_it_projects() -> None:
    from repoconn_core.storage.schema import (
        CONNECTION_POINTER_ATTRIBUTES,
        DELIVERY_READBACK_ATTRIBUTES,
        PENDING_SECRET_ATTRIBUTES,
        WEBHOOK_ITEM_ATTRIBUTES,
    )

    # given the receiver's GetItem statement as deployed
    [read] = [
        row
        for row in policy_rows(translated_template())
        if row[0] == "WebhookReceiverFunction" and row[1] == "dynamodb:GetItem"
    ]
    condition = json.loads(read[3])
    # then it allows exactly the attributes the code projects, never the access token, and
    # no request without a projection
    allowed = condition["ForAllValues:StringEquals"]["dynamodb:Attributes"]
    projected = {
        *WEBHOOK_ITEM_ATTRIBUTES,
        *CONNECTION_POINTER_ATTRIBUTES,
        *DELIVERY_READBACK_ATTRIBUTES,
        *PENDING_SECRET_ATTRIBUTES,
    }
    assert set(allowed) == projected
    assert "accessToken" not in allowed
    assert condition["StringEqualsIfExists"] == {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}
