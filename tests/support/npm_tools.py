"""Node tools the contract tests run, at pinned versions: installed once with npm into the
git-ignored ``.npm-tools/`` (as provider_examples.py fetches @octokit/webhooks-examples), and
reinstalled when a pin here changes. npm's registry is the only network they need."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NPM_TOOLS = ROOT / ".npm-tools"
PINNED = {
    "@redocly/cli": "2.77.0",
    "@stoplight/spectral-cli": "6.16.3",
    "openapi-typescript": "7.13.0",
    "openapi-fetch": "0.17.0",
    "typescript": "5.9.3",
}
# No telemetry, no update notices: the tools run offline once installed.
QUIET_ENV = {
    "REDOCLY_TELEMETRY": "off",
    "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true",
    "NO_UPDATE_NOTIFIER": "1",
    "npm_config_update_notifier": "false",
}


def installed_version(package: str) -> str | None:
    manifest = NPM_TOOLS / "node_modules" / package / "package.json"
    if not manifest.is_file():
        return None
    return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])


def ensure_installed() -> Path:
    """``.npm-tools/node_modules``, holding exactly the pinned versions."""
    if all(installed_version(name) == version for name, version in PINNED.items()):
        return NPM_TOOLS / "node_modules"
    npm = shutil.which("npm")
    assert npm is not None, f"npm is needed once to install {sorted(PINNED)} into {NPM_TOOLS}"
    NPM_TOOLS.mkdir(exist_ok=True)
    installed = subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            str(NPM_TOOLS),
            "--no-audit",
            "--no-fund",
            "--save-exact",
            *(f"{name}@{version}" for name, version in PINNED.items()),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, **QUIET_ENV},
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    for name, version in PINNED.items():
        assert installed_version(name) == version, (name, installed_version(name))
    return NPM_TOOLS / "node_modules"


def run_tool(binary: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run ``.npm-tools/node_modules/.bin/<binary>`` with ``args``."""
    path = ensure_installed() / ".bin" / binary
    return subprocess.run(
        [str(path), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=cwd,
        env={**os.environ, **QUIET_ENV},
    )
