"""``make bench``: measure, then write docs/benchmarks.md and docs/benchmarks.json.

    python -m bench [--quick] [--only cold,warm,receiver,scale,gateway,artifacts]

Sections run one after another (never two measurements at once); the in-process ones in
fresh child interpreters against backends started here. Exit status 1 when an invariant
failed (calls per operation, the read path's forbidden imports) or a section could not run;
targets that are missed are reported, not failed on.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench import machine, report
from bench.backends import Endpoints, backends, write_json
from bench.paths import DOCS, WORK_DIR

SECTIONS = ("cold", "shipped", "warm", "receiver", "scale", "gateway", "artifacts")
# (full, --quick) settings per section.
SETTINGS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "cold": ({"rounds": 15, "source_rounds": 3}, {"rounds": 3, "source_rounds": 1}),
    "shipped": ({"rounds": 7}, {"rounds": 2}),
    "warm": (
        {
            "rounds": 5,
            "per_round": 100,
            "warmup": 100,
            "write_rounds": 4,
            "write_per_round": 15,
            "write_warmup": 10,
        },
        {
            "rounds": 2,
            "per_round": 20,
            "warmup": 10,
            "write_rounds": 2,
            "write_per_round": 3,
            "write_warmup": 2,
        },
    ),
    "receiver": (
        # 8 rounds: with 4, one round slowed by the machine moved the median (spread seen
        # 1.23-2.28x the floor in one run).
        {"rounds": 8, "per_round": 150, "warmup": 30, "memory_deliveries": 150},
        {"rounds": 2, "per_round": 30, "warmup": 5, "memory_deliveries": 30},
    ),
    "scale": (
        {
            "levels": [10, 1_000, 10_000, 100_000],
            "rounds": 5,
            "per_round": 40,
            "warmup": 60,
            "threads": 2,
            "measure_seconds_estimate": 45,
        },
        {
            "levels": [10, 1_000],
            "rounds": 2,
            "per_round": 10,
            "warmup": 5,
            "threads": 2,
            "measure_seconds_estimate": 10,
        },
    ),
    "gateway": (
        {"users": 20, "seconds": 10, "rounds": 2, "single_user_seconds": 6},
        {"users": 5, "seconds": 3, "rounds": 1, "single_user_seconds": 3},
    ),
}
# The whole of `make bench` must stay under 10 minutes on 2 cores; this is the bench's share
# (the rest: creating .venv from a clean clone). Scale loads its largest level only if it fits.
DEFAULT_BUDGET_SECONDS = 540
# What the sections after scale need (gateway, report), kept out of scale's share.
AFTER_SCALE_SECONDS = 100


def _child(section: str, endpoints: Endpoints, options: dict[str, Any]) -> dict[str, Any]:
    out = WORK_DIR / f"{section}.json"
    out.unlink(missing_ok=True)
    with (WORK_DIR / f"{section}.log").open("wb") as log:
        result = subprocess.run(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "bench.child",
                section,
                str(out),
                endpoints.to_json(),
                json.dumps(options),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        tail = (WORK_DIR / f"{section}.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"section {section} failed ({result.returncode}):\n{tail}")
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="few rounds: a smoke test")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_SECONDS)
    parser.add_argument("--no-write", action="store_true", help="leave docs/ alone")
    args = parser.parse_args(argv)
    chosen = [name for name in SECTIONS if name in args.only.split(",")]
    started = time.time()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    pick = 1 if args.quick else 0
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    durations: dict[str, float] = {}

    def section(name: str, run: Callable[[], dict[str, Any]]) -> None:
        if name not in chosen:
            return
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        began = time.time()
        try:
            results[name] = run()
        except Exception:
            errors[name] = traceback.format_exc()[-4000:]
            print(f"bench: {name} failed:\n{errors[name]}", file=sys.stderr, flush=True)
        durations[name] = time.time() - began
        print(f"bench: {name} done in {durations[name]:.0f} s", file=sys.stderr, flush=True)

    def options(name: str, **extra: Any) -> dict[str, Any]:
        return {**SETTINGS[name][pick], **extra}

    context = {"machine": machine.describe()}
    from bench import artifacts, cold_start, gateway_load, shipped_cold_start

    section("artifacts", artifacts.run)
    section("cold", lambda: cold_start.run(**options("cold")))
    section("shipped", lambda: shipped_cold_start.run(**options("shipped")))
    if {"warm", "receiver", "scale"} & set(chosen):
        print("bench: starting DynamoDB Local, moto and the simulator ...", file=sys.stderr)
        try:
            with backends() as endpoints:
                section("warm", lambda: _child("warm", endpoints, options("warm")))
                section("receiver", lambda: _child("receiver", endpoints, options("receiver")))
                deadline = started + args.budget - AFTER_SCALE_SECONDS
                section(
                    "scale",
                    lambda: _child("scale", endpoints, options("scale", deadline=deadline)),
                )
        except Exception:
            errors["backends"] = traceback.format_exc()[-4000:]
            print(f"bench: backends failed:\n{errors['backends']}", file=sys.stderr)
    section("gateway", lambda: gateway_load.run(options("gateway")))

    elapsed = time.time() - started
    document = report.assemble(
        context=context,
        results=results,
        errors=errors,
        durations=durations,
        elapsed=elapsed,
        quick=args.quick,
    )
    if not args.no_write:
        write_json(DOCS / "benchmarks.json", document)
        (DOCS / "benchmarks.md").write_text(report.markdown(document))
    write_json(WORK_DIR / "benchmarks.json", document)
    print(report.summary_lines(document), file=sys.stderr)
    print(f"bench: {elapsed:.0f} s in all", file=sys.stderr)
    return 0 if document["invariants_ok"] and not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
