"""Fixtures for handler and use-case tests: the provider simulator over real HTTP, the
handlers wired from settings onto moto, and a caller that speaks payload-2.0 events."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
import requests
from repoconn_core import wiring
from repoconn_core.settings import Settings
from repoconn_local.aws import template_schema
from repoconn_local.gateway.events import http_api_event
from repoconn_local.lambda_host.context import LocalLambdaContext
from repoconn_local.lambda_host.stream_mapping import stream_mapping
from repoconn_local.lambda_host.stream_source import STREAMS_CONFIG, DynamoDbStreamEventSource
from repoconn_local.simulator.server import ProviderSimulator

WEBHOOK_BASE_URL = "https://hooks.example.test"

ROUTES: dict[tuple[str, str], str] = {
    ("PUT", ""): "functions.upsert_connection.app",
    ("GET", ""): "functions.get_connection.app",
    ("GET", "/exists"): "functions.connection_exists.app",
    ("DELETE", ""): "functions.disconnect_connection.app",
}


@pytest.fixture(scope="session")
def simulator() -> Iterator[ProviderSimulator]:
    sim = ProviderSimulator()
    sim.start(port=0)
    yield sim
    sim.stop()


@pytest.fixture
def sim(simulator: ProviderSimulator) -> ProviderSimulator:
    """The simulator with no hooks and an empty request log."""
    requests.post(f"{simulator.base_url}/_sim/reset", timeout=5).raise_for_status()
    return simulator


def sim_hooks(sim: ProviderSimulator) -> list[dict[str, Any]]:
    response = requests.get(f"{sim.base_url}/_sim/hooks", timeout=5)
    response.raise_for_status()
    return list(response.json()["hooks"])


@pytest.fixture
def app_settings(sim: ProviderSimulator, connections_table: str, kms_key_id: str) -> Settings:
    return Settings(
        table_name=connections_table,
        kms_key_id=kms_key_id,
        webhook_base_url=WEBHOOK_BASE_URL,
        github_api_url=sim.github_api_url,
        gitlab_api_url=sim.gitlab_api_url,
        bitbucket_api_url=sim.bitbucket_api_url,
        allow_loopback_provider_api=True,
        provider_max_retries=0,
    )


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class Api:
    """Calls the real lambda_handler of each route with payload-2.0 events."""

    def call(
        self,
        method: str,
        project_id: str,
        suffix: str = "",
        *,
        body: object = None,
        raw_body: str | None = None,
        claims: Mapping[str, object] | None = None,
    ) -> HttpResult:
        module = self._module(method, suffix)
        path = f"/projects/{project_id}/repository-connection{suffix}"
        if raw_body is None and body is not None:
            raw_body = json.dumps(body)
        event = http_api_event(
            method,
            path,
            route_key=f"{method} /projects/{{projectId}}/repository-connection{suffix}",
            path_parameters={"projectId": project_id},
            headers={"content-type": "application/json"} if raw_body is not None else {},
            body=raw_body,
            claims=claims,
        )
        response = module.lambda_handler(event, LocalLambdaContext(function_name=module.__name__))
        return HttpResult(
            status=response["statusCode"],
            headers={k.lower(): v for k, v in (response.get("headers") or {}).items()},
            text=response.get("body") or "",
        )

    @staticmethod
    def _module(method: str, suffix: str) -> ModuleType:
        return importlib.import_module(ROUTES[(method, suffix)])


@pytest.fixture
def api(app_settings: Settings, monkeypatch: pytest.MonkeyPatch, aws: None) -> Iterator[Api]:
    """The handlers as deployed: settings from the environment, parts built by wiring."""
    for name, value in app_settings.model_dump(mode="json").items():
        if value is None:
            continue
        monkeypatch.setenv(name.upper(), value if isinstance(value, str) else json.dumps(value))
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "RepositoryConnectionsTest")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "repository-connections")
    wiring.reset()
    yield Api()
    wiring.reset()


def admin(*projects: str) -> dict[str, object]:
    return {"sub": "admin-1", "cognito:groups": ["Admin"], "custom:projects": list(projects)}


def member(*projects: str) -> dict[str, object]:
    return {"sub": "member-1", "cognito:groups": ["Member"], "custom:projects": list(projects)}


# Webhook receiver: the EventBridge bus it publishes to, with an SQS queue to read events back.

TEST_EVENT_BUS = "repoconn-test-events"


@dataclass
class EventBusTap:
    """An SQS queue subscribed (by a rule) to everything the service puts on the test bus,
    behind the relay: the table's stream delivered to PublishDeliveriesFunction as the
    template's event source mapping would (repoconn_local.lambda_host.stream_source)."""

    sqs: Any
    queue_url: str
    relay: DynamoDbStreamEventSource
    relayed: int = 0  # records the relay was handed, in all

    def events(self, *, relay: bool = True) -> list[dict[str, Any]]:
        """Every event published since the last call, as EventBridge sent it to the queue;
        first, with ``relay``, the relay is handed every delivery recorded so far."""
        if relay:
            self.relayed += self.relay.drain()
        found: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


@pytest.fixture
def event_bus(api: Api, app_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> EventBusTap:
    """The handlers' EVENT_BUS_NAME points at a moto bus whose events land in an SQS queue."""
    import boto3

    from tests.conftest import AWS_REGION

    sqs = boto3.client("sqs", region_name=AWS_REGION)
    queue_url = subscribed_queue(
        boto3.client("events", region_name=AWS_REGION),
        sqs,
        bus_name=TEST_EVENT_BUS,
        queue_name="repoconn-test-deliveries",
    )
    monkeypatch.setenv("EVENT_BUS_NAME", TEST_EVENT_BUS)
    wiring.reset()
    return EventBusTap(sqs, queue_url, relay_for(app_settings.table_name))


def subscribed_queue(events: Any, sqs: Any, *, bus_name: str, queue_name: str) -> str:
    """Create the bus and an SQS queue that a rule fills with every event the service puts
    on it; the queue's URL."""
    events.create_event_bus(Name=bus_name)
    queue_url = str(sqs.create_queue(QueueName=queue_name)["QueueUrl"])
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(
        Name="all-deliveries",
        EventBusName=bus_name,
        EventPattern=json.dumps({"source": ["repository-connections"]}),
    )
    events.put_targets(
        Rule="all-deliveries",
        EventBusName=bus_name,
        Targets=[{"Id": "deliveries-queue", "Arn": queue_arn}],
    )
    return queue_url


def relay_for(table_name: str) -> DynamoDbStreamEventSource:
    """The template's stream event source mapping on this (moto) table, invoking the relay's
    real handler in-process."""
    import boto3

    from tests.conftest import AWS_REGION

    def invoke(event: dict[str, Any]) -> Any:
        handler = importlib.import_module("functions.publish_deliveries.app").lambda_handler
        return handler(event, LocalLambdaContext(function_name="publish_deliveries"))

    return DynamoDbStreamEventSource(
        dynamodb=boto3.client("dynamodb", region_name=AWS_REGION),
        streams=boto3.client("dynamodbstreams", region_name=AWS_REGION, config=STREAMS_CONFIG),
        table_name=table_name,
        invoke=invoke,
        mapping=stream_mapping(template_schema.load_template()),
    )
