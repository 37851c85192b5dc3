"""template.yaml as the one schema source for tests and the local run.

Reads the SAM/CloudFormation template and creates the same DynamoDB tables (keys, GSIs and
their projections) and a KMS key in moto or any endpoint boto3 points at, so the local
schema can never drift from the deployed one.

Only properties that change what the data looks like are carried over. Encryption at rest
(SSESpecification), deletion protection, tags and contributor insights are dropped: they
often hold intrinsics (``!Ref ConnectionsKey``, ``!If [IsProd, ...]``) that have no local
meaning, and they do not change reads or writes. Point-in-time recovery is applied through
``UpdateContinuousBackups`` when the template enables it, because that is cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

DEFAULT_TEMPLATE_PATH = Path(__file__).resolve().parents[4] / "template.yaml"
TABLE_TYPE = "AWS::DynamoDB::Table"
KEY_TYPE = "AWS::KMS::Key"
# The envelope key of stored secrets (the other key, EventsKey, is the event bus's).
CONNECTIONS_KEY_LOGICAL_ID = "ConnectionsKey"

# Table and index properties that mean the same in CloudFormation and create_table.
_TABLE_PROPERTIES = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "TableClass",
)
_INDEX_PROPERTIES = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads short-form intrinsics (``!Ref X``) as their long form
    (``{"Ref": "X"}``, ``{"Fn::Sub": ...}``) instead of failing on unknown tags."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # "!GetAtt Resource.Attribute" is shorthand for ["Resource", "Attribute"].
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: str | Path | None = None) -> dict[str, Any]:
    """The template as plain data; defaults to the repository's template.yaml."""
    with open(path or DEFAULT_TEMPLATE_PATH, encoding="utf-8") as handle:
        # A subclass of SafeLoader: constructs plain data only, no arbitrary objects.
        template = yaml.load(handle, Loader=_CloudFormationLoader)  # noqa: S506
    if not isinstance(template, dict):
        raise ValueError(f"{path or DEFAULT_TEMPLATE_PATH} is not a template")
    return template


def table_definitions(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id → ``create_table`` kwargs (without TableName) for every DynamoDB table."""
    return {
        logical_id: _table_kwargs(logical_id, resource.get("Properties", {}))
        for logical_id, resource in _resources_of_type(template, TABLE_TYPE).items()
    }


def create_tables(
    dynamodb_client: Any, template: Mapping[str, Any], table_names: Mapping[str, str]
) -> None:
    """Create the template's tables under the given names (logical id → table name)."""
    definitions = table_definitions(template)
    unknown = set(table_names) - set(definitions)
    if unknown:
        raise KeyError(f"no DynamoDB table in the template for {sorted(unknown)}")
    resources = _resources_of_type(template, TABLE_TYPE)
    for logical_id, table_name in table_names.items():
        dynamodb_client.create_table(TableName=table_name, **definitions[logical_id])
        dynamodb_client.get_waiter("table_exists").wait(
            TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )
        properties = resources[logical_id].get("Properties", {})
        pitr = properties.get("PointInTimeRecoverySpecification", {})
        if pitr.get("PointInTimeRecoveryEnabled") is True:
            _enable_point_in_time_recovery(dynamodb_client, table_name)


def _enable_point_in_time_recovery(dynamodb_client: Any, table_name: str) -> None:
    try:
        dynamodb_client.update_continuous_backups(
            TableName=table_name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
    except dynamodb_client.exceptions.ClientError as error:
        # Amazon DynamoDB Local has no backups and answers UnknownOperationException; PITR
        # changes no read or write, so the table is still the template's.
        if error.response.get("Error", {}).get("Code") != "UnknownOperationException":
            raise


def create_kms_key(kms_client: Any, alias: str, template: Mapping[str, Any] | None = None) -> str:
    """Create a symmetric KMS key with ``alias`` and return its key id.

    With a template, the description and rotation setting of its ConnectionsKey (else its
    first AWS::KMS::Key) are used; the key policy is not: it names the deploying account and
    the roles of a deployed stack.
    """
    properties: Mapping[str, Any] = {}
    if template is not None:
        keys = _resources_of_type(template, KEY_TYPE)
        if keys:
            chosen = keys.get(CONNECTIONS_KEY_LOGICAL_ID) or next(iter(keys.values()))
            properties = chosen.get("Properties", {})
    description = properties.get("Description")
    key = kms_client.create_key(
        Description=description if isinstance(description, str) else "repoconn local key",
        KeyUsage="ENCRYPT_DECRYPT",
        KeySpec="SYMMETRIC_DEFAULT",
    )
    key_id: str = key["KeyMetadata"]["KeyId"]
    if properties.get("EnableKeyRotation") is True:
        kms_client.enable_key_rotation(KeyId=key_id)
    alias_name = alias if alias.startswith("alias/") else f"alias/{alias}"
    kms_client.create_alias(AliasName=alias_name, TargetKeyId=key_id)
    return key_id


def _resources_of_type(template: Mapping[str, Any], resource_type: str) -> dict[str, Any]:
    resources = template.get("Resources") or {}
    return {
        logical_id: resource
        for logical_id, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") == resource_type
    }


def _table_kwargs(logical_id: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        name: properties[name] for name in _TABLE_PROPERTIES if name in properties
    }
    indexes = properties.get("GlobalSecondaryIndexes")
    if indexes:
        kwargs["GlobalSecondaryIndexes"] = [
            {name: index[name] for name in _INDEX_PROPERTIES if name in index} for index in indexes
        ]
    local_indexes = properties.get("LocalSecondaryIndexes")
    if local_indexes:
        kwargs["LocalSecondaryIndexes"] = [
            {
                name: index[name]
                for name in ("IndexName", "KeySchema", "Projection")
                if name in index
            }
            for index in local_indexes
        ]
    stream = properties.get("StreamSpecification")
    if stream:
        # CloudFormation implies StreamEnabled by the presence of the specification.
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **stream}
    _reject_intrinsics(logical_id, kwargs)
    return kwargs


def _reject_intrinsics(logical_id: str, value: Any, path: str = "") -> None:
    """A kept property must be literal: there is nothing here to resolve !Ref or !If."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" or key.startswith("Fn::"):
                raise ValueError(
                    f"{logical_id}{path} uses {key}; local tables need a literal value"
                )
            _reject_intrinsics(logical_id, inner, f"{path}.{key}")
    elif isinstance(value, list):
        for position, inner in enumerate(value):
            _reject_intrinsics(logical_id, inner, f"{path}[{position}]")
