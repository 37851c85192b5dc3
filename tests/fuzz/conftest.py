"""Contract fuzzing runs against the same local stack the e2e suite drives: ``repoconn dev`` in a
subprocess on free ports (tests/e2e/conftest.py's ``local_run``), tokens from ``repoconn token``.

The suite counts the cases it actually sent (per operation and status) and prints the figures
at the end of the run, so the number in the CI log is measured, not configured."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.e2e.conftest import LocalRun, local_run

__all__ = ["CASES", "LocalRun", "local_run"]

# (operation label, "status[ problem code]") → cases sent. Filled by test_contract_fuzz.py.
CASES: Counter[tuple[str, str]] = Counter()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CASES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("contract fuzzing")
    per_operation: Counter[str] = Counter()
    for (operation, _), count in CASES.items():
        per_operation[operation] += count
    for operation in sorted(per_operation):
        statuses = ", ".join(
            f"{outcome} x{count}"
            for (label, outcome), count in sorted(CASES.items())
            if label == operation
        )
        write(f"{operation}: {per_operation[operation]} cases ({statuses})")
    write(f"total: {sum(per_operation.values())} generated cases sent")
