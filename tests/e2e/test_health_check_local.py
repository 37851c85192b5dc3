"""One health-check pass against the running local stack, from another process, as
``repoconn health-check`` runs it: a hook deleted in the simulator is repaired
and GET shows the health fields. Other tests share the stack, so only this test's own
connection is asserted on, never the run's totals."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO_ROOT, REPOCONN, LocalRun
from tests.support.api import given_connected

pytestmark = pytest.mark.e2e

PYTHON = Path(sys.executable)
ACCESS_TOKEN = "ghp_e2eHealthToken0123456789"
# The banner line `repoconn dev` prints: "  embedded AWS (moto) http://127.0.0.1:PORT".
AWS_BANNER = re.compile(r"embedded AWS \(moto\) (http://\S+)")


def aws_endpoint(run: LocalRun) -> str:
    found = AWS_BANNER.search(run.log.read_text(errors="replace"))
    assert found is not None, "repoconn dev printed no embedded AWS URL"
    return found.group(1)


def test_one_local_pass_repairs_a_deleted_hook_and_get_shows_it(local_run: LocalRun) -> None:
    # given a connection made over HTTP whose hook was then deleted in the simulator
    project, repo = f"p-{uuid.uuid4().hex[:8]}", f"widgets-{uuid.uuid4().hex[:8]}"
    admin = local_run.token("alice", project, admin=True)
    created = given_connected(
        local_run.gateway,
        f"https://github.com/acme/{repo}",
        project=project,
        token=ACCESS_TOKEN,
        bearer_token=admin,
    )
    callback_url = f"{local_run.api}/webhooks/{created['id']}"
    [old_hook] = local_run.sim.hooks_calling(callback_url)
    local_run.sim.hook_action("github", old_hook["id"], "delete")

    # when one health-check pass runs in its own process against the stack
    result = subprocess.run(
        [
            str(REPOCONN),
            "health-check",
            "--aws-endpoint-url",
            aws_endpoint(local_run),
            "--simulator-url",
            local_run.simulator,
            "--api-url",
            local_run.api,
        ],
        cwd=REPO_ROOT,
        env=local_run.environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # then it completed without errors, one new hook calls back with a new secret, and GET
    # shows the connection as healthy after a repair
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert (report["completed"], report["errors"]) == (True, 0)
    assert report["repaired"] >= 1
    [new_hook] = local_run.sim.hooks_calling(callback_url)
    assert new_hook["id"] != old_hook["id"]
    assert new_hook["secret"] != old_hook["secret"]
    assert ACCESS_TOKEN not in result.stdout + result.stderr
    assert new_hook["secret"] not in result.stdout + result.stderr
    member = local_run.token("bob", project)
    body = local_run.gateway.read(project, bearer_token=member).json()
    assert (body["healthStatus"], body["healthReason"]) == (
        "healthy",
        "webhook was missing and has been re-created",
    )
    assert body["lastHealthCheckAt"] is not None
