"""The two KMS key policies as SAM deploys them (tests/support/key_policy.py evaluates them):
administrators manage, only this stack's function roles use the connections key, only
EventBridge — for this stack's bus — uses the events key; and docs/security.md's "Key
policies" table is exactly what is deployed.

Found by review (issue 14): the connections key had the default root ``kms:*`` policy, so any
principal of the account whose IAM policy allowed ``kms:Decrypt`` on ``*`` could open every
stored token.
"""

from __future__ import annotations

import pytest

from tests.support.key_policy import (
    ACCOUNT,
    BUS_ARN,
    OTHER_ACCOUNT,
    REGION,
    Request,
    allows,
    connection_context,
    documented_key_rows,
    function_role_arn,
    key_policy,
    key_rows,
)
from tests.support.translated_template import ROOT, translated_template

SECURITY_DOC = ROOT / "docs" / "security.md"
USE = ("kms:Decrypt", "kms:GenerateDataKey")
# Everything that reads, writes or hands out key material, directly.
CRYPTOGRAPHIC = (
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:CreateGrant",
)
ADMINISTRATION = ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DescribeKey", "kms:EnableKey")
FUNCTIONS = (
    "UpsertConnectionFunction",
    "DisconnectConnectionFunction",
    "WebhookReceiverFunction",
    "HealthCheckFunction",
    "ReencryptConnectionsFunction",
)
# Principals of the same account that are not this stack's function roles.
OUTSIDERS = (
    f"arn:aws:iam::{ACCOUNT}:role/Administrator",
    f"arn:aws:iam::{ACCOUNT}:user/alice",
    f"arn:aws:iam::{ACCOUNT}:role/repository-connections/repoconn-dev/repoconn-dev-HealthCheckFunctionRole-9Z",
    f"arn:aws:iam::{ACCOUNT}:role/repoconn-prod-HealthCheckFunctionRole-1A2B3C",
)


def test_every_function_role_of_the_stack_is_on_the_path_the_key_policy_names() -> None:
    # given the translated template's roles (SAM's, and the relay's own)
    resources = translated_template()["Resources"]
    roles = {
        logical_id: resource["Properties"].get("Path")
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role"
    }
    # then there is one per function, and each has the stack's path (without it, the key
    # refuses the function)
    functions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(roles) == len(functions) >= 10
    assert set(map(str, roles.values())) == {
        str({"Fn::Sub": "/repository-connections/${AWS::StackName}/"})
    }


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("action", USE)
def test_a_function_role_of_this_stack_may_use_the_key_for_a_connections_field(
    function: str, action: str
) -> None:
    # when a deployed function asks for a data key bound to a connection's field
    request = Request(action, function_role_arn(function), context=connection_context())
    # then the key policy allows it (its IAM policy narrows further)
    assert allows(key_policy("ConnectionsKey"), request)


@pytest.mark.parametrize(
    "context",
    [
        {},
        {"kms:EncryptionContextKeys": ["projectId"], "kms:EncryptionContext:projectId": "p1"},
        {**connection_context(), "kms:EncryptionContextKeys": ["projectId", "repositoryUrl", "x"]},
    ],
    ids=["no context", "no repository", "a foreign context key"],
)
def test_even_a_function_role_gets_no_data_key_outside_a_connections_context(
    context: dict,
) -> None:
    request = Request("kms:Decrypt", function_role_arn("HealthCheckFunction"), context=context)
    assert not allows(key_policy("ConnectionsKey"), request)


@pytest.mark.parametrize("principal", OUTSIDERS)
@pytest.mark.parametrize("action", CRYPTOGRAPHIC)
def test_no_other_principal_of_the_account_may_use_the_connections_key(
    principal: str, action: str
) -> None:
    # given a principal of the same account — an administrator, a user, another stack's (or
    # environment's) function role — whose IAM policy may well allow kms:* on *
    request = Request(action, principal, context=connection_context())
    # then the key policy alone refuses every cryptographic use and every grant
    assert not allows(key_policy("ConnectionsKey"), request)


