"""Amazon DynamoDB Local for any suite (races now, the scale benchmark later): a pytest plugin
that tests/conftest.py loads. Nothing starts until a test asks for it.

- ``dynamodb_local``        session: the endpoint URL of one DynamoDB Local (``-inMemory``,
                            ``-sharedDb``) on a free port; fetched into ``.dynamodb-local/`` if
                            missing (``make test`` fetches first), started on first use,
                            stopped when the session ends. Readiness is polled, not slept for.
- ``dynamodb_local_client`` boto3 DynamoDB client for it (fake credentials).
- ``dynamodb_local_table``  the ConnectionsTable from template.yaml under a fresh name, so
                            tests never see each other's items; deleted after the test.
- ``kms_server``            session: moto's server, for KMS only (DynamoDB Local has none);
                            its endpoint URL.
- ``kms_server_key``        a new key from template.yaml on ``kms_server``:
                            ``(kms client, key id)``.

The service's code reaches DynamoDB Local through ``ConnectionStore(..., host=endpoint)`` and
KMS through a boto3 client with ``endpoint_url``. Do not combine these with ``mock_aws``
(the ``aws`` fixture): moto would intercept the KMS client, and it does not intercept
pynamodb with a custom host, so the two halves would disagree about what is real.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from repoconn_local.aws import template_schema
from repoconn_local.aws.dynamodb_local import DynamoDBLocal, DynamoDBLocalError, local_client

CONNECTIONS_TABLE = "ConnectionsTable"
KMS_REGION = "us-east-1"


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[str]:
    server = DynamoDBLocal()
    try:
        endpoint = server.start()
    except DynamoDBLocalError as error:
        pytest.fail(f"DynamoDB Local could not start: {error}", pytrace=False)
    yield endpoint
    server.stop()


@pytest.fixture
def dynamodb_local_client(dynamodb_local: str) -> Any:
    return local_client(dynamodb_local)


@pytest.fixture
def dynamodb_local_table(dynamodb_local_client: Any, template: dict[str, Any]) -> Iterator[str]:
    name = f"repoconn-test-{uuid.uuid4().hex[:12]}"
    template_schema.create_tables(dynamodb_local_client, template, {CONNECTIONS_TABLE: name})
    yield name
    dynamodb_local_client.delete_table(TableName=name)


@pytest.fixture(scope="session")
def kms_server() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one INFO line per KMS call
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def kms_server_key(kms_server: str, template: dict[str, Any]) -> tuple[Any, str]:
    # A key per test: moto's in-process state is shared with mock_aws, which resets it.
    kms = boto3.client(
        "kms",
        endpoint_url=kms_server,
        region_name=KMS_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    alias = f"alias/repoconn-test-{uuid.uuid4().hex[:12]}"
    return kms, template_schema.create_kms_key(kms, alias, template)
