"""Lambda's DynamoDB stream event source mapping, emulated in-process for ONE function.

In AWS the table's stream reaches ``PublishDeliveriesFunction`` through an event source mapping
(template.yaml: the function's ``Type: DynamoDB`` event). Locally there is no Lambda service, so
``DynamoDbStreamEventSource`` does what the mapping does, as Lambda documents it
(https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html):

- reads every shard of the table's stream in order, a shard's children only after the shard
  itself is done, from the template's ``StartingPosition`` (shards found later: from their
  start);
- drops records no ``FilterCriteria`` pattern matches before batching, as Lambda does (the
  mapping and its patterns, as read from the template: stream_mapping);
- invokes the function with Lambda's event shape, at most ``BatchSize`` records a batch, one
  batch per shard at a time;
- with ``ReportBatchItemFailures``, a partial batch response moves the checkpoint to the first
  record named (an identifier not in the batch, or an empty one, fails the whole batch, as
  Lambda does); a handler error fails the whole batch. A failed batch is retried from its
  checkpoint at the next poll; after ``MaximumRetryAttempts`` retries of the same first record
  the batch is logged and skipped.

Known differences: no ``MaximumBatchingWindowInSeconds`` wait (a poll takes what is there),
no ``BisectBatchOnFunctionError`` (the whole batch is retried), no ``MaximumRecordAgeInSeconds``
(the embedded table lives minutes, not a day), and a skipped batch is only logged, not sent to
the ``OnFailure`` destination. Retries follow the poll interval, not Lambda's backoff. Without a
``MaximumRetryAttempts`` (Lambda's default: retry until the record expires) a batch is given up
after ``LOCAL_RETRY_ATTEMPTS``: a local run must not spin on one record forever.

It runs in a background thread (``start``/``stop``) and can be driven synchronously
(``drain``), which is how tests wait for the stream instead of sleeping. It needs only boto3
clients and an ``invoke`` callable, so tests use it on in-process moto too; ``from_template``
builds it for the local stack, invoking the handler in a warm environment (function_host).
"""

from __future__ import annotations

import base64
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from repoconn_local.aws.embedded import (
    CONNECTIONS_TABLE_LOGICAL_ID,
    EmbeddedAwsResources,
)
from repoconn_local.aws.template_schema import DEFAULT_TEMPLATE_PATH, load_template
from repoconn_local.lambda_host.function_host import FunctionHost, Outcome
from repoconn_local.lambda_host.functions import TemplateError
from repoconn_local.lambda_host.stream_mapping import StreamMapping, stream_mapping

logger = logging.getLogger("repoconn_local.lambda_host.stream_source")

Invoke = Callable[[dict[str, Any]], Any]

DEFAULT_POLL_INTERVAL_SECONDS = 0.2
# GetRecords answers at most 1000 records a call.
_GET_RECORDS_LIMIT = 1000
# Beyond the function's own timeout, how long an invocation may wait for the function's warm
# environment (busy with a timed-out invocation, which a thread cannot end).
_ENVIRONMENT_WAIT_SECONDS = 5.0
# For the dynamodbstreams client: botocore 1.44 sends calls that carry a StreamArn to an
# account-based host (<account>.streams-ddb.<region>.amazonaws.com), which moto 5.2.5 does not
# route ("Not yet implemented"); both mock_aws and moto's server accept the regional host.
STREAMS_CONFIG = Config(account_id_endpoint_mode="disabled")


class FunctionError(RuntimeError):
    """The function failed an invocation (an error, a timeout): the whole batch is retried."""


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    iterator: str | None
    # Matching records read from the stream and not yet acknowledged, in stream order.
    pending: deque[dict[str, Any]] = field(default_factory=deque)
    last_read: str | None = None  # sequence number, to renew an expired iterator
    caught_up: bool = False  # the last read found nothing new
    failures: int = 0  # failed invocations of batches that began with the first pending record

    @property
    def done(self) -> bool:
        """Closed (no iterator) and nothing left to deliver: its children may start."""
        return self.iterator is None and not self.pending


