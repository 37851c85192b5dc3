"""4. Scale: get and exists latency with 10, 1,000, 10,000 and 100,000 stored connections on
DynamoDB Local.

One table per level, each bulk-loaded with ``batch_write_item`` (25 items a request, a few
threads, timed) with connection items in the attribute format the store writes
(ciphertext-sized secret blobs, ISO 8601 UTC timestamps, one project each), so every one of
them is in ``projectId-index``. Project and connection pointers are not loaded: neither read
route touches them, and they never enter the GSI. The level tables have no stream (the
webhook outbox): reads never use it, and DynamoDB Local's stream bookkeeping would make the
bulk load many times slower. A level whose projected load time does not fit the time budget
left is skipped, and the report says so.

Each level is then served by its own warm "container": a spawned interpreter whose handlers
are wired (TABLE_NAME) to that level's table. Rounds go to the containers in a shuffled
order, one container busy at a time, so drift on the machine and DynamoDB Local's JIT affect
every level alike. In a round a container calls get and exists through the real handlers for
projects picked at random among those stored, interleaved with the raw boto3 GSI query on the
same projects. Flatness: the handlers' p50 at the largest level reached over their p50 at
the smallest, over all rounds (the per-round ratios give the spread).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

from bench import stats
from bench.backends import Endpoints, apply_environment, client, create_table, service_environment
from bench.inprocess import PROJECT_INDEX, AwsCallLog

TARGET_FLAT_RATIO = 1.2
BATCH = 25
TIMESTAMP = "2026-01-01T00:00:00.000000+0000"
NAMES = ("raw_gsi_query", "get", "exists")


def _table(level: int) -> str:
    return f"bench-scale-{level}"


def _item(n: int, blob: bytes) -> dict[str, Any]:
    return {
        "repositoryUrl": {"S": f"https://github.com/bench-scale/repo-{n}"},
        "id": {"S": str(uuid.UUID(int=n))},
        "projectId": {"S": f"scale-{n}"},
        "serviceType": {"S": "GitHub"},
        "accessToken": {"B": blob},
        "webhookSecret": {"B": blob},
        "webhookId": {"S": str(490_000_000 + n)},
        "isActive": {"BOOL": True},
        "lastSyncAt": {"S": TIMESTAMP},
        "createdAt": {"S": TIMESTAMP},
        "updatedAt": {"S": TIMESTAMP},
    }


def _load(ddb: Any, table: str, count: int, threads: int) -> None:
    blob = os.urandom(300)

    def write(first: int) -> None:
        requests = [
            {"PutRequest": {"Item": _item(n, blob)}}
            for n in range(first, min(first + BATCH, count))
        ]
        pending: dict[str, Any] = {table: requests}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, range(0, count, BATCH)))


# The per-level container ----------------------------------------------------------------------


def _container(connection: Connection, endpoints_json: str, level: int) -> None:
    """A warm container wired to one level's table; measures on request, one round at a time."""
    endpoints = Endpoints.from_json(endpoints_json)
    apply_environment(service_environment(endpoints, _table(level)))
    warnings.filterwarnings("ignore", "No application metrics to publish")
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Powertools' output, for the process's life
    from bench.inprocess import expect, read_call, timed

    ddb = client("dynamodb", endpoints.dynamodb)
    pick = random.Random(level)  # noqa: S311 - which projects to read, not security
    probe = expect(read_call("get", f"scale-{level - 1}")(), 200)
    if str(uuid.UUID(int=level - 1)) not in probe["body"]:
        raise RuntimeError(f"get did not return the loaded item: {probe}")
    while True:
        count = connection.recv()
        if count is None:
            return
        samples: dict[str, list[float]] = {name: [] for name in NAMES}
        for _ in range(count):
            project_id = f"scale-{pick.randrange(level)}"
            calls: dict[str, Callable[[], object]] = {
                "get": read_call("get", project_id),
                "exists": read_call("exists", project_id),
                "raw_gsi_query": partial(
                    ddb.query,
                    TableName=_table(level),
                    IndexName=PROJECT_INDEX,
                    KeyConditionExpression="projectId = :p",
                    ExpressionAttributeValues={":p": {"S": project_id}},
                    Limit=1,
                ),
            }
            order = list(NAMES)
            pick.shuffle(order)
            for name in order:
                samples[name].append(timed(calls[name]))
        connection.send(samples)


# The section ----------------------------------------------------------------------------------


