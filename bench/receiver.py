"""5. Receiver: verified GitHub deliveries per second in one warm container; then the relay.

The real ``lambda_handler`` of POST /webhooks/{connectionId} in this process, one delivery
after another (a container serves one request at a time), each a signed push of a few KB
with its own delivery id, against DynamoDB Local. Baseline in the same run: a bare loop of
HMAC-SHA256 verification + ``json.loads`` of the same bodies; and the floor of any receiver
that records a delivery before it answers: a raw boto3 ``PutItem`` of the same record (same
attributes and sizes, a new key each time, the same condition), from this process to the
same DynamoDB Local.

Both are timed per round by the wall clock and by this process's CPU time. The wall-clock
rate includes waiting for DynamoDB Local (one PutItem per warm delivery, a loopback round
trip to another process); the CPU rate is what the container itself spends per delivery,
i.e. its rate if its dependencies answered instantly. Peak memory: tracemalloc's peak above
the level before the loop (a separate pass, as tracing slows everything down) and the
process's max RSS before and after the timed rounds.

Then the relay (PublishDeliveriesFunction's real handler, in this process) is handed every
delivery recorded above through DynamoDB Local's stream, in the template's batches, as the
event source mapping would, publishing to moto's EventBridge: deliveries published per
second, wall clock and CPU, and its AWS calls per delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import os
import resource
import time
import tracemalloc
import uuid
from collections.abc import Callable
from typing import Any

from repoconn_core.receive import replay_key
from repoconn_local.aws.template_schema import load_template
from repoconn_local.lambda_host.context import LocalLambdaContext
from repoconn_local.lambda_host.stream_mapping import stream_mapping
from repoconn_local.lambda_host.stream_source import STREAMS_CONFIG, DynamoDbStreamEventSource

from bench import stats
from bench.backends import Endpoints, client
from bench.inprocess import (
    AwsCallLog,
    Call,
    expect,
    github_delivery,
    push_payload,
    receive_call,
    unique_push_payload,
    upsert_call,
)
from tests.support.simulator_control import SimulatorControl

TARGET_PER_SECOND = 500


def _deliveries(connection_id: str, secret: str, count: int) -> list[Call]:
    """``count`` new deliveries: a body of their own each (equal bodies are one delivery)."""
    calls = []
    for _ in range(count):
        body = unique_push_payload()
        calls.append(receive_call(connection_id, github_delivery(secret, body), body))
    return calls


def _bare(secret: bytes, signatures: list[tuple[bytes, str]]) -> None:
    for body, signature in signatures:
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise AssertionError("baseline signature mismatch")
        json.loads(body)


def _raw_puts(ddb: Any, template: dict[str, Any], count: int) -> Callable[[], None]:
    """``count`` raw PutItems of the recorded delivery ``template``, each under a new key."""
    table = os.environ["TABLE_NAME"]
    items = [
        {**template, "repositoryUrl": {"S": f"delivery#raw-put#{uuid.uuid4()}"}}
        for _ in range(count)
    ]

    def run() -> None:
        for item in items:
            ddb.put_item(
                TableName=table,
                Item=item,
                ConditionExpression="attribute_not_exists(repositoryUrl) OR expiresAt < :now",
                ExpressionAttributeValues={":now": {"N": str(int(time.time()))}},
            )

    return run


def _timed(run: Any) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def _run_all(calls: list[Call]) -> None:
    for call in calls:
        response = call()
        if response["statusCode"] != 202:
            raise RuntimeError(f"delivery not accepted: {response}")


def _max_rss_kib() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _relay(endpoints: Endpoints, log: AwsCallLog, recorded: int) -> dict[str, Any]:
    """Hand the stream to the relay's handler until it is caught up; its rate and calls."""
    handler = importlib.import_module("functions.publish_deliveries.app").lambda_handler
    answers: list[Any] = []
    # The function's own calls; the mapping's stream reads (DescribeTable, GetRecords...) are
    # Lambda's, made between invocations.
    function_calls: list[tuple[str, str]] = []

    def invoke(event: dict[str, Any]) -> Any:
        before = len(log.calls)
        answer = handler(event, LocalLambdaContext(function_name="bench-publish-deliveries"))
        function_calls.extend(log.calls[before:])
        answers.append(answer)
        return answer

    source = DynamoDbStreamEventSource(
        dynamodb=client("dynamodb", endpoints.dynamodb),
        streams=client("dynamodbstreams", endpoints.dynamodb, config=STREAMS_CONFIG),
        table_name=os.environ["TABLE_NAME"],
        invoke=invoke,
        mapping=stream_mapping(load_template()),
    )
    log.clear()
    wall, cpu = time.perf_counter(), time.process_time()
    handed = source.drain()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    calls: dict[str, dict[str, int]] = {}
    for service, operation in function_calls:
        calls.setdefault(service, {}).setdefault(operation, 0)
        calls[service][operation] += 1
    return {
        "records_handed": handed,
        "deliveries_recorded": recorded,
        "invocations": len(answers),
        "batch_failures": sum(len(a.get("batchItemFailures") or []) for a in answers),
        "per_second_wall": handed / wall,
        "per_second_cpu": handed / cpu,
        "aws_calls_per_delivery": {
            service: {op: n / handed for op, n in ops.items()} for service, ops in calls.items()
        },
    }


