"""2. Warm latency and 3. calls per operation.

Warm latency: get, exists and upsert through their real ``lambda_handler`` in this process,
against DynamoDB Local (table), a moto server (KMS) and the provider simulator, each in its
own process. Baselines on the same backend from the same process: one raw boto3 GSI
``Query`` (Limit 1) for the reads, one raw ``PutItem`` of a connection-sized item for the
writes. Every iteration runs the operations and their baseline back to back in a shuffled
order; a round is ``per_round`` iterations; ratios are per round, then median and spread.

Calls per operation: AWS operations seen by a botocore ``before-call`` hook (every client in
this process) and provider requests from the simulator's log, for one call of each operation
on warm handlers.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Callable
from typing import Any

from bench import stats
from bench.backends import Endpoints, client
from bench.inprocess import (
    PROJECT_INDEX,
    AwsCallLog,
    Call,
    NewConnections,
    counts,
    expect,
    github_delivery,
    read_call,
    receive_call,
    sim_requests,
    timed,
    unique_push_payload,
    upsert_call,
)
from tests.support.simulator_control import SimulatorControl

TARGET_READ_RATIO = 1.3
EXPECTED = {
    # The index Query, then the connection's lastDeliveryAt from its delivery log (issue 16).
    "get": {"dynamodb": 2, "dynamodb.Query": 1, "dynamodb.GetItem": 1, "kms": 0},
    "exists": {"dynamodb": 1, "kms": 0},
    # A data key per secret field (cipher format 2): the token and the webhook secret; a
    # reconnect also opens the secret it rotates out and seals it again as the previous one.
    "upsert_first_connect": {"kms": 2, "kms.GenerateDataKey": 2},
    "upsert_same_repository_reconnect": {"kms": 4, "kms.Decrypt": 1, "kms.GenerateDataKey": 3},
    "receive_cold_cache": {"kms": 1, "kms.Decrypt": 1},
    # One write per warm delivery; publishing is the relay's (the receiver section measures it).
    "receive_warm": {"kms": 0, "dynamodb": 1, "dynamodb.PutItem": 1, "eventbridge": 0},
}


def _repository(name: str) -> str:
    return f"https://github.com/bench-warm/{name}"


def _connect(project_id: str, repository: str) -> dict[str, Any]:
    response = expect(upsert_call(project_id, repository)(), 200, 201)
    body: dict[str, Any] = json.loads(response["body"])
    return body


def _raw_query(ddb: Any, table: str, project_id: str) -> Callable[[], object]:
    def query() -> object:
        return ddb.query(
            TableName=table,
            IndexName=PROJECT_INDEX,
            KeyConditionExpression="projectId = :p",
            ExpressionAttributeValues={":p": {"S": project_id}},
            Limit=1,
        )

    return query


def _raw_put(ddb: Any, table: str) -> Callable[[], object]:
    blob = os.urandom(300)

    def put() -> object:
        key = uuid.uuid4().hex
        return ddb.put_item(
            TableName=table,
            Item={
                "repositoryUrl": {"S": f"https://github.com/bench-raw/{key}"},
                "id": {"S": key},
                "projectId": {"S": f"raw-{key}"},
                "serviceType": {"S": "GitHub"},
                "accessToken": {"B": blob},
                "webhookSecret": {"B": blob},
                "webhookId": {"S": "490000001"},
                "isActive": {"BOOL": True},
                "createdAt": {"S": "2026-01-01T00:00:00.000000+0000"},
                "updatedAt": {"S": "2026-01-01T00:00:00.000000+0000"},
            },
        )

    return put


def _interleaved(
    operations: dict[str, Callable[[int], Callable[[], object]]],
    rounds: int,
    per_round: int,
    seed: int,
) -> dict[str, list[list[float]]]:
    """name → per-round latency samples (seconds); ``operations[name](i)`` makes call ``i``."""
    shuffle = random.Random(seed)  # noqa: S311 - run order, not security
    samples: dict[str, list[list[float]]] = {name: [] for name in operations}
    names = list(operations)
    index = 0
    for _ in range(rounds):
        for name in names:
            samples[name].append([])
        for _ in range(per_round):
            shuffle.shuffle(names)
            for name in names:
                samples[name][-1].append(timed(operations[name](index)))
            index += 1
    return samples


def _latency(samples: dict[str, list[list[float]]], baseline: str) -> dict[str, Any]:
    section: dict[str, Any] = {}
    for name, rounds in samples.items():
        section[name] = {
            "latency_ms": stats.summary(stats.flatten(rounds), scale=1000),
            "p50_ratio": stats.round_ratios(rounds, samples[baseline], 0.5),
            "p99_ratio": stats.round_ratios(rounds, samples[baseline], 0.99),
        }
    return section


def _calls(log: AwsCallLog, simulator: str, call: Call, *allowed: int) -> dict[str, Any]:
    log.clear()
    SimulatorControl(simulator).clear_requests()
    with NewConnections() as connections:
        expect(call(), *allowed)
    found = counts(log)
    return {
        "aws": found,
        "provider": sim_requests(simulator),
        "new_tcp_connections": len(connections.opened),
    }


def _check(name: str, observed: dict[str, Any]) -> dict[str, Any]:
    aws = observed["aws"]
    actual: dict[str, int] = {}
    for key in EXPECTED.get(name, {}):
        service, _, operation = key.partition(".")
        ops = aws.get(service, {})
        actual[key] = ops.get(operation, 0) if operation else sum(ops.values())
    return {"expected": EXPECTED.get(name, {}), "actual": actual, "ok": actual == EXPECTED[name]}


def run(endpoints: Endpoints, log: AwsCallLog, options: dict[str, Any]) -> dict[str, Any]:
    table = os.environ["TABLE_NAME"]
    rounds, per_round = options["rounds"], options["per_round"]
    write_rounds, write_per_round = options["write_rounds"], options["write_per_round"]
    ddb = client("dynamodb", endpoints.dynamodb)
    projects = [f"warm-{n}" for n in range(20)]
    for n, project_id in enumerate(projects):
        _connect(project_id, _repository(f"repo-{n}"))

    def read(name: str) -> Callable[[int], Callable[[], object]]:
        calls = {p: read_call(name, p) for p in projects}
        return lambda i: calls[projects[i % len(projects)]]

    raw_queries = {p: _raw_query(ddb, table, p) for p in projects}
    reads: dict[str, Callable[[int], Callable[[], object]]] = {
        "raw_gsi_query": lambda i: raw_queries[projects[i % len(projects)]],
        "get": read("get"),
        "exists": read("exists"),
    }
    _interleaved(reads, 1, options["warmup"], seed=1)  # JIT of DynamoDB Local, caches
    read_samples = _interleaved(reads, rounds, per_round, seed=2)

    raw_put = _raw_put(ddb, table)
    reconnects = {p: upsert_call(p, _repository(f"repo-{n}")) for n, p in enumerate(projects)}
    first = iter(range(1_000_000))

    def first_connect(_: int) -> Callable[[], object]:
        n = next(first)
        return upsert_call(f"first-{n}", _repository(f"first-{n}"))

    writes: dict[str, Callable[[int], Callable[[], object]]] = {
        "raw_put_item": lambda i: raw_put,
        "upsert_reconnect": lambda i: reconnects[projects[i % len(projects)]],
        "upsert_first_connect": first_connect,
    }
    _interleaved(writes, 1, options["write_warmup"], seed=3)
    write_samples = _interleaved(writes, write_rounds, write_per_round, seed=4)

    # Calls per operation, on warm handlers.
    project = projects[0]
    secret_probe = f"calls-{uuid.uuid4().hex[:8]}"
    calls = {
        "get": _calls(log, endpoints.simulator, read_call("get", project), 200),
        "exists": _calls(log, endpoints.simulator, read_call("exists", project), 200),
        "upsert_first_connect": _calls(
            log, endpoints.simulator, upsert_call(secret_probe, _repository(secret_probe)), 201
        ),
        "upsert_same_repository_reconnect": _calls(
            log, endpoints.simulator, upsert_call(project, _repository("repo-0")), 200
        ),
    }
    # The receiver on a connection made once (no previous secret in its grace window): the
    # first delivery decrypts the webhook secret, the next ones use the container's cache.
    fresh = _connect(f"{secret_probe}-receiver", _repository(f"{secret_probe}-receiver"))["id"]
    secret = str(SimulatorControl(endpoints.simulator).hook_of(fresh)["secret"])

    def delivery() -> Call:
        body = unique_push_payload()  # equal bodies are one delivery
        return receive_call(fresh, github_delivery(secret, body), body)

    calls["receive_cold_cache"] = _calls(log, endpoints.simulator, delivery(), 202)
    calls["receive_warm"] = _calls(log, endpoints.simulator, delivery(), 202)
    checks = {name: _check(name, calls[name]) for name in EXPECTED}

    latency = {
        "reads": _latency(read_samples, "raw_gsi_query"),
        "writes": _latency(write_samples, "raw_put_item"),
    }
    targets = {
        name: {
            "metric": "p50 ratio to the raw GSI query, median of rounds",
            "target": f"<= {TARGET_READ_RATIO}",
            "value": latency["reads"][name]["p50_ratio"]["median"],
            "met": latency["reads"][name]["p50_ratio"]["median"] <= TARGET_READ_RATIO,
        }
        for name in ("get", "exists")
    }
    return {
        "rounds": {
            "reads": [rounds, per_round],
            "writes": [write_rounds, write_per_round],
        },
        "latency": latency,
        "calls": calls,
        "call_checks": checks,
        "calls_ok": all(check["ok"] for check in checks.values()),
        "targets": targets,
    }
