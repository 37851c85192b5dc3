"""1. Cold start: each function's handler module imported in a fresh interpreter laid out as
Lambda lays it out (the function's CodeUri first on ``sys.path``, then the source folder of
each layer the template gives it; cwd = CodeUri), against a baseline handler that imports
only boto3 and Powertools' Logger (bench/baseline_handler).

Each child reports, from inside, the seconds ``import app`` took and then the seconds the
composition-root builder its handler calls on the first request took (the baseline creates
one boto3 client), plus the top-level modules loaded by then. Runs are interleaved round by
round (order shuffled), so drift on a shared machine hits every function alike.

Two bytecode modes:
- ``cached``: .pyc files exist (written by an unmeasured warm-up into a private
  PYTHONPYCACHEPREFIX): the cost of the code that is imported. The targets apply here.
- ``source``: no .pyc at all: every import compiles (how the layers shipped before issue 15;
  section 1b, bench/shipped_cold_start.py, measures the shipped layout itself, with and
  without its bytecode). Read functions and baseline only, fewer rounds; informational.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import stats
from bench.paths import ROOT, WORK_DIR
from tests.support.aws_sandbox import function_environment

BASELINE = "Baseline"
BASELINE_DIR = ROOT / "bench" / "baseline_handler"
# Logical id → the wiring builder its handler calls on the first request.
BUILDERS = {
    "GetConnectionFunction": "connection_queries",
    "ConnectionExistsFunction": "connection_queries",
    "ListDeliveriesFunction": "connection_queries",
    "UpsertConnectionFunction": "connect_repository",
    "DisconnectConnectionFunction": "disconnect_repository",
    "WebhookReceiverFunction": "receive_webhook",
    "HealthCheckFunction": "health_check",
    "PublishDeliveriesFunction": "publish_deliveries",
    "ReencryptConnectionsFunction": "reencrypt_connections",
}
READ_FUNCTIONS = ("GetConnectionFunction", "ConnectionExistsFunction", "ListDeliveriesFunction")
READ_PATH_FORBIDDEN = ("cryptography", "requests")
TARGET_READ_RATIO = 1.5
LAMBDA_ENVIRONMENT = {
    **function_environment("cold-start-bench", credential="bench"),
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
}
CHILD = """
import json, sys, time
started = time.perf_counter()
import app
imported = time.perf_counter()
getattr(app, sys.argv[1])()
built = time.perf_counter()
print(json.dumps({
    "import": imported - started,
    "build": built - imported,
    "modules": sorted({name.partition(".")[0] for name in sys.modules}),
}))
"""


def _layouts() -> dict[str, tuple[Path, list[Path], str]]:
    """Logical id → (cwd, sys.path entries, builder), the baseline included."""
    from repoconn_local.aws import template_schema

    template = template_schema.load_template()
    resources = template["Resources"]
    layouts: dict[str, tuple[Path, list[Path], str]] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        code = ROOT / properties["CodeUri"]
        layers = [
            ROOT / resources[layer["Ref"]]["Properties"]["ContentUri"]
            for layer in properties.get("Layers", [])
        ]
        layouts[logical_id] = (code, [code, *layers], BUILDERS[logical_id])
    layouts[BASELINE] = (BASELINE_DIR, [BASELINE_DIR], "build")
    return layouts


def run_child(
    layout: tuple[Path, list[Path], str],
    bytecode: dict[str, str],
    interpreter_flags: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One cold start in a fresh interpreter; ``interpreter_flags`` (``-S``: no
    site-packages) for the shipped layout of bench/shipped_cold_start.py."""
    cwd, path, builder = layout
    env = {
        "PATH": os.environ.get("PATH", ""),
        **LAMBDA_ENVIRONMENT,
        **bytecode,
        "PYTHONPATH": os.pathsep.join(str(entry) for entry in path),
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter, fixed program
        [sys.executable, *interpreter_flags, "-c", CHILD, builder],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"cold start of {cwd} failed:\n{result.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _measure(
    layouts: dict[str, tuple[Path, list[Path], str]],
    names: list[str],
    rounds: int,
    bytecode: dict[str, str],
) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    order = list(names)
    shuffle = random.Random(7)  # noqa: S311 - run order, not security
    for _ in range(rounds):
        shuffle.shuffle(order)
        for name in order:
            runs[name].append(run_child(layouts[name], bytecode))
    return runs


def _section(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    base_import = [run["import"] for run in runs[BASELINE]]
    base_total = [run["import"] + run["build"] for run in runs[BASELINE]]
    functions: dict[str, Any] = {}
    for name, samples in runs.items():
        imports = [run["import"] for run in samples]
        totals = [run["import"] + run["build"] for run in samples]
        functions[name] = {
            "import_ms": stats.summary(imports, scale=1000),
            "import_and_build_ms": stats.summary(totals, scale=1000),
            "import_ratio": stats.ratio([m / b for m, b in zip(imports, base_import, strict=True)]),
            "import_and_build_ratio": stats.ratio(
                [m / b for m, b in zip(totals, base_total, strict=True)]
            ),
            "median_ratio_of_medians": stats.summary(imports)["p50"]
            / stats.summary(base_import)["p50"],
        }
    return functions


def run(*, rounds: int, source_rounds: int) -> dict[str, Any]:
    layouts = _layouts()
    names = list(layouts)
    prefix = WORK_DIR / "pycache"
    cached = {"PYTHONPYCACHEPREFIX": str(prefix)}
    for name in names:  # warm-up: writes the .pyc files, not measured
        run_child(layouts[name], cached)
    cached_runs = _measure(layouts, names, rounds, {**cached, "PYTHONDONTWRITEBYTECODE": "1"})

    source_names = [*READ_FUNCTIONS, BASELINE]
    with tempfile.TemporaryDirectory(prefix="bench-no-pyc-") as empty:
        source = {"PYTHONPYCACHEPREFIX": empty, "PYTHONDONTWRITEBYTECODE": "1"}
        source_runs = _measure(layouts, source_names, source_rounds, source)

    # The read path's import boundary, checked after import + first-request build.
    violations = {
        name: sorted(
            {module for run in cached_runs[name] for module in run["modules"]}
            & set(READ_PATH_FORBIDDEN)
        )
        for name in READ_FUNCTIONS
    }
    cached_section = _section(cached_runs)
    targets = {
        name: {
            "metric": "import ratio (cached bytecode), median",
            "target": f"<= {TARGET_READ_RATIO}",
            "value": cached_section[name]["import_ratio"]["median"],
            "met": cached_section[name]["import_ratio"]["median"] <= TARGET_READ_RATIO,
        }
        for name in READ_FUNCTIONS
    }
    return {
        "baseline": "bench/baseline_handler/app.py: imports boto3 and Powertools' Logger; "
        "its first request creates one boto3 DynamoDB client",
        "rounds": {"cached": rounds, "source": source_rounds},
        "cached": cached_section,
        "source": _section(source_runs),
        "forbidden_imports": violations,
        "forbidden_ok": not any(violations.values()),
        "targets": targets,
    }