def run(endpoints: Endpoints, log: AwsCallLog, options: dict[str, Any]) -> dict[str, Any]:
    rounds, per_round = options["rounds"], options["per_round"]
    created = json.loads(
        expect(upsert_call("receiver-0", "https://github.com/bench-receiver/repo-0")(), 201)["body"]
    )
    connection_id = created["id"]
    secret = str(SimulatorControl(endpoints.simulator).hook_of(connection_id)["secret"])
    body = push_payload()
    bare_input = [
        (body, "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest())
    ] * per_round

    _run_all(_deliveries(connection_id, secret, options["warmup"]))  # cache, JIT, pools
    # One recorded delivery, read back raw: the template of the raw-PutItem floor.
    _run_all([receive_call(connection_id, github_delivery(secret, body), body)])
    ddb = client("dynamodb", endpoints.dynamodb)
    sample = ddb.get_item(
        TableName=os.environ["TABLE_NAME"],
        Key={"repositoryUrl": {"S": f"delivery#{connection_id}#{replay_key(body)}"}},
        ConsistentRead=True,
    )["Item"]
    _raw_puts(ddb, sample, options["warmup"])()
    raw_batches = [_raw_puts(ddb, sample, per_round) for _ in range(rounds)]
    batches = [_deliveries(connection_id, secret, per_round) for _ in range(rounds)]
    rss_before = _max_rss_kib()
    handler_wall: list[float] = []
    handler_cpu: list[float] = []
    bare_wall: list[float] = []
    bare_cpu: list[float] = []
    floor_wall: list[float] = []
    floor_cpu: list[float] = []
    # The handler's own AWS calls (the floor's raw PutItems are left out).
    handler_calls: list[tuple[str, str]] = []
    handler_seconds: dict[str, list[float]] = {}
    for batch, raw_batch in zip(batches, raw_batches, strict=True):
        wall, cpu = _timed(lambda: _bare(secret.encode(), bare_input))
        bare_wall.append(wall)
        bare_cpu.append(cpu)
        wall, cpu = _timed(raw_batch)
        floor_wall.append(wall)
        floor_cpu.append(cpu)
        log.clear()
        wall, cpu = _timed(lambda: _run_all(batch))  # noqa: B023
        handler_wall.append(wall)
        handler_cpu.append(cpu)
        handler_calls.extend(log.calls)
        for (service, operation), values in log.seconds.items():
            handler_seconds.setdefault(f"{service} {operation}", []).extend(values)
    rss_after = _max_rss_kib()
    aws_mean_ms = {name: 1000 * sum(v) / len(v) for name, v in handler_seconds.items()}
    aws_per_delivery: dict[str, dict[str, float]] = {}
    for service, operation in handler_calls:
        ops = aws_per_delivery.setdefault(service, {})
        ops[operation] = ops.get(operation, 0) + 1 / (rounds * per_round)

    memory_batch = _deliveries(connection_id, secret, options["memory_deliveries"])
    tracemalloc.start()
    baseline_current, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    _run_all(memory_batch)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    recorded = options["warmup"] + rounds * per_round + len(memory_batch)
    relay = _relay(endpoints, log, recorded)

    def rate(seconds: list[float]) -> dict[str, Any]:
        return stats.summary([per_round / s for s in seconds])

    wall_ratio = stats.ratio([h / b for h, b in zip(handler_wall, bare_wall, strict=True)])
    cpu_ratio = stats.ratio([h / b for h, b in zip(handler_cpu, bare_cpu, strict=True)])
    wall_rate, cpu_rate = rate(handler_wall), rate(handler_cpu)
    return {
        "rounds": [rounds, per_round],
        "body_bytes": len(body),
        "handler_per_second_wall": wall_rate,
        "handler_per_second_cpu": cpu_rate,
        "baseline_per_second_wall": rate(bare_wall),
        "baseline_per_second_cpu": rate(bare_cpu),
        "cost_ratio_wall": wall_ratio,
        "cost_ratio_cpu": cpu_ratio,
        "floor_per_second_wall": rate(floor_wall),
        "floor_per_second_cpu": rate(floor_cpu),
        "floor_ratio_wall": stats.ratio(
            [h / f for h, f in zip(handler_wall, floor_wall, strict=True)]
        ),
        "floor_ratio_cpu": stats.ratio(
            [h / f for h, f in zip(handler_cpu, floor_cpu, strict=True)]
        ),
        "aws_calls_per_delivery": aws_per_delivery,
        "relay": relay,
        "aws_call_mean_ms": aws_mean_ms,
        "memory": {
            "deliveries": len(memory_batch),
            "tracemalloc_peak_above_start_kib": (peak - baseline_current) / 1024,
            "tracemalloc_retained_after_kib": (current - baseline_current) / 1024,
            "max_rss_before_kib": rss_before,
            "max_rss_after_kib": rss_after,
            "max_rss_growth_kib": rss_after - rss_before,
        },
        "targets": {
            "receiver_wall": {
                "metric": "deliveries/s per warm container, wall clock, local backends",
                "target": f">= {TARGET_PER_SECOND}",
                "value": wall_rate["p50"],
                "met": wall_rate["p50"] >= TARGET_PER_SECOND,
            },
            "receiver_cpu": {
                "metric": "deliveries/s per warm container, CPU time of the container",
                "target": f">= {TARGET_PER_SECOND}",
                "value": cpu_rate["p50"],
                "met": cpu_rate["p50"] >= TARGET_PER_SECOND,
            },
        },
    }
