"""6. The local gateway under load: ``repoconn dev`` (what ``make dev`` runs) in a subprocess on
free loopback ports, driven by locust (headless, closed loop, bounded by ``--run-time``) with
GET /projects/{id}/repository-connection/exists for a connected project and a token from
``repoconn token``. Baseline: the same locust run against bench/trivial_server.py. The two
targets alternate round by round; ratios per round. A last pair of runs with one user gives
each target's latency without queueing.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from bench import stats
from bench.backends import aws_environment, free_port, stop_process, wait_until_ready
from bench.paths import ROOT, WORK_DIR

BIN = Path(sys.executable).parent
PROJECT = "gateway-1"
PATH = f"/projects/{PROJECT}/repository-connection/exists"


def _answers(url: str, status: int) -> bool:
    return requests.get(url, timeout=1).status_code == status


@contextmanager
def _repoconn_dev() -> Iterator[tuple[str, str]]:
    """``repoconn dev`` on free ports, a connected project; yields (API URL, token)."""
    port, sim_port = free_port(), free_port()
    env = {**os.environ, **aws_environment(), "PORT": str(port), "SIM_PORT": str(sim_port)}
    with (WORK_DIR / "repoconn-dev.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - the project's own console script
            [str(BIN / "repoconn"), "dev"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        api = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(lambda: _answers(api + PATH, 401), process, "repoconn dev")
            token = subprocess.run(  # noqa: S603 - the project's own console script
                [str(BIN / "repoconn"), "token", "--sub", "bench", "--admin-of", PROJECT],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout.strip()
            connected = requests.put(
                f"{api}/projects/{PROJECT}/repository-connection",
                json={
                    "repositoryUrl": "https://github.com/bench-gateway/repo",
                    "accessToken": "tok-bench-gateway-0123456789",
                },
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            if connected.status_code not in (200, 201):
                raise RuntimeError(f"connect through the gateway failed: {connected.text}")
            yield api, token
        finally:
            stop_process(process, signal.SIGINT)


@contextmanager
def _trivial_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.trivial_server", "--port", str(port)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(lambda: _answers(url + PATH, 200), process, "trivial server")
        yield url
    finally:
        stop_process(process)


def _locust(host: str, token: str, name: str, options: dict[str, Any]) -> dict[str, float]:
    prefix = WORK_DIR / f"locust-{name}"
    samples_path = WORK_DIR / f"locust-{name}-samples.json"
    samples_path.unlink(missing_ok=True)
    env = {
        **os.environ,
        "BENCH_PATH": PATH,
        "BENCH_TOKEN": token,
        "BENCH_SAMPLES": str(samples_path),
    }
    with (WORK_DIR / f"locust-{name}.log").open("wb") as log:
        subprocess.run(  # noqa: S603 - locust from the bench venv, fixed arguments
            [
                str(BIN / "locust"),
                "-f",
                str(ROOT / "bench" / "locustfile.py"),
                "--headless",
                "--users",
                str(options["users"]),
                "--spawn-rate",
                str(options["users"]),
                "--run-time",
                f"{options['seconds']}s",
                "--stop-timeout",
                "5",
                "--host",
                host,
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=options["seconds"] + 120,
            check=False,  # locust exits 1 when any request failed; the counts say so
        )
    with Path(f"{prefix}_stats.csv").open() as stats_file:
        rows = {row["Name"]: row for row in csv.DictReader(stats_file)}
    row = rows["Aggregated"]
    latency = stats.summary(json.loads(samples_path.read_text()))
    return {
        "requests": float(row["Request Count"]),
        "failures": float(row["Failure Count"]),
        "requests_per_second": float(row["Requests/s"]),
        "p50_ms": latency["p50"],
        "p99_ms": latency["p99"],
    }


def run(options: dict[str, Any]) -> dict[str, Any]:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    gateway_runs: list[dict[str, float]] = []
    baseline_runs: list[dict[str, float]] = []
    single = {**options, "users": 1, "seconds": options["single_user_seconds"]}
    with _repoconn_dev() as (api, token), _trivial_server() as trivial:
        for round_ in range(options["rounds"]):
            gateway_runs.append(_locust(api, token, f"gateway-{round_}", options))
            baseline_runs.append(_locust(trivial, token, f"baseline-{round_}", options))
        # One user: the latency of a request on its own, without queueing behind others.
        gateway_single = _locust(api, token, "gateway-1-user", single)
        baseline_single = _locust(trivial, token, "baseline-1-user", single)

    def collect(runs: list[dict[str, float]]) -> dict[str, Any]:
        return {key: [run[key] for run in runs] for key in runs[0]}

    return {
        "users": options["users"],
        "seconds_per_run": options["seconds"],
        "rounds": options["rounds"],
        "path": PATH,
        "gateway": collect(gateway_runs),
        "baseline": collect(baseline_runs),
        "throughput_cost_ratio": stats.ratio(
            [
                b["requests_per_second"] / g["requests_per_second"]
                for g, b in zip(gateway_runs, baseline_runs, strict=True)
            ]
        ),
        "p99_ratio": stats.ratio(
            [g["p99_ms"] / b["p99_ms"] for g, b in zip(gateway_runs, baseline_runs, strict=True)]
        ),
        "p50_ratio": stats.ratio(
            [g["p50_ms"] / b["p50_ms"] for g, b in zip(gateway_runs, baseline_runs, strict=True)]
        ),
        "single_user": {
            "seconds": single["seconds"],
            "gateway": gateway_single,
            "baseline": baseline_single,
            "p50_ratio": gateway_single["p50_ms"] / baseline_single["p50_ms"],
            "p99_ratio": gateway_single["p99_ms"] / baseline_single["p99_ms"],
        },
        "failures": sum(
            run["failures"]
            for run in [*gateway_runs, *baseline_runs, gateway_single, baseline_single]
        ),
    }
