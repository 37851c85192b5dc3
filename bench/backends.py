"""The backends every in-process measurement shares, each in its own process so the process
being measured runs nothing but the handler (or its baseline) and its clients:

- Amazon DynamoDB Local (Java; the project's launcher, repoconn_local.aws.dynamodb_local) for
  the tables, created from template.yaml;
- a moto server for KMS (the template's key) and EventBridge (the receiver's bus);
- the provider simulator (``python -m repoconn_local.simulator.server``).

The handlers find them the way a Lambda finds AWS: through the environment
(``AWS_ENDPOINT_URL_DYNAMODB`` / ``_KMS`` / ``_EVENTBRIDGE`` and the settings' variables, see
``service_environment``), never through code paths of their own.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from bench.paths import WORK_DIR
from tests.support.aws_sandbox import HOST_AWS_VARIABLES, sandbox_variables

REGION = "us-east-1"
FAKE_KEY = "bench"
KMS_ALIAS = "alias/repoconn-bench"
EVENT_BUS = "repoconn-bench-events"
WEBHOOK_BASE_URL = "https://hooks.bench.example"
READY_TIMEOUT = 90.0


@dataclass(frozen=True)
class Endpoints:
    dynamodb: str
    aws: str  # moto: KMS and EventBridge
    simulator: str
    kms_key_arn: str
    event_bus: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Endpoints:
        return cls(**json.loads(text))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def aws_environment() -> dict[str, str]:
    """The tests' AWS sandbox (fake credentials, one region, no config files, no instance
    metadata): nothing can reach a real account."""
    return sandbox_variables(credential=FAKE_KEY, session_token=False, region=REGION)


def apply_environment(values: Mapping[str, str]) -> None:
    """Set ``values`` in this process's environment, dropping the host's AWS overrides."""
    for name in HOST_AWS_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(values)


def service_environment(endpoints: Endpoints, table_name: str) -> dict[str, str]:
    """What the template gives every function, pointed at the bench's backends."""
    return {
        **aws_environment(),
        "AWS_ENDPOINT_URL_DYNAMODB": endpoints.dynamodb,
        "AWS_ENDPOINT_URL_KMS": endpoints.aws,
        "AWS_ENDPOINT_URL_EVENTBRIDGE": endpoints.aws,
        "TABLE_NAME": table_name,
        "KMS_KEY_ID": endpoints.kms_key_arn,
        "EVENT_BUS_NAME": endpoints.event_bus,
        "WEBHOOK_BASE_URL": WEBHOOK_BASE_URL,
        "GITHUB_API_URL": f"{endpoints.simulator}/github",
        "GITLAB_API_URL": f"{endpoints.simulator}/gitlab/api/v4",
        "BITBUCKET_API_URL": f"{endpoints.simulator}/bitbucket/2.0",
        "ALLOW_LOOPBACK_PROVIDER_API": "true",
        "PROVIDER_MAX_RETRIES": "0",
        "POWERTOOLS_SERVICE_NAME": "repository-connections",
        "POWERTOOLS_METRICS_NAMESPACE": "RepositoryConnectionsBench",
    }


def client(service: str, endpoint: str, config: Any = None) -> Any:
    import boto3

    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_KEY,
        aws_secret_access_key=FAKE_KEY,
        config=config,
    )


def create_table(endpoints: Endpoints, table_name: str, *, stream: bool = True) -> None:
    """The ConnectionsTable of template.yaml (keys, GSI, projection, stream) under
    ``table_name``; without its stream when ``stream`` is False."""
    import copy

    from repoconn_local.aws import template_schema

    template = template_schema.load_template()
    if not stream:
        template = copy.deepcopy(template)
        template["Resources"]["ConnectionsTable"]["Properties"].pop("StreamSpecification", None)
    template_schema.create_tables(
        client("dynamodb", endpoints.dynamodb), template, {"ConnectionsTable": table_name}
    )


# Processes -----------------------------------------------------------------------------------


def wait_until_ready(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str
) -> None:
    """Poll ``ready`` until it holds; fail at once if ``process`` exits, or after a while."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if ready():
                return
        except OSError:  # refused while starting (requests' errors are OSErrors too)
            pass
        try:
            process.wait(timeout=0.1)  # the poll interval; also notices an early exit
        except subprocess.TimeoutExpired:
            continue
    raise RuntimeError(f"{what} did not answer within {READY_TIMEOUT:.0f} s")


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback http
        return int(response.status) == 200


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _log(name: str) -> IO[bytes]:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    return (WORK_DIR / f"{name}.log").open("wb")


@contextmanager
def python_server(name: str, args: list[str], health_path: str) -> Iterator[str]:
    """``python args...`` listening on a free loopback port; yields its base URL."""
    port = free_port()
    with _log(name) as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            [sys.executable, *[arg.replace("{port}", str(port)) for arg in args]],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **aws_environment()},
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(lambda: _http_ok(base + health_path), process, name)
            yield base
        finally:
            stop_process(process)


@contextmanager
def backends() -> Iterator[Endpoints]:
    """DynamoDB Local, moto (KMS + EventBridge) and the simulator, each in its own process."""
    from repoconn_local.aws import dynamodb_local, template_schema

    with (
        dynamodb_local.running() as dynamodb,
        python_server(
            "moto-server",
            ["-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"],
            "/moto-api/data.json",
        ) as aws,
        python_server(
            "simulator",
            ["-m", "repoconn_local.simulator.server", "--port", "{port}", "--quiet"],
            "/_sim/health",
        ) as simulator,
    ):
        kms = client("kms", aws)
        key_id = template_schema.create_kms_key(kms, KMS_ALIAS, template_schema.load_template())
        key_arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
        client("events", aws).create_event_bus(Name=EVENT_BUS)
        yield Endpoints(
            dynamodb=dynamodb,
            aws=aws,
            simulator=simulator,
            kms_key_arn=key_arn,
            event_bus=EVENT_BUS,
        )


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
