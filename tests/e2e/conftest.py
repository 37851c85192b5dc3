"""The local stack as a user runs it: ``.venv/bin/repoconn dev`` (what ``make dev`` runs) in a
subprocess on free ports, ready when its API answers over HTTP, stopped with Ctrl-C at the end.
Tokens come from the ``repoconn token`` command, as in the README."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.api import GatewayApi
from tests.support.simulator_control import SimulatorControl

REPO_ROOT = Path(__file__).resolve().parents[2]
# The console script `make dev` runs.
REPOCONN = REPO_ROOT / ".venv" / "bin" / "repoconn"
# The run's platform-wide admin group (off by default; on here so `--platform-admin` is tried).
PLATFORM_ADMIN_GROUP = "platform-admins"
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class LocalRun:
    api: str
    simulator: str
    environ: dict[str, str]
    log: Path

    def token(self, sub: str, *projects: str, admin: bool = False) -> str:
        """A bearer token from ``repoconn token``: admin (or member) of ``projects``."""
        option = "--admin-of" if admin else "--member-of"
        return self.repoconn_token("--sub", sub, *(x for p in projects for x in (option, p)))

    def repoconn_token(self, *arguments: str, environ: dict[str, str] | None = None) -> str:
        """``repoconn token`` with ``arguments`` (stdout holds only the token)."""
        result = subprocess.run(
            [str(REPOCONN), "token", *arguments],
            env=self.environ if environ is None else environ,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return result.stdout.strip()

    @property
    def gateway(self) -> GatewayApi:
        """The API through the stack's gateway, as the frontend calls it."""
        return GatewayApi(self.api)

    @property
    def sim(self) -> SimulatorControl:
        return SimulatorControl(self.simulator)

    def reset_simulator(self) -> None:
        self.sim.reset()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_ready(
    process: subprocess.Popen[bytes], api: str, simulator: str, log: Path
) -> None:
    """Poll until the gateway answers a protected route (401: routes and authorizer loaded)
    and the simulator reports healthy; fail at once if the process exits."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    probe = f"{api}/projects/ready/repository-connection/exists"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"repoconn dev exited with {process.returncode}:\n{log.read_text()}")
        try:
            if (
                requests.get(probe, timeout=1).status_code == 401
                and SimulatorControl(simulator, timeout=1).healthy()
            ):
                return
        except requests.ConnectionError:
            pass
        # Poll interval, not a guess at start-up time: the loop ends on the first answer.
        time.sleep(0.1)
    pytest.fail(f"repoconn dev not ready after {READY_TIMEOUT_SECONDS}s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRun]:
    port, sim_port, aws_port = _free_port(), _free_port(), _free_port()
    environ = {
        **os.environ,
        "PORT": str(port),
        "SIM_PORT": str(sim_port),
        "AWS_PORT": str(aws_port),
        # Read by `repoconn dev` (template parameter PlatformAdminGroup) and `repoconn token`.
        "PLATFORM_ADMIN_GROUP": PLATFORM_ADMIN_GROUP,
    }
    log = tmp_path_factory.mktemp("repoconn-dev") / "output.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(REPOCONN), "dev"],
            cwd=REPO_ROOT,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        run = LocalRun(
            api=f"http://127.0.0.1:{port}",
            simulator=f"http://127.0.0.1:{sim_port}",
            environ=environ,
            log=log,
        )
        try:
            _wait_until_ready(process, run.api, run.simulator, log)
            yield run
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
