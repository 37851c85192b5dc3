"""1b. Cold start of the layout as shipped, on Python 3.13, with and without its bytecode.

Built under build/bench/shipped as ``sam build`` builds it, but for this machine's platform
(bytecode is platform-independent; the native wheels are not, so x86-64 wheels stand in for
arm64 ones): each layer by scripts/build_layer.sh (``LAYER_ARCH`` = this machine's), each
function's app.py, both compiled by scripts/compile_bytecode.sh as ``make build`` does; and the
SDK Lambda's runtime provides (boto3, botocore and their dependencies, at the versions of the
venv), with its bytecode, as the runtime has it.

Each child runs ``python -S`` (no site-packages: only the layout is importable) with
``PYTHONPATH`` = function code, its layers, the runtime SDK — Lambda's order — and
``PYTHONDONTWRITEBYTECODE=1`` (Lambda mounts code read-only). Two layouts, interleaved round by
round against the baseline handler (Powertools' Logger from the core layer, boto3):

- ``with bytecode``: as ``make build`` ships it now (unchecked-hash .pyc beside every module);
- ``without bytecode``: the same files minus the functions' and layers' ``__pycache__``, as
  shipped before issue 15 (the runtime SDK keeps its bytecode, as on Lambda).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench import cold_start, stats
from bench.cold_start import BASELINE, BASELINE_DIR, BUILDERS
from bench.paths import ROOT, WORK_DIR

SHIPPED = WORK_DIR / "shipped"
# What Lambda's python3.13 runtime provides (scripts/build_layer.sh keeps them out of layers).
RUNTIME_SDK = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
MODES = ("with_bytecode", "without_bytecode")


def _run_checked(command: list[str], **kwargs: Any) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # noqa: S603
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")


def _build() -> dict[str, dict[str, Any]]:
    """The shipped layout under SHIPPED/with_bytecode, its copy without bytecode, and the
    runtime SDK; logical id → {mode → (cwd, sys.path)}."""
    from repoconn_local.aws import template_schema

    shutil.rmtree(SHIPPED, ignore_errors=True)
    built = SHIPPED / "with_bytecode"
    runtime = SHIPPED / "runtime"
    env = {
        **os.environ,
        "LAYER_ARCH": platform.machine(),
        "PATH": f"{ROOT / '.tools' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    template = template_schema.load_template()
    resources = template["Resources"]
    layers: dict[str, Path] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::LayerVersion":
            continue
        source = ROOT / resource["Properties"]["ContentUri"]
        package = next(p for p in source.iterdir() if p.is_dir() and p.name.startswith("repoconn"))
        _run_checked(
            ["bash", str(ROOT / "scripts" / "build_layer.sh"), str(package),
             str(source / "requirements.txt"), str(built / logical_id)],
            env=env,
        )  # fmt: skip
        layers[logical_id] = built / logical_id / "python"
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in RUNTIME_SDK]
    _run_checked(
        [str(ROOT / ".tools" / "bin" / "uv"), "pip", "install", "--quiet", "--no-deps",
         "--python-platform", f"{platform.machine()}-manylinux2014", "--python-version", "3.13",
         "--only-binary", ":all:", "--target", str(runtime), *pins],
        env=env,
    )  # fmt: skip
    _run_checked(
        ["bash", str(ROOT / "scripts" / "compile_bytecode.sh"), str(runtime), "/var/runtime"]
    )

    layouts: dict[str, dict[str, Any]] = {}
    functions = {
        logical_id: resource["Properties"]
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }
    for logical_id, properties in {**functions, BASELINE: None}.items():
        code = built / logical_id
        code.mkdir(parents=True)
        source_dir = BASELINE_DIR if properties is None else ROOT / properties["CodeUri"]
        shutil.copy2(source_dir / "app.py", code / "app.py")
        _run_checked(
            ["bash", str(ROOT / "scripts" / "compile_bytecode.sh"), str(code), "/var/task"]
        )
        own_layers = (
            [layers["CoreLayer"]]
            if properties is None
            else [layers[layer["Ref"]] for layer in properties.get("Layers", [])]
        )
        layouts[logical_id] = {"with_bytecode": (code, [code, *own_layers, runtime])}

    # The same files without the functions' and layers' bytecode.
    bare = SHIPPED / "without_bytecode"
    shutil.copytree(built, bare, ignore=shutil.ignore_patterns("__pycache__"))
    for entry in layouts.values():
        code, path = entry["with_bytecode"]
        moved = [bare / p.relative_to(built) if p.is_relative_to(built) else p for p in path]
        entry["without_bytecode"] = (moved[0], moved)
    return layouts


# Lambda's code is read-only: nothing compiled by one run may serve the next.
READ_ONLY = {"PYTHONDONTWRITEBYTECODE": "1"}


def _run(layout: tuple[Path, list[Path]], builder: str) -> dict[str, Any]:
    cwd, path = layout
    return cold_start.run_child((cwd, path, builder), READ_ONLY, interpreter_flags=("-S",))


def run(*, rounds: int) -> dict[str, Any]:
    layouts = _build()
    names = list(layouts)
    builders = {**BUILDERS, BASELINE: "build"}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {m: {n: [] for n in names} for m in MODES}
    order = [(name, mode) for name in names for mode in MODES]
    shuffle = random.Random(11)  # noqa: S311 - run order, not security
    for _ in range(rounds):
        shuffle.shuffle(order)
        for name, mode in order:
            runs[mode][name].append(_run(layouts[name][mode], builders[name]))

    written = list((SHIPPED / "without_bytecode").rglob("__pycache__"))
    assert not written, f"a run wrote bytecode into the layout without it: {written[:3]}"
    sections: dict[str, Any] = {}
    for mode in MODES:
        base = [r["import"] + r["build"] for r in runs[mode][BASELINE]]
        sections[mode] = {
            name: {
                "import_and_build_ms": stats.summary(
                    [r["import"] + r["build"] for r in samples], scale=1000
                ),
                "import_and_build_ratio": stats.ratio(
                    [(r["import"] + r["build"]) / b for r, b in zip(samples, base, strict=True)]
                ),
            }
            for name, samples in runs[mode].items()
        }
    speedup = {
        name: stats.ratio(
            [
                (without["import"] + without["build"]) / (with_["import"] + with_["build"])
                for with_, without in zip(
                    runs["with_bytecode"][name], runs["without_bytecode"][name], strict=True
                )
            ]
        )
        for name in names
    }
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "rounds": rounds,
        "modes": sections,
        "bytecode_speedup": speedup,
    }