def run(endpoints: Endpoints, log: AwsCallLog, options: dict[str, Any]) -> dict[str, Any]:
    levels: list[int] = options["levels"]
    rounds, per_round, threads = options["rounds"], options["per_round"], options["threads"]
    deadline: float = options["deadline"]  # time.time() by which the section must be done
    measure_seconds = options["measure_seconds_estimate"]
    ddb = client("dynamodb", endpoints.dynamodb)
    loads: dict[int, dict[str, float]] = {}
    skipped: dict[str, str] = {}
    rate: float | None = None
    for level in levels:
        if rate is not None:
            projected = level / rate + measure_seconds
            left = deadline - time.time()
            if projected > left:
                skipped[str(level)] = (
                    f"not loaded: {level:,} items at the {rate:,.0f} items/s measured would take "
                    f"{level / rate:,.0f} s, plus ~{measure_seconds:.0f} s to measure; "
                    f"{left:,.0f} s were left in the budget"
                )
                break
        # Without the stream: reads never touch it, and DynamoDB Local's stream bookkeeping
        # makes bulk-loading 100,000 items take many minutes instead of about one.
        create_table(endpoints, _table(level), stream=False)
        started = time.perf_counter()
        _load(ddb, _table(level), level, threads)
        seconds = time.perf_counter() - started
        if level >= 1000:
            rate = level / seconds
        loads[level] = {"items": level, "seconds": seconds, "items_per_second": level / seconds}

    reached = sorted(loads)
    context = multiprocessing.get_context("spawn")
    pipes: dict[int, Connection] = {}
    processes = []
    for level in reached:
        parent, child = context.Pipe()
        process = context.Process(target=_container, args=(child, endpoints.to_json(), level))
        process.start()
        pipes[level] = parent
        processes.append(process)
    samples: dict[int, dict[str, list[list[float]]]] = {
        level: {name: [] for name in NAMES} for level in reached
    }
    order = list(reached)
    shuffle = random.Random(11)  # noqa: S311 - run order, not security
    try:
        for level in reached:  # warm-up, not recorded
            pipes[level].send(options["warmup"])
            pipes[level].recv()
        for _ in range(rounds):
            shuffle.shuffle(order)
            for level in order:
                pipes[level].send(per_round)
                for name, values in pipes[level].recv().items():
                    samples[level][name].append(values)
    finally:
        for pipe in pipes.values():
            pipe.send(None)
        for process in processes:
            process.join(timeout=30)

    smallest, largest = reached[0], reached[-1]
    per_level = {
        str(level): {
            "load": loads[level],
            **{
                name: {
                    "latency_ms": stats.summary(stats.flatten(samples[level][name]), scale=1000),
                    "p50_ratio_to_raw": stats.round_ratios(
                        samples[level][name], samples[level]["raw_gsi_query"]
                    ),
                }
                for name in NAMES
            },
        }
        for level in reached
    }
    flat = {
        name: {
            # The levels' rounds run one after another, not at once, so a round's pair of
            # medians also carries the drift between them: the value is the ratio of the
            # medians over all rounds, the spread the per-round ratios.
            "p50": {
                **stats.round_ratios(samples[largest][name], samples[smallest][name], 0.5),
                "median": stats.percentile(stats.flatten(samples[largest][name]), 0.5)
                / stats.percentile(stats.flatten(samples[smallest][name]), 0.5),
            },
            # A round's 40 calls make a poor p99: pooled over all rounds instead (no spread).
            "p99": stats.ratio(
                [
                    stats.percentile(stats.flatten(samples[largest][name]), 0.99)
                    / stats.percentile(stats.flatten(samples[smallest][name]), 0.99)
                ]
            ),
        }
        for name in NAMES
    }
    targets = {
        name: {
            "metric": f"p50 with {largest:,} / p50 with {smallest:,} stored connections",
            "target": f"<= {TARGET_FLAT_RATIO}",
            "value": flat[name]["p50"]["median"],
            "met": flat[name]["p50"]["median"] <= TARGET_FLAT_RATIO,
        }
        for name in ("get", "exists")
    }
    return {
        "levels_requested": levels,
        "levels_reached": reached,
        "skipped": skipped,
        "rounds": [rounds, per_round],
        "per_level": per_level,
        "largest_over_smallest": flat,
        "targets": targets,
    }


if __name__ == "__main__":  # pragma: no cover - spawned children import this module by name
    print(json.dumps({"usage": "run through python -m bench.child scale"}))
