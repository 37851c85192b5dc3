"""The local stand-in for Lambda's DynamoDB stream event source mapping
(lambda_host.stream_source), on the template's table in moto, with the template's mapping and a
fake function in place of the relay: which records reach the function, in which batches, and
what a failure makes it deliver again."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from repoconn_local.lambda_host.functions import TemplateError
from repoconn_local.lambda_host.stream_mapping import StreamMapping, stream_mapping
from repoconn_local.lambda_host.stream_source import STREAMS_CONFIG, DynamoDbStreamEventSource

from tests.conftest import AWS_REGION

# An answer of the fake function: a response, an exception to raise, or a function of the event.
Answer = dict[str, Any] | Exception | Callable[[dict[str, Any]], dict[str, Any]]


class FakeFunction:
    """Records the keys of every batch it is invoked with and answers as told, then success."""

    def __init__(self, *answers: Answer) -> None:
        self.batches: list[list[str]] = []
        self.events: list[dict[str, Any]] = []
        self.invoked = threading.Event()
        self._answers: deque[Answer] = deque(answers)

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        self.batches.append([_key(record) for record in event["Records"]])
        self.invoked.set()
        answer = self._answers.popleft() if self._answers else {"batchItemFailures": []}
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(event)
        return answer


def _key(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["repositoryUrl"]["S"])


def _fail_from(position: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A partial batch response naming the record at ``position`` of the batch."""

    def answer(event: dict[str, Any]) -> dict[str, Any]:
        sequence_number = event["Records"][position]["dynamodb"]["SequenceNumber"]
        return {"batchItemFailures": [{"itemIdentifier": sequence_number}]}

    return answer


@pytest.fixture
def mapping(template: dict[str, Any]) -> StreamMapping:
    return stream_mapping(template)


@pytest.fixture
def streams_client(aws: None) -> Any:
    return boto3.client("dynamodbstreams", region_name=AWS_REGION, config=STREAMS_CONFIG)


EventSourceFactory = Callable[..., DynamoDbStreamEventSource]


@pytest.fixture
def event_source(
    dynamodb_client: Any, streams_client: Any, connections_table: str, mapping: StreamMapping
) -> Iterator[EventSourceFactory]:
    """Builds event sources on the template's table; stops them at the end of the test."""
    built: list[DynamoDbStreamEventSource] = []

    def build(
        function: FakeFunction, poll_interval: float = 0.2, **changes: Any
    ) -> DynamoDbStreamEventSource:
        source = DynamoDbStreamEventSource(
            dynamodb=dynamodb_client,
            streams=streams_client,
            table_name=connections_table,
            invoke=function,
            mapping=dataclasses.replace(mapping, **changes),
            poll_interval=poll_interval,
        )
        built.append(source)
        return source

    yield build
    for source in built:
        source.stop()


@pytest.fixture
def put(dynamodb_client: Any, connections_table: str) -> Callable[..., None]:
    def put_item(key: str, **attributes: str) -> None:
        item = {"repositoryUrl": {"S": key}, **{k: {"S": v} for k, v in attributes.items()}}
        dynamodb_client.put_item(TableName=connections_table, Item=item)

    return put_item


def _deliveries(put: Callable[..., None], count: int, start: int = 1) -> list[str]:
    keys = [f"delivery#c1#d{number:03d}" for number in range(start, start + count)]
    for key in keys:
        put(key, detailType="GitHub push", detail=json.dumps({"deliveryId": key}))
    return keys


def test_the_mapping_is_the_templates_stream_event_of_the_relay(mapping: StreamMapping) -> None:
    # then
    assert mapping.function.logical_id == "PublishDeliveriesFunction"
    assert mapping.function.module == "functions.publish_deliveries.app"
    assert mapping.function.handler == "lambda_handler"
    assert mapping.function.timeout_seconds == 30.0
    assert mapping.table_logical_id == "ConnectionsTable"
    assert (mapping.batch_size, mapping.maximum_retry_attempts) == (20, 20)
    assert mapping.report_batch_item_failures is True
    assert mapping.starting_position == "TRIM_HORIZON"
    assert mapping.filter_patterns == (
        {
            "eventName": ["INSERT", "MODIFY"],
            "dynamodb": {"Keys": {"repositoryUrl": {"S": [{"prefix": "delivery#"}]}}},
        },
    )


