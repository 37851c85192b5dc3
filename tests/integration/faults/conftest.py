"""Fixtures of the fault suite: one world per module, a log capture per test, and the
figures (faults injected, cases run) printed at the end of the run."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from repoconn_local.simulator.server import ProviderSimulator

from tests.integration.faults.world import World, build_world
from tests.leakscan.capture import LogCapture, capturing_logs

# Filled by the tests, printed by pytest_terminal_summary.
FIGURES: Counter[str] = Counter()


@pytest.fixture(scope="module")
def world(simulator: ProviderSimulator, template: dict[str, Any]) -> Iterator[World]:
    with build_world(simulator, template) as built:
        yield built


@pytest.fixture
def logs(world: World) -> Iterator[LogCapture]:
    # INFO, not DEBUG: botocore's DEBUG output would triple the suite's time.
    with capturing_logs(logging.INFO) as capture:
        yield capture


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("fault injection and leak scan")
    if FIGURES["cases"]:
        terminalreporter.write_line(
            f"faults injected: {FIGURES['faults_injected']} in {FIGURES['cases']} cases "
            "(all through the deployed handlers), "
            f"{FIGURES['retries']} recoveries checked by a retry"
        )
        per_op = ", ".join(
            f"{name.removeprefix('op:')} {count}"
            for name, count in sorted(FIGURES.items())
            if name.startswith("op:")
        )
        terminalreporter.write_line(f"faults per operation: {per_op}")
    if FIGURES["leak_artefacts"]:
        kinds = ", ".join(
            f"{name.removeprefix('leak:')} {count}"
            for name, count in sorted(FIGURES.items())
            if name.startswith("leak:")
        )
        terminalreporter.write_line(
            f"leak scan: {FIGURES['leak_artefacts']} artefacts scanned ({kinds}) for "
            f"{FIGURES['leak_secrets']} tokens, webhook secrets, bearer JWTs and data-key "
            f"canaries ({FIGURES['leak_data_keys']} data keys), over the e2e slice and "
            f"{FIGURES['leak_fault_cases']} fault cases, in the leaky environment"
        )
