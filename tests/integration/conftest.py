"""Fixtures for handler and use-case tests: the provider simulator over real HTTP, the
handlers wired from settings onto moto, and a caller that speaks payload-2.0 events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from repoconn_core import wiring
from repoconn_core.settings import Settings
from repoconn_local.aws import template_schema
from repoconn_local.lambda_host.stream_source import (
    STREAMS_CONFIG,
    DynamoDbStreamEventSource,
    stream_mapping,
)
from repoconn_local.simulator.server import ProviderSimulator

from tests.support.api import Api
from tests.support.aws_sandbox import REGION
from tests.support.environment import simulator_settings, use_settings
from tests.support.handlers import PUBLISH_DELIVERIES, invoke
from tests.support.simulator_control import SimulatorControl

WEBHOOK_BASE_URL = "https://hooks.example.test"


@pytest.fixture(scope="session")
def simulator() -> Iterator[ProviderSimulator]:
    sim = ProviderSimulator()
    sim.start(port=0)
    yield sim
    sim.stop()


@pytest.fixture
def sim(simulator: ProviderSimulator) -> ProviderSimulator:
    """The simulator with no hooks and an empty request log."""
    SimulatorControl(simulator.base_url).reset()
    return simulator


@pytest.fixture
def sim_control(sim: ProviderSimulator) -> SimulatorControl:
    """The control API of ``sim`` (no hooks, an empty request log)."""
    return SimulatorControl(sim.base_url)


@pytest.fixture
def app_settings(sim: ProviderSimulator, connections_table: str, kms_key_id: str) -> Settings:
    return simulator_settings(
        sim,
        table_name=connections_table,
        kms_key_id=kms_key_id,
        webhook_base_url=WEBHOOK_BASE_URL,
    )


@pytest.fixture
def api(app_settings: Settings, monkeypatch: pytest.MonkeyPatch, aws: None) -> Iterator[Api]:
    """The handlers as deployed: settings from the environment, parts built by wiring."""
    use_settings(monkeypatch, app_settings)
    yield Api()
    wiring.reset()


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
    sqs = boto3.client("sqs", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    events.create_event_bus(Name=TEST_EVENT_BUS)
    queue_url = subscribed_queue(
        events,
        sqs,
        bus_name=TEST_EVENT_BUS,
        queue_name="repoconn-test-deliveries",
    )
    monkeypatch.setenv("EVENT_BUS_NAME", TEST_EVENT_BUS)
    wiring.reset()
    return EventBusTap(sqs, queue_url, relay_for(app_settings.table_name))


def subscribed_queue(events: Any, sqs: Any, *, bus_name: str, queue_name: str) -> str:
    """An SQS queue that a rule on the bus fills with every event the service puts on it;
    the queue's URL."""
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
    return DynamoDbStreamEventSource(
        dynamodb=boto3.client("dynamodb", region_name=REGION),
        streams=boto3.client("dynamodbstreams", region_name=REGION, config=STREAMS_CONFIG),
        table_name=table_name,
        invoke=lambda event: invoke(PUBLISH_DELIVERIES, event),
        mapping=stream_mapping(template_schema.load_template()),
    )
