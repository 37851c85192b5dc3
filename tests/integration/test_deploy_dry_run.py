"""A deploy dry run: the SAM-translated template (no parameter values, as CloudFormation gets
it) created as a stack on moto's CloudFormation, with the parameters a deployment passes.

It shows the template is one CloudFormation accepts as a whole — references resolve, no
dependency cycle (the key policy naming roles by path exists to avoid one), conditions and
Fn::If/Fn::Split evaluate — and that what it creates is what the service expects: the table
with its index and stream, the keys with their policies, a role per function on the stack's
role path. moto does not model every resource type; ``NOT_MODELLED`` lists the ones it skips
(with a warning), so a moto upgrade that models one more makes this test say so.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.support.translated_template import translated_template

REGION = "us-east-1"
STACK = "repoconn-dry-run"
PARAMETERS = {
    "JwtIssuer": "https://issuer.example.com",
    "JwtAudience": "frontend-client",
    "CorsAllowOrigin": "https://app.example.com,https://admin.example.com",
    "AlarmTopicArn": f"arn:aws:sns:{REGION}:123456789012:repoconn-alarms",
}
# Resource types moto 5.2.5's CloudFormation does not create (it warns and skips them); what
# they hold is checked on the translated template instead (test_translated_*.py).
NOT_MODELLED = {
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::CloudWatch::Alarm",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::SQS::QueuePolicy",
}


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    template = translated_template("--without-values")
    with mock_aws():
        # sam deploy uploads the code first; the translation names this placeholder object
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="repoconn-artifacts")
        s3.put_object(
            Bucket="repoconn-artifacts", Key="placeholder.zip", Body=b"PK\x05\x06" + bytes(18)
        )
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        with warnings.catch_warnings(record=True) as skipped:
            warnings.simplefilter("always")
            cloudformation.create_stack(
                StackName=STACK,
                TemplateBody=json.dumps(template),
                Parameters=[
                    {"ParameterKey": k, "ParameterValue": v} for k, v in PARAMETERS.items()
                ],
                Capabilities=["CAPABILITY_IAM"],
            )
        [described] = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
        resources = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        yield {
            "template": template,
            "status": described["StackStatus"],
            "outputs": {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])},
            "resources": {r["LogicalResourceId"]: r for r in resources},
            "skipped": [str(w.message) for w in skipped if "not supported" in str(w.message)],
        }


def _physical(stack: dict[str, Any], logical_id: str) -> str:
    return str(stack["resources"][logical_id]["PhysicalResourceId"])


def test_the_translated_stack_is_created_whole(stack: dict[str, Any]) -> None:
    # then the stack completes, and every resource type moto models was created
    assert stack["status"] == "CREATE_COMPLETE"
    declared = {r["Type"] for r in stack["template"]["Resources"].values()}
    created = {r["ResourceType"] for r in stack["resources"].values()}
    assert declared - created == NOT_MODELLED
    assert all(r["ResourceStatus"] == "CREATE_COMPLETE" for r in stack["resources"].values())
    print(
        f"deploy dry run: {len(stack['resources'])} of {len(stack['template']['Resources'])} "
        f"resources created on moto; not modelled: {', '.join(sorted(NOT_MODELLED))}"
    )


def test_the_table_has_its_key_index_and_stream(stack: dict[str, Any]) -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    table = dynamodb.describe_table(TableName=_physical(stack, "ConnectionsTable"))["Table"]
    assert table["KeySchema"] == [{"AttributeName": "repositoryUrl", "KeyType": "HASH"}]
    [index] = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "projectId-index"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    # (moto's CloudFormation does not apply SSESpecification: test_key_policies.py covers it)


def test_every_function_role_is_created_on_the_stacks_path(stack: dict[str, Any]) -> None:
    # (moto 5.2.5 cannot describe these functions: it resolves `!Ref EventBus` in their
    # environment to an object its JSON encoder then refuses; the roles tell the same story)
    iam = boto3.client("iam", region_name=REGION)
    roles = iam.list_roles(PathPrefix=f"/repository-connections/{STACK}/")["Roles"]
    functions = [
        r for r in stack["resources"].values() if r["ResourceType"] == "AWS::Lambda::Function"
    ]
    # one role per function of the template, as SAM translates it
    declared = [
        r
        for r in translated_template()["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    ]
    assert len(functions) == len(roles) == len(declared) >= 10
    assert {role["RoleName"] for role in roles} == {
        r["PhysicalResourceId"]
        for r in stack["resources"].values()
        if r["ResourceType"] == "AWS::IAM::Role"
    }


def test_the_keys_carry_their_policies(stack: dict[str, Any]) -> None:
    kms = boto3.client("kms", region_name=REGION)
    for logical_id, sids in {
        "ConnectionsKey": {
            "AdministratorsManageTheKey",
            "ThisStacksFunctionRolesUseTheKey",
            "TableEncryptionThroughDynamoDB",
            "DynamoDBReadsKeyMetadata",
        },
        "EventsKey": {
            "AdministratorsManageTheKey",
            "EventBridgeUsesTheKeyForThisBusOnly",
            "EventBridgeReadsKeyMetadata",
        },
    }.items():
        raw = kms.get_key_policy(KeyId=_physical(stack, logical_id), PolicyName="default")
        # (moto keeps a policy CloudFormation gave it as an object, not a JSON string)
        policy = raw["Policy"] if isinstance(raw["Policy"], dict) else json.loads(raw["Policy"])
        assert {statement["Sid"] for statement in policy["Statement"]} == sids
        use = [s for s in policy["Statement"] if s["Sid"] == "ThisStacksFunctionRolesUseTheKey"]
        for statement in use:
            assert statement["Condition"]["ArnLike"]["aws:PrincipalArn"] == (
                f"arn:aws:iam::123456789012:role/repository-connections/{STACK}/*"
            )
