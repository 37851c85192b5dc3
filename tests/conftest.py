"""Shared fixtures. Names are stable: other test modules depend on them.

AWS (all moto, nothing leaves the process):

- ``aws_env``          the AWS sandbox (tests/support/aws_sandbox.py): fake credentials and
                       region ``us-east-1``; no profile, config file or endpoint override
                       from the host leaks in.
- ``aws``              a moto ``mock_aws`` context, active for the whole test.
- ``kms_client``       boto3 KMS client (inside ``aws``).
- ``kms_key_id``       a symmetric key built from template.yaml's AWS::KMS::Key, with alias
                       ``TEST_KMS_ALIAS``; the key id (not the ARN).
- ``dynamodb_client``  boto3 DynamoDB client (inside ``aws``).
- ``template``         template.yaml as plain data (session-wide, read once).
- ``connections_table`` the ConnectionsTable from template.yaml, created under
                       ``TEST_TABLE_NAME``; returns the table name.
- ``store``            ``ConnectionStore`` on that table (connections).
- ``delivery_log``     ``DeliveryLog`` on that table (accepted webhook deliveries).
- ``lease_table``      ``LeaseTable`` on that table (project leases).
- ``cipher``           ``SecretCipher`` with ``kms_client`` and ``kms_key_id``.

Call counters (for "exactly one call" assertions):

- ``kms_calls``        list of KMS operation names made through ``kms_client``, in order.
- ``dynamodb_calls``   list of DynamoDB operation names sent by pynamodb (its documented
                       ``pre_dynamodb_send`` signal), in order.

pynamodb is used with ``host=None`` under moto: moto intercepts botocore's default
endpoint, not a custom ``Meta.host``.

Amazon DynamoDB Local (``dynamodb_local``, ``dynamodb_local_table``, ``kms_server``, ...):
see tests/dynamodb_local_fixtures.py, loaded below as a plugin.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pynamodb.signals import pre_dynamodb_send
from repoconn_core.cipher import SecretCipher
from repoconn_core.storage.connection_store import ConnectionStore
from repoconn_core.storage.delivery_log import DeliveryLog
from repoconn_core.storage.lease_table import LeaseTable
from repoconn_local.aws import template_schema

from tests.support.aws_sandbox import REGION as AWS_REGION
from tests.support.aws_sandbox import enter_aws_sandbox
from tests.support.environment import POWERTOOLS_VARIABLES

pytest_plugins = ["tests.dynamodb_local_fixtures"]

# Powertools reads these when a handler module is first imported (Metrics() keeps the
# namespace it saw then). Whichever test imports a handler first - the OpenAPI drift test
# imports all of them - must not leave the rest of the session without a namespace.
for _name, _value in POWERTOOLS_VARIABLES.items():
    os.environ.setdefault(_name, _value)

TEST_TABLE_NAME = "repoconn-test-connections"
TEST_KMS_ALIAS = "alias/repoconn-test-connections"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    enter_aws_sandbox(monkeypatch)


@pytest.fixture
def aws(aws_env: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def kms_client(aws: None) -> Any:
    return boto3.client("kms", region_name=AWS_REGION)


@pytest.fixture
def dynamodb_client(aws: None) -> Any:
    return boto3.client("dynamodb", region_name=AWS_REGION)


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return template_schema.load_template()


@pytest.fixture
def kms_key_id(kms_client: Any, template: dict[str, Any]) -> str:
    return template_schema.create_kms_key(kms_client, TEST_KMS_ALIAS, template)


@pytest.fixture
def connections_table(dynamodb_client: Any, template: dict[str, Any]) -> str:
    template_schema.create_tables(dynamodb_client, template, {"ConnectionsTable": TEST_TABLE_NAME})
    return TEST_TABLE_NAME


@pytest.fixture
def store(connections_table: str) -> ConnectionStore:
    return ConnectionStore(connections_table, AWS_REGION)


@pytest.fixture
def delivery_log(connections_table: str) -> DeliveryLog:
    return DeliveryLog(connections_table, AWS_REGION)


@pytest.fixture
def lease_table(connections_table: str) -> LeaseTable:
    return LeaseTable(connections_table, AWS_REGION)


@pytest.fixture
def cipher(kms_client: Any, kms_key_id: str) -> SecretCipher:
    return SecretCipher(kms_client, kms_key_id)


@pytest.fixture
def kms_calls(kms_client: Any) -> Iterator[list[str]]:
    calls: list[str] = []

    def record(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    kms_client.meta.events.register("before-call.kms.*", record)
    yield calls
    kms_client.meta.events.unregister("before-call.kms.*", record)


@pytest.fixture
def dynamodb_calls() -> Iterator[list[str]]:
    calls: list[str] = []

    def record(sender: Any, operation_name: str, table_name: str, req_uuid: str) -> None:
        calls.append(operation_name)

    with pre_dynamodb_send.connected_to(record):
        yield calls
