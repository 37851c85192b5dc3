"""7. Artifact sizes: each function as ``sam build`` leaves it in .aws-sam/build, with the
layers the template gives it, unzipped (Lambda's 250 MB limit counts function + layers
unzipped) and zipped (deflate, as the deployment package). ``make build`` runs first when
.aws-sam/build is missing.

Baseline: what the baseline handler of section 1 would ship, Powertools alone (boto3 comes
with the Lambda runtime), taken from the same build's CoreLayer.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bench import stats
from bench.paths import ROOT, WORK_DIR

BUILD = ROOT / ".aws-sam" / "build"
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
BASELINE_PACKAGES = ("aws_lambda_powertools",)


def _distribution(relative: str) -> str:
    """The top-level package a file belongs to (``python/<package>/...`` in a layer)."""
    parts = relative.split("/")
    top = parts[1] if parts[0] == "python" and len(parts) > 1 else parts[0]
    return top.split("-")[0]  # "<package>-<version>.dist-info" counts with its package


def _files(roots: list[Path], only: tuple[str, ...] | None = None) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root).as_posix()
            if only is not None and _distribution(relative) not in only:
                continue
            if path.is_file():
                found.append((path, relative))
    return found


def _sizes(files: list[tuple[Path, str]]) -> dict[str, int]:
    unzipped = sum(path.stat().st_size for path, _ in files)
    with tempfile.NamedTemporaryFile(dir=WORK_DIR, suffix=".zip") as archive:
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path, name in files:
                zipped.write(path, name)
        zipped_size = Path(archive.name).stat().st_size
    return {"files": len(files), "unzipped_bytes": unzipped, "zipped_bytes": zipped_size}


def _build() -> dict[str, Any]:
    started = time.perf_counter()
    with (WORK_DIR / "make-build.log").open("wb") as log:
        result = subprocess.run(
            ["make", "build"],  # noqa: S607 - the project's own target
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
            env={**os.environ, "MAKEFLAGS": ""},
        )
    return {"ran": True, "returncode": result.returncode, "seconds": time.perf_counter() - started}


def run() -> dict[str, Any]:
    from repoconn_local.aws import template_schema

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    build: dict[str, Any] = {"ran": False}
    if not BUILD.is_dir():
        build = _build()
        if build["returncode"] != 0 or not BUILD.is_dir():
            return {
                "build": build,
                "error": f"make build failed; see {WORK_DIR / 'make-build.log'}",
            }
    resources = template_schema.load_template()["Resources"]
    layer_sizes: dict[str, dict[str, int]] = {}
    functions: dict[str, Any] = {}
    baseline = _sizes(_files([BUILD / "CoreLayer"], BASELINE_PACKAGES))
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        layers = [layer["Ref"] for layer in resource["Properties"].get("Layers", [])]
        for layer in layers:
            if layer not in layer_sizes:
                layer_sizes[layer] = _sizes(_files([BUILD / layer]))
        own = _sizes(_files([BUILD / logical_id]))
        total = _sizes(_files([BUILD / logical_id, *(BUILD / layer for layer in layers)]))
        functions[logical_id] = {
            "layers": layers,
            "function": own,
            "with_layers": total,
            "unzipped_ratio": stats.ratio([total["unzipped_bytes"] / baseline["unzipped_bytes"]]),
            "zipped_ratio": stats.ratio([total["zipped_bytes"] / baseline["zipped_bytes"]]),
            "share_of_lambda_limit": total["unzipped_bytes"] / LAMBDA_UNZIPPED_LIMIT,
        }
    built_at = time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(max(p.stat().st_mtime for p in BUILD.iterdir()))
    )
    return {
        "build": build,
        "build_dir_modified": built_at,
        "baseline": {"what": "aws_lambda_powertools from the CoreLayer build", **baseline},
        "layers": layer_sizes,
        "functions": functions,
    }