def test_a_filter_operator_that_is_not_emulated_is_refused(template: dict[str, Any]) -> None:
    # given the relay's filter using an operator the emulation does not implement
    changed = json.loads(json.dumps(template))
    event = changed["Resources"]["PublishDeliveriesFunction"]["Properties"]["Events"]
    event["RecordedDeliveries"]["Properties"]["FilterCriteria"]["Filters"] = [
        {"Pattern": '{"eventName": [{"anything-but": "REMOVE"}]}'}
    ]

    # when / then
    with pytest.raises(TemplateError, match="anything-but"):
        stream_mapping(changed)


def test_only_delivery_records_are_delivered_in_batches_of_the_batch_size(
    event_source: EventSourceFactory, put: Callable[..., None], dynamodb_client: Any
) -> None:
    # given 45 delivery records among a connection item, a project pointer and a lease, then
    # one delivery re-recorded (MODIFY) and one removed (REMOVE)
    put("https://github.com/acme/widgets", projectId="p1", id="c1")
    first = _deliveries(put, 20)
    put("project#p1", currentRepositoryUrl="https://github.com/acme/widgets")
    rest = _deliveries(put, 25, start=21)
    put("lease#p1", owner="someone")
    put(first[0], detailType="GitHub push", detail="{}")
    dynamodb_client.delete_item(
        TableName="repoconn-test-connections", Key={"repositoryUrl": {"S": first[1]}}
    )
    function = FakeFunction()
    source = event_source(function)

    # when
    delivered = source.drain()

    # then the 45 INSERTs and the MODIFY arrive, in stream order, 20 at a time
    assert delivered == 46
    assert [len(batch) for batch in function.batches] == [20, 20, 6]
    assert [key for batch in function.batches for key in batch] == [*first, *rest, first[0]]
    assert [record["eventName"] for record in function.events[-1]["Records"]][-1] == "MODIFY"


def test_a_record_has_lambdas_event_shape(
    event_source: EventSourceFactory,
    put: Callable[..., None],
    dynamodb_client: Any,
    connections_table: str,
) -> None:
    # given
    [key] = _deliveries(put, 1)
    function = FakeFunction()
    source = event_source(function)

    # when
    source.drain()

    # then
    [event] = function.events
    [record] = event["Records"]
    stream_arn = dynamodb_client.describe_table(TableName=connections_table)["Table"][
        "LatestStreamArn"
    ]
    assert {name: record[name] for name in ("eventName", "eventVersion", "eventSource")} == {
        "eventName": "INSERT",
        "eventVersion": "1.0",
        "eventSource": "aws:dynamodb",
    }
    assert record["awsRegion"] == AWS_REGION
    assert record["eventSourceARN"] == stream_arn
    assert isinstance(record["eventID"], str)
    assert record["dynamodb"]["Keys"] == {"repositoryUrl": {"S": key}}
    assert record["dynamodb"]["NewImage"]["detailType"] == {"S": "GitHub push"}
    assert record["dynamodb"]["StreamViewType"] == "NEW_IMAGE"
    assert isinstance(record["dynamodb"]["SequenceNumber"], str)
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    assert json.loads(json.dumps(event)) == event


def test_a_partial_batch_failure_delivers_the_named_record_and_those_after_it_again(
    event_source: EventSourceFactory, put: Callable[..., None]
) -> None:
    # given five deliveries and a function that publishes only the first two, once
    keys = _deliveries(put, 5)
    function = FakeFunction(_fail_from(2))
    source = event_source(function)

    # when
    delivered = source.drain()

    # then the retry starts at the third record: the first two are not delivered again
    assert function.batches == [keys, keys[2:]]
    assert delivered == 8


def test_the_lowest_named_record_is_where_the_retry_starts(
    event_source: EventSourceFactory, put: Callable[..., None]
) -> None:
    # given a partial batch response naming the fourth and the second record
    keys = _deliveries(put, 5)

    def answer(event: dict[str, Any]) -> dict[str, Any]:
        records = event["Records"]
        return {
            "batchItemFailures": [
                {"itemIdentifier": records[3]["dynamodb"]["SequenceNumber"]},
                {"itemIdentifier": records[1]["dynamodb"]["SequenceNumber"]},
            ]
        }

    function = FakeFunction(answer)

    # when
    event_source(function).drain()

    # then
    assert function.batches == [keys, keys[1:]]


