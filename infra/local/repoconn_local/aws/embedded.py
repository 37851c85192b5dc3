"""AWS for local runs: moto's server in this process, holding the template's table and key.

The table (keys, GSI, projection) and the KMS key are created from template.yaml through
template_schema, so the local schema cannot drift from the deployed one. Every AWS client of
the handlers reaches this server through ``AWS_ENDPOINT_URL``; the credentials are fake on
purpose, so a local run can never touch a real account even when the shell has real ones.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from repoconn_local.aws.template_schema import create_kms_key, create_tables, load_template

DEFAULT_REGION = "us-east-1"
# The same names the service uses by default (repoconn_core.settings.Settings).
DEFAULT_TABLE_NAME = "repository-connections"
DEFAULT_KEY_ALIAS = "alias/repository-connections"
# samconfig.toml's default stack name, for names the template derives from ${AWS::StackName}.
LOCAL_STACK_NAME = "repository-connections"
EVENT_BUS_TYPE = "AWS::Events::EventBus"
CONNECTIONS_TABLE_LOGICAL_ID = "ConnectionsTable"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


@dataclass(frozen=True)
class EmbeddedAwsResources:
    endpoint_url: str
    region: str
    table_name: str
    kms_key_id: str
    kms_key_arn: str
    kms_alias: str
    # The template's EventBus, where the receiver publishes verified deliveries.
    event_bus_name: str = "default"

    def environment(self) -> dict[str, str]:
        """The variables that point boto3 (and the service's settings) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            **FAKE_CREDENTIALS,
            "TABLE_NAME": self.table_name,
            # The template hands the functions the key's ARN (!GetAtt ConnectionsKey.Arn).
            "KMS_KEY_ID": self.kms_key_arn,
            "EVENT_BUS_NAME": self.event_bus_name,
        }

    def client(self, service: str, config: Config | None = None) -> Any:
        """A boto3 client of ``service`` on this server."""
        return aws_client(service, self.endpoint_url, self.region, config)


class EmbeddedAws:
    """A moto server on ``host:port`` (0 = any free port) with the template's resources."""

    def __init__(
        self,
        *,
        template_path: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = DEFAULT_REGION,
        table_name: str = DEFAULT_TABLE_NAME,
        key_alias: str = DEFAULT_KEY_ALIAS,
    ) -> None:
        self._template_path = template_path
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self._host, self._port = host, port
        self._region = region
        self._table_name = table_name
        self._key_alias = key_alias
        self.resources: EmbeddedAwsResources | None = None

    def start(self) -> EmbeddedAwsResources:
        # werkzeug (under moto) logs every AWS call at INFO; the gateway's access log is enough.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        _require_free_port(self._host, self._port)
        self._server.start()
        host, port = self._server.get_host_and_port()
        endpoint_url = f"http://{host}:{port}"
        template = load_template(self._template_path)
        create_tables(
            aws_client("dynamodb", endpoint_url, self._region),
            template,
            {CONNECTIONS_TABLE_LOGICAL_ID: self._table_name},
        )
        kms = aws_client("kms", endpoint_url, self._region)
        key_id = create_kms_key(kms, self._key_alias, template)
        key_arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
        event_bus_name = _create_event_bus(
            aws_client("events", endpoint_url, self._region), template
        )
        self.resources = EmbeddedAwsResources(
            endpoint_url=endpoint_url,
            region=self._region,
            table_name=self._table_name,
            kms_key_id=key_id,
            kms_key_arn=key_arn,
            kms_alias=self._key_alias,
            event_bus_name=event_bus_name,
        )
        return self.resources

    def stop(self) -> None:
        self._server.stop()


def aws_client(service: str, endpoint_url: str, region: str, config: Config | None = None) -> Any:
    """A boto3 client of ``service`` at ``endpoint_url`` with the fake credentials."""
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=config,
    )


def _require_free_port(host: str, port: int) -> None:
    """Raise OSError when the port is taken: moto's server thread would otherwise die
    quietly and leave start() waiting forever."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, port))


def _create_event_bus(events_client: Any, template: dict[str, Any]) -> str:
    """Create the template's AWS::Events::EventBus; its name, or "default" when it has none.

    The template names the bus ``!Sub ${AWS::StackName}-events``; locally the stack name is
    LOCAL_STACK_NAME. The function environment the template sets (EVENT_BUS_NAME: !Ref EventBus)
    then points at the same bus here as in AWS.
    """
    buses = [
        resource.get("Properties", {})
        for resource in (template.get("Resources") or {}).values()
        if isinstance(resource, dict) and resource.get("Type") == EVENT_BUS_TYPE
    ]
    if not buses:
        return "default"
    name = buses[0].get("Name")
    if isinstance(name, dict) and isinstance(name.get("Fn::Sub"), str):
        name = name["Fn::Sub"].replace("${AWS::StackName}", LOCAL_STACK_NAME)
    if not isinstance(name, str) or "${" in name:
        raise ValueError(f"the template's event bus name {buses[0]['Name']!r} is not local-ready")
    events_client.create_event_bus(Name=name)
    return name