class DynamoDbStreamEventSource:
    """Delivers a table's stream to ``invoke`` as Lambda's event source mapping would."""

    def __init__(
        self,
        *,
        dynamodb: Any,
        streams: Any,
        table_name: str,
        invoke: Invoke,
        mapping: StreamMapping,
        poll_interval: float = DEFAULT_POLL_INTERVAL_SECONDS,
    ) -> None:
        """``streams`` is a ``dynamodbstreams`` client made with ``STREAMS_CONFIG``."""
        self.mapping = mapping
        self._dynamodb = dynamodb
        self._streams = streams
        self._table_name = table_name
        self._invoke = invoke
        self._poll_interval = poll_interval
        self._stream_arn: str | None = None
        # Shards being read; a shard is dropped (and remembered as finished) once done.
        self._shards: dict[str, _Shard] = {}
        self._finished: set[str] = set()
        # One pass at a time: Lambda runs one batch per shard at a time, in order.
        self._pass_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_template(
        cls,
        resources: EmbeddedAwsResources,
        template_path: str | Path | None = None,
        *,
        parameter_overrides: Mapping[str, str] | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL_SECONDS,
    ) -> DynamoDbStreamEventSource:
        """The template's stream function on the embedded AWS's table, invoked in-process."""
        path = Path(template_path or DEFAULT_TEMPLATE_PATH).resolve()
        mapping = stream_mapping(load_template(path), parameter_overrides)
        if mapping.table_logical_id != CONNECTIONS_TABLE_LOGICAL_ID:
            raise TemplateError(
                f"{mapping.function.logical_id} reads the stream of {mapping.table_logical_id}; "
                f"the embedded AWS holds only {CONNECTIONS_TABLE_LOGICAL_ID}"
            )
        host = FunctionHost(mapping.function, path.parent, resources.region)
        return cls(
            dynamodb=resources.client("dynamodb"),
            streams=resources.client("dynamodbstreams", STREAMS_CONFIG),
            table_name=resources.table_name,
            invoke=lambda event: invoke_function(host, event),
            mapping=mapping,
            poll_interval=poll_interval,
        )

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the stream event source is already running")
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._poll,
            name=f"stream:{self.mapping.function.logical_id}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop polling; a batch being delivered finishes first. Safe to call more than once."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def drain(self, *, retry: bool = True) -> int:
        """Deliver everything in the stream now; how many records were handed to the function
        (a record delivered twice counts twice). With ``retry``, failed batches are retried
        at once, without waiting for a poll interval, until every record was acknowledged or
        given up; without, each pending batch gets one attempt and a failed one waits for
        the next drain or poll (as Lambda waits before it retries)."""
        delivered = 0
        with self._pass_lock:
            while True:
                count, settled = self._pass(stop=None)
                delivered += count
                if settled or not retry:
                    return delivered

    # ------------------------------------------------------------------ polling

    def _poll(self) -> None:
        while not self._stopping.is_set():
            try:
                with self._pass_lock:
                    self._pass(stop=self._stopping)
            except Exception:
                # Like Lambda's poller: an AWS error is retried at the next poll.
                logger.exception("reading the stream of %s failed", self._table_name)
            self._stopping.wait(self._poll_interval)

    def _pass(self, stop: threading.Event | None) -> tuple[int, bool]:
        """One visit to every ready shard: read, invoke until caught up or a batch fails.
        Returns the records delivered and whether the stream is settled (nothing pending)."""
        self._discover_shards()
        delivered = 0
        for shard in list(self._shards.values()):
            if not self._ready(shard):
                continue
            if shard.iterator is not None and shard.last_read is not None:
                # A fresh iterator after the last record read, each pass: moto rolls a
                # cancelled transaction back by restoring its tables from a deep copy, and an
                # iterator taken before that reads the old copy's shard, which never grows.
                shard.iterator = self._renewed_iterator(shard)
            while stop is None or not stop.is_set():
                self._read(shard)
                if not shard.pending:
                    break
                count, ok = self._deliver(shard)
                delivered += count
                if not ok:
                    break  # retried at the next pass, as Lambda retries after a failure
            if shard.done:
                del self._shards[shard.shard_id]
                self._finished.add(shard.shard_id)
        settled = all(
            shard.caught_up and not shard.pending
            for shard in self._shards.values()
            if self._ready(shard)
        )
        return delivered, settled

    def _discover_shards(self) -> None:
        first = self._stream_arn is None
        if self._stream_arn is None:
            table = self._dynamodb.describe_table(TableName=self._table_name)["Table"]
            if "LatestStreamArn" not in table:
                raise TemplateError(f"table {self._table_name} has no stream")
            self._stream_arn = str(table["LatestStreamArn"])
        request: dict[str, Any] = {"StreamArn": self._stream_arn}
        while True:
            description = self._streams.describe_stream(**request)["StreamDescription"]
            for shard in description.get("Shards", []):
                shard_id = shard["ShardId"]
                if shard_id in self._shards or shard_id in self._finished:
                    continue
                # Shards there at the start begin at StartingPosition; later ones (children
                # of a split or a closed shard) at their first record, as Lambda reads them.
                position = self.mapping.starting_position if first else "TRIM_HORIZON"
                iterator = self._streams.get_shard_iterator(
                    StreamArn=self._stream_arn, ShardId=shard_id, ShardIteratorType=position
                )["ShardIterator"]
                self._shards[shard_id] = _Shard(shard_id, shard.get("ParentShardId"), iterator)
            last = description.get("LastEvaluatedShardId")
            if not last:
                return
            request["ExclusiveStartShardId"] = last

    def _ready(self, shard: _Shard) -> bool:
        """A child shard is read only once its parent is done (or trimmed away)."""
        return shard.parent_id is None or shard.parent_id not in self._shards

    def _read(self, shard: _Shard) -> None:
        """Read until a batch's worth of matching records is pending or the shard has nothing
        new. Records no filter matches are dropped here: Lambda never delivers them."""
        shard.caught_up = False
        while shard.iterator is not None and len(shard.pending) < self.mapping.batch_size:
            try:
                answer = self._streams.get_records(
                    ShardIterator=shard.iterator, Limit=_GET_RECORDS_LIMIT
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ExpiredIteratorException":
                    raise
                shard.iterator = self._renewed_iterator(shard)
                continue
            records = answer.get("Records", [])
            shard.iterator = answer.get("NextShardIterator")
            for record in records:
                shard.last_read = record["dynamodb"]["SequenceNumber"]
                event_record = self._event_record(record)
                if self.mapping.matches(event_record):
                    shard.pending.append(event_record)
            if not records:
                shard.caught_up = True
                return
        shard.caught_up = shard.iterator is None

    def _renewed_iterator(self, shard: _Shard) -> str:
        """Iterators expire (15 minutes in AWS): continue after the last record read."""
        assert self._stream_arn is not None
        request: dict[str, Any] = {"StreamArn": self._stream_arn, "ShardId": shard.shard_id}
        if shard.last_read is None:
            request["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            request["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
            request["SequenceNumber"] = shard.last_read
        return str(self._streams.get_shard_iterator(**request)["ShardIterator"])

    def _deliver(self, shard: _Shard) -> tuple[int, bool]:
        """Invoke the function with the next batch; (records delivered, whether it succeeded)."""
        batch = list(itertools.islice(shard.pending, self.mapping.batch_size))
        name = self.mapping.function.logical_id
        try:
            response = self._invoke({"Records": batch})
        except Exception:
            logger.warning(
                "%s failed a batch of %d records; it is retried", name, len(batch), exc_info=True
            )
            retry_from: int | None = 0
        else:
            retry_from = self._retry_from(response, batch)
        if retry_from is None:
            for _ in batch:
                shard.pending.popleft()
            shard.failures = 0
            return len(batch), True
        for _ in range(retry_from):
            shard.pending.popleft()
        # Attempts count per first record: progress within a batch starts a new count.
        shard.failures = 1 if retry_from > 0 else shard.failures + 1
        if shard.failures > self.mapping.maximum_retry_attempts:
            failed = batch[retry_from:]
            for _ in failed:
                shard.pending.popleft()
            shard.failures = 0
            logger.error(
                "%s: gave up on %d stream records (sequence numbers %s to %s) after %d "
                "retries; in AWS they would go to the mapping's OnFailure destination",
                name,
                len(failed),
                _sequence_number(failed[0]),
                _sequence_number(failed[-1]),
                self.mapping.maximum_retry_attempts,
            )
            return len(batch), True
        return len(batch), False

    def _retry_from(self, response: Any, batch: Sequence[dict[str, Any]]) -> int | None:
        """Where in the batch Lambda would retry from: None for success, 0 for all of it.

        Lambda's rules for a partial batch response: no response, no list or an empty list is
        success; an empty, missing or unknown itemIdentifier fails the whole batch; otherwise
        the checkpoint is the lowest sequence number named.
        """
        if not self.mapping.report_batch_item_failures or not isinstance(response, Mapping):
            return None
        failures = response.get("batchItemFailures")
        if not failures:
            return None
        positions = {_sequence_number(record): index for index, record in enumerate(batch)}
        named: list[int] = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
            if not isinstance(identifier, str) or identifier not in positions:
                logger.warning(
                    "%s named a batch item that is not in the batch; the whole batch is retried",
                    self.mapping.function.logical_id,
                )
                return 0
            named.append(positions[identifier])
        return min(named)

    # ------------------------------------------------------------------ records

    def _event_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A GetRecords record as Lambda hands it over: JSON (epoch seconds, base64 binaries)
        plus ``eventSourceARN``."""
        as_json: dict[str, Any] = _json_value(record)
        as_json["eventSourceARN"] = self._stream_arn
        return as_json


def invoke_function(host: FunctionHost, event: dict[str, Any]) -> Any:
    """Invoke the function's warm environment as a stream mapping does: synchronously, with
    the function's own timeout; any failure raises (Lambda retries the whole batch)."""
    invocation = host.invoke(event, host.spec.timeout_seconds + _ENVIRONMENT_WAIT_SECONDS)
    if invocation.outcome is Outcome.OK:
        return invocation.payload
    if invocation.outcome is Outcome.FAILED:
        raise FunctionError(f"{host.spec.logical_id}: unhandled error") from invocation.error
    raise FunctionError(f"{host.spec.logical_id}: {invocation.outcome.value}")


def _sequence_number(record: Mapping[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # Lambda: ApproximateCreationDateTime in epoch seconds.
        return int(value.timestamp())
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(key): _json_value(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_value(inner) for inner in value]
    return value