@pytest.mark.parametrize("principal", OUTSIDERS[:2])
@pytest.mark.parametrize("action", ADMINISTRATION)
def test_administrators_manage_the_key_so_it_can_never_be_locked_out(
    principal: str, action: str
) -> None:
    assert allows(key_policy("ConnectionsKey"), Request(action, principal))


@pytest.mark.parametrize("action", [*CRYPTOGRAPHIC, *ADMINISTRATION])
def test_another_account_may_do_nothing_with_either_key(action: str) -> None:
    stranger = function_role_arn("HealthCheckFunction", account=OTHER_ACCOUNT)
    for key in ("ConnectionsKey", "EventsKey"):
        assert not allows(key_policy(key), Request(action, stranger, context=connection_context()))


def test_the_tables_own_encryption_works_only_through_dynamodb_in_this_account() -> None:
    statements = key_policy("ConnectionsKey")
    via_dynamodb = {
        "kms:ViaService": f"dynamodb.{REGION}.amazonaws.com",
    }
    reader = f"arn:aws:iam::{ACCOUNT}:role/SomeTableReader"
    # any principal of the account reading the table through DynamoDB: the table key opens
    assert allows(statements, Request("kms:Decrypt", reader, context=via_dynamodb))
    assert allows(statements, Request("kms:CreateGrant", reader, context=via_dynamodb))
    # through another service, or directly: refused
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    assert not allows(statements, Request("kms:Decrypt", reader, context=via_s3))
    assert not allows(statements, Request("kms:Decrypt", reader))
    # another account, even through DynamoDB: refused
    stranger = f"arn:aws:iam::{OTHER_ACCOUNT}:role/SomeTableReader"
    assert not allows(statements, Request("kms:Decrypt", stranger, context=via_dynamodb))


def test_only_eventbridge_for_this_stacks_bus_uses_the_events_key() -> None:
    statements = key_policy("EventsKey")
    ours = {
        "aws:SourceAccount": ACCOUNT,
        "aws:SourceArn": BUS_ARN,
        "kms:EncryptionContext:aws:events:event-bus:arn": BUS_ARN,
    }
    for action in USE:
        assert allows(statements, Request(action, service="events.amazonaws.com", context=ours))
        # another bus of the account (the confused deputy): refused
        other_bus = BUS_ARN.replace("-events", "-other")
        elsewhere = {**ours, "aws:SourceArn": other_bus}
        elsewhere["kms:EncryptionContext:aws:events:event-bus:arn"] = other_bus
        assert not allows(
            statements, Request(action, service="events.amazonaws.com", context=elsewhere)
        )
        # the functions publish and never touch the key; nor may anyone else of the account
        for principal in (function_role_arn("PublishDeliveriesFunction"), *OUTSIDERS):
            assert not allows(statements, Request(action, principal, context=ours))
    # and EventBridge has no use of the connections key
    assert not allows(
        key_policy("ConnectionsKey"),
        Request("kms:Decrypt", service="events.amazonaws.com", context=ours),
    )


def test_no_statement_grants_every_kms_action() -> None:
    for key in ("ConnectionsKey", "EventsKey"):
        for statement in key_policy(key):
            actions = statement["Action"]
            assert "kms:*" not in ([actions] if isinstance(actions, str) else actions)


def test_the_key_policies_are_exactly_the_documented_table() -> None:
    # given both keys' statements as deployed, and the table in docs/security.md
    deployed = key_rows("ConnectionsKey") | key_rows("EventsKey")
    documented = documented_key_rows(SECURITY_DOC.read_text(encoding="utf-8"))
    # then every deployed statement is documented, and nothing documented is missing
    assert deployed - documented == set(), "deployed but not in docs/security.md"
    assert documented - deployed == set(), "in docs/security.md but not deployed"
