"""What the in-process sections share: the real handlers called with payload-2.0 events, AWS
calls counted with botocore event hooks, the simulator's request log.

A section runs in a child process of its own (``python -m bench.child``), whose environment
is set before anything imports boto3: the call hook has to be in place before the first
botocore session exists, and the handlers read their settings from the environment once.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from tests.support.simulator_control import SimulatorControl

HANDLERS = {
    "get": ("functions.get_connection.app", "GET /projects/{projectId}/repository-connection"),
    "exists": (
        "functions.connection_exists.app",
        "GET /projects/{projectId}/repository-connection/exists",
    ),
    "upsert": (
        "functions.upsert_connection.app",
        "PUT /projects/{projectId}/repository-connection",
    ),
    "receive": ("functions.receive_webhook.app", "POST /webhooks/{connectionId}"),
}
PROJECT_INDEX = "projectId-index"
# The simulator's "anything else" token: full rights on every provider.
TOKEN = "tok-bench-0123456789abcdef"  # noqa: S105 - a simulator token, not a secret


# AWS calls -----------------------------------------------------------------------------------


@dataclass
class AwsCallLog:
    """Every AWS operation any botocore client of this process sends, in order.

    The hook goes into botocore's BUILTIN_HANDLERS, which every new botocore session
    registers: boto3's default session (the cipher's KMS client, the receiver's EventBridge
    client, the raw baseline) and pynamodb's own sessions alike. ``install`` must run before
    the first session is created.
    """

    calls: list[tuple[str, str]] = field(default_factory=list)
    # (service, operation) -> seconds from before-call to after-call (the round trip plus
    # botocore's own work), per call.
    seconds: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def install(self) -> None:
        from botocore import handlers

        handlers.BUILTIN_HANDLERS.append(("before-call", self._record))
        handlers.BUILTIN_HANDLERS.append(("after-call", self._finish))

    def _record(self, event_name: str, context: dict[str, Any], **_: Any) -> None:
        _event, service, operation = event_name.split(".", 2)
        self.calls.append((service, operation))
        context["bench_started"] = time.perf_counter()

    def _finish(self, event_name: str, context: dict[str, Any], **_: Any) -> None:
        started = context.get("bench_started")
        if started is not None:
            _event, service, operation = event_name.split(".", 2)
            self.seconds.setdefault((service, operation), []).append(time.perf_counter() - started)

    def clear(self) -> None:
        self.calls.clear()
        self.seconds.clear()

    def mean_ms(self) -> dict[str, float]:
        return {
            f"{service} {operation}": 1000 * sum(values) / len(values)
            for (service, operation), values in self.seconds.items()
        }

    def by_service(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for service, operation in self.calls:
            found.setdefault(service, []).append(operation)
        return found


# The simulator's request log -----------------------------------------------------------------


def sim_requests(simulator: str) -> list[str]:
    """The simulator's request log as "METHOD provider" lines."""
    logged = SimulatorControl(simulator).requests()
    return [f"{entry['method']} {entry['provider']}" for entry in logged]


# Handlers ------------------------------------------------------------------------------------


def handler(name: str) -> ModuleType:
    return importlib.import_module(HANDLERS[name][0])


def claims(project_id: str) -> dict[str, object]:
    return {"sub": "bench-admin", "project_roles": [f"{project_id}:admin"]}


@dataclass(frozen=True)
class Call:
    """One prepared invocation: the event and context are built before the clock starts."""

    function: Callable[[dict[str, Any], Any], dict[str, Any]]
    event: dict[str, Any]
    context: Any

    def __call__(self) -> dict[str, Any]:
        return self.function(self.event, self.context)


def _call(name: str, event: dict[str, Any]) -> Call:
    from repoconn_local.lambda_host.context import LocalLambdaContext

    module = handler(name)
    return Call(module.lambda_handler, event, LocalLambdaContext(function_name=f"bench-{name}"))


def read_call(name: str, project_id: str) -> Call:
    from repoconn_local.gateway.events import http_api_event

    suffix = "/exists" if name == "exists" else ""
    event = http_api_event(
        "GET",
        f"/projects/{project_id}/repository-connection{suffix}",
        route_key=HANDLERS[name][1],
        path_parameters={"projectId": project_id},
        claims=claims(project_id),
    )
    return _call(name, event)


