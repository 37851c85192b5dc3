"""template.yaml → create_table kwargs and a KMS key: the one schema source for local runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from repoconn_local.aws import template_schema

SHORT_TAGS = """
Conditions:
  IsProd: !Equals [!Ref EnvName, prod]
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
      SSESpecification:
        SSEEnabled: true
        KMSMasterKeyId: !GetAtt Key.Arn
      DeletionProtectionEnabled: !If [IsProd, true, false]
      Tags:
        - Key: name
          Value: !Sub "${AWS::StackName}-table"
  Key:
    Type: AWS::KMS::Key
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_short_form_intrinsics_load_as_their_long_form(tmp_path: Path) -> None:
    # when
    template = template_schema.load_template(_write(tmp_path, SHORT_TAGS))

    # then
    properties = template["Resources"]["Table"]["Properties"]
    assert template["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "EnvName"}, "prod"]}
    assert properties["SSESpecification"]["KMSMasterKeyId"] == {"Fn::GetAtt": ["Key", "Arn"]}
    assert properties["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}
    assert properties["Tags"][0]["Value"] == {"Fn::Sub": "${AWS::StackName}-table"}


def test_table_definition_keeps_schema_and_drops_deployment_only_properties(
    tmp_path: Path,
) -> None:
    # given
    template = template_schema.load_template(_write(tmp_path, SHORT_TAGS))

    # when
    definitions = template_schema.table_definitions(template)

    # then
    assert definitions == {
        "Table": {
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        }
    }


def test_an_intrinsic_in_a_schema_property_is_refused(tmp_path: Path) -> None:
    # given
    text = SHORT_TAGS.replace("BillingMode: PAY_PER_REQUEST", "BillingMode: !Ref Mode")
    template = template_schema.load_template(_write(tmp_path, text))

    # when / then
    with pytest.raises(ValueError, match=r"Table\.BillingMode uses Ref"):
        template_schema.table_definitions(template)


def test_repository_template_defines_the_connections_table(template: dict[str, Any]) -> None:
    # when
    definition = template_schema.table_definitions(template)["ConnectionsTable"]

    # then
    assert definition["KeySchema"] == [{"AttributeName": "repositoryUrl", "KeyType": "HASH"}]
    assert definition["BillingMode"] == "PAY_PER_REQUEST"
    assert [index["IndexName"] for index in definition["GlobalSecondaryIndexes"]] == [
        "projectId-index"
    ]
    assert "SSESpecification" not in definition


def test_created_table_matches_the_template_and_has_pitr_on(
    dynamodb_client: Any, connections_table: str
) -> None:
    # when
    table = dynamodb_client.describe_table(TableName=connections_table)["Table"]
    backups = dynamodb_client.describe_continuous_backups(TableName=connections_table)

    # then
    (index,) = table["GlobalSecondaryIndexes"]
    assert table["KeySchema"] == [{"AttributeName": "repositoryUrl", "KeyType": "HASH"}]
    assert index["IndexName"] == "projectId-index"
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    assert "accessToken" not in index["Projection"]["NonKeyAttributes"]
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"


def test_unknown_logical_table_is_refused(dynamodb_client: Any, template: dict[str, Any]) -> None:
    # when / then
    with pytest.raises(KeyError, match="NoSuchTable"):
        template_schema.create_tables(dynamodb_client, template, {"NoSuchTable": "x"})


def test_kms_key_gets_alias_and_rotation_from_the_template(
    kms_client: Any, template: dict[str, Any]
) -> None:
    # when
    key_id = template_schema.create_kms_key(kms_client, "repoconn-local", template)

    # then
    aliases = kms_client.list_aliases(KeyId=key_id)["Aliases"]
    assert [alias["AliasName"] for alias in aliases] == ["alias/repoconn-local"]
    assert kms_client.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    assert kms_client.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == (
        "Envelope key for stored provider tokens and webhook secrets"
    )