def test_a_handler_error_delivers_the_whole_batch_again(
    event_source: EventSourceFactory, put: Callable[..., None]
) -> None:
    # given a function that fails its first invocation
    keys = _deliveries(put, 3)
    function = FakeFunction(RuntimeError("EventBridge unavailable"))
    source = event_source(function)

    # when
    delivered = source.drain()

    # then
    assert function.batches == [keys, keys]
    assert delivered == 6


def test_an_item_identifier_not_in_the_batch_fails_the_whole_batch(
    event_source: EventSourceFactory, put: Callable[..., None]
) -> None:
    # given a partial batch response naming a record that is not in the batch
    keys = _deliveries(put, 3)
    function = FakeFunction({"batchItemFailures": [{"itemIdentifier": "no-such-record"}]})

    # when
    event_source(function).drain()

    # then
    assert function.batches == [keys, keys]


def test_a_partial_batch_response_is_ignored_without_report_batch_item_failures(
    event_source: EventSourceFactory, put: Callable[..., None]
) -> None:
    # given a mapping without FunctionResponseTypes: ReportBatchItemFailures
    keys = _deliveries(put, 3)
    function = FakeFunction(_fail_from(1))

    # when
    event_source(function, report_batch_item_failures=False).drain()

    # then the answer is not read: the batch counts as done
    assert function.batches == [keys]


def test_a_batch_that_keeps_failing_is_skipped_after_the_maximum_retry_attempts(
    event_source: EventSourceFactory, put: Callable[..., None], caplog: pytest.LogCaptureFixture
) -> None:
    # given a function that fails three times, and at most two retries
    keys = _deliveries(put, 2)
    failure = RuntimeError("still failing")
    function = FakeFunction(failure, failure, failure)
    source = event_source(function, maximum_retry_attempts=2)

    # when
    with caplog.at_level(logging.ERROR, logger="repoconn_local.lambda_host.stream_source"):
        first = source.drain()
    later = _deliveries(put, 1, start=3)
    second = source.drain()

    # then the batch went out three times, was given up and logged; later records still flow
    assert function.batches == [keys, keys, keys, later]
    assert (first, second) == (6, 1)
    [given_up] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "gave up on 2 stream records" in given_up.getMessage()


def test_drain_counts_the_records_delivered_since_the_last_one(
    event_source: EventSourceFactory, put: Callable[..., None]
) -> None:
    # given
    function = FakeFunction()
    source = event_source(function)
    nothing_yet = source.drain()
    _deliveries(put, 3)

    # when
    counts = [source.drain(), source.drain()]

    # then
    assert nothing_yet == 0
    assert counts == [3, 0]


def test_records_written_after_a_cancelled_transaction_are_still_delivered(
    event_source: EventSourceFactory,
    put: Callable[..., None],
    dynamodb_client: Any,
    connections_table: str,
) -> None:
    # given an event source that has read the stream once, and a transaction that is
    # cancelled (moto rolls it back by restoring its tables from a deep copy)
    function = FakeFunction()
    source = event_source(function)
    _deliveries(put, 1)
    assert source.drain() == 1
    with pytest.raises(dynamodb_client.exceptions.TransactionCanceledException):
        dynamodb_client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": connections_table,
                        "Item": {"repositoryUrl": {"S": "delivery#c1#d001"}},
                        "ConditionExpression": "attribute_not_exists(repositoryUrl)",
                    }
                }
            ]
        )

    # when another delivery is recorded
    [later] = _deliveries(put, 1, start=2)

    # then it is delivered: the source does not keep reading the stale copy
    assert source.drain() == 1
    assert function.batches[-1] == [later]


def test_the_background_thread_delivers_new_records_until_stopped(
    event_source: EventSourceFactory, put: Callable[..., None]
) -> None:
    # given a running event source that, once idle, would wait an hour before its next poll
    function = FakeFunction()
    source = event_source(function, poll_interval=3600.0)
    [key] = _deliveries(put, 1)
    source.start()
    assert function.invoked.wait(timeout=30)
    assert source.running

    # when it is stopped while waiting for its next poll
    stopped = threading.Event()
    stopper = threading.Thread(target=lambda: (source.stop(), stopped.set()), daemon=True)
    stopper.start()

    # then stop() does not wait out the poll interval, and its thread is gone
    assert stopped.wait(timeout=30)
    assert function.batches == [[key]]
    assert not source.running
    assert "stream:PublishDeliveriesFunction" not in {t.name for t in threading.enumerate()}