def upsert_call(project_id: str, repository_url: str) -> Call:
    from repoconn_local.gateway.events import http_api_event

    event = http_api_event(
        "PUT",
        f"/projects/{project_id}/repository-connection",
        route_key=HANDLERS["upsert"][1],
        path_parameters={"projectId": project_id},
        headers={"content-type": "application/json"},
        body=json.dumps({"repositoryUrl": repository_url, "accessToken": TOKEN}),
        claims=claims(project_id),
    )
    return _call("upsert", event)


def github_delivery(secret: str, body: bytes, delivery_id: str | None = None) -> dict[str, str]:
    """The headers GitHub sends with a push delivery, signed with ``secret``."""
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "content-type": "application/json",
        "user-agent": "GitHub-Hookshot/bench",
        "x-github-event": "push",
        "x-github-delivery": delivery_id or str(uuid.uuid4()),
        "x-github-hook-id": "490000001",
        "x-hub-signature-256": f"sha256={signature}",
    }


def receive_call(connection_id: str, headers: dict[str, str], body: bytes) -> Call:
    from repoconn_local.gateway.events import http_api_event

    event = http_api_event(
        "POST",
        f"/webhooks/{connection_id}",
        route_key=HANDLERS["receive"][1],
        path_parameters={"connectionId": connection_id},
        headers=headers,
        body=body,
    )
    return _call("receive", event)


def push_payload(commits: int = 3, after: str = "9f2c" * 10) -> bytes:
    """A GitHub push payload of a realistic size and shape (a few KB). ``after`` (40 hex
    digits): the receiver treats equal bodies as one delivery, so each delivery a benchmark
    means to be new gets its own (``unique_push_payload``), at the same size."""
    author = {"name": "Bench Author", "email": "bench@example.com", "username": "bench"}
    return json.dumps(
        {
            "ref": "refs/heads/main",
            "before": "0" * 40,
            "after": after,
            "repository": {
                "id": 123456789,
                "name": "repo-0",
                "full_name": "bench/repo-0",
                "private": True,
                "html_url": "https://github.com/bench/repo-0",
                "default_branch": "main",
            },
            "pusher": {"name": "bench", "email": "bench@example.com"},
            "sender": {"login": "bench", "id": 1, "type": "User"},
            "commits": [
                {
                    "id": f"{n:040x}",
                    "message": f"Change number {n}\n\nWith a body that explains the change.",
                    "timestamp": "2026-01-01T00:00:00Z",
                    "url": f"https://github.com/bench/repo-0/commit/{n:040x}",
                    "author": author,
                    "committer": author,
                    "added": [f"src/new_{n}.py"],
                    "removed": [],
                    "modified": ["README.md", f"src/module_{n}.py"],
                }
                for n in range(commits)
            ],
        }
    ).encode()


def expect(response: dict[str, Any], *allowed: int) -> dict[str, Any]:
    if response["statusCode"] not in allowed:
        raise RuntimeError(f"expected {allowed}, got {response['statusCode']}: {response}")
    return response


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def counts(log: AwsCallLog) -> dict[str, dict[str, int]]:
    return {service: dict(Counter(ops)) for service, ops in log.by_service().items()}


class NewConnections(logging.Handler):
    """Counts the TCP connections urllib3 opens (botocore and requests both use it): a warm
    handler that reuses its clients opens none."""

    _LOGGER = "urllib3.connectionpool"

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.opened: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Starting new"):
            self.opened.append(message.removeprefix("Starting new ").split(":")[0])

    def __enter__(self) -> NewConnections:
        self.opened.clear()
        logger = logging.getLogger(self._LOGGER)
        self._level = logger.level
        logger.addHandler(self)
        logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *_: object) -> None:
        logger = logging.getLogger(self._LOGGER)
        logger.removeHandler(self)
        logger.setLevel(self._level)


def unique_push_payload(commits: int = 3) -> bytes:
    """``push_payload`` with an ``after`` commit of its own: a new delivery, not a replay."""
    return push_payload(commits, after=uuid.uuid4().hex + "0" * 8)
