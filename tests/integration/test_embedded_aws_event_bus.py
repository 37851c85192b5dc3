"""The local run's embedded AWS holds the template's EventBus, and the functions' environment
names it, so verified deliveries are published where they would be in AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from repoconn_local.aws.embedded import EmbeddedAws, EmbeddedAwsResources

from tests.integration.conftest import subscribed_queue

# template.yaml: Name: !Sub ${AWS::StackName}-events, with samconfig's default stack name.
LOCAL_BUS = "repository-connections-events"


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedAwsResources]:
    """One embedded AWS for the module. moto's server keeps its state in this process's moto
    backends, so the state is reset before the server stops: nothing leaks into later tests."""
    aws = EmbeddedAws(port=0)
    resources = aws.start()
    try:
        yield resources
    finally:
        requests.post(f"{resources.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
        aws.stop()


def test_the_templates_event_bus_exists_and_the_environment_names_it(
    embedded: EmbeddedAwsResources,
) -> None:
    # when
    buses = embedded.client("events").list_event_buses()["EventBuses"]

    # then
    assert sorted(bus["Name"] for bus in buses) == ["default", LOCAL_BUS]
    assert embedded.event_bus_name == LOCAL_BUS
    assert embedded.environment()["EVENT_BUS_NAME"] == LOCAL_BUS


def test_an_event_put_on_the_named_bus_reaches_a_rule_on_it(
    embedded: EmbeddedAwsResources,
) -> None:
    # given a queue subscribed to everything the service publishes on the local bus
    events, sqs = embedded.client("events"), embedded.client("sqs")
    bus = embedded.environment()["EVENT_BUS_NAME"]
    queue_url = subscribed_queue(events, sqs, bus_name=bus, queue_name="local-deliveries")

    # when
    result = events.put_events(
        Entries=[
            {
                "Source": "repository-connections",
                "DetailType": "push",
                "Detail": json.dumps({"connectionId": "c-1"}),
                "EventBusName": bus,
            }
        ]
    )

    # then
    assert result["FailedEntryCount"] == 0
    [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)["Messages"]
    assert json.loads(message["Body"])["detail"] == {"connectionId": "c-1"}
