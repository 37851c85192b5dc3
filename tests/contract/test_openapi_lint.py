"""The generated documents lint clean with Redocly's recommended rules and Spectral's
``spectral:oas`` (pinned, tests/support/npm_tools.py): no error, no warning, nothing disabled
(tests/contract/redocly.yaml, spectral.yaml). Both validate every example against its schema,
which is what keeps the examples in repoconn_openapi/examples.py honest."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.npm_tools import ROOT, run_tool

HERE = Path(__file__).resolve().parent
DOCUMENTS = [ROOT / "docs" / "openapi.json", ROOT / "docs" / "openapi-webhooks.json"]
CONNECTION = "/projects/{projectId}/repository-connection"


def redocly(document: Path) -> list[dict[str, Any]]:
    """Redocly's problems with ``document`` (errors and warnings)."""
    result = run_tool(
        "redocly", "lint", "--config", str(HERE / "redocly.yaml"), "--format", "json",
        str(document),
    )  # fmt: skip
    report = json.loads(result.stdout)
    problems: list[dict[str, Any]] = report["problems"]
    assert result.returncode == (1 if report["totals"]["errors"] else 0), result.stderr[-2000:]
    return problems


def spectral(document: Path) -> list[dict[str, Any]]:
    """Spectral's results for ``document`` (every severity, hints included)."""
    result = run_tool(
        "spectral", "lint", "--ruleset", str(HERE / "spectral.yaml"), "--format", "json",
        "--fail-severity", "hint", "--quiet", str(document),
    )  # fmt: skip
    results: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    assert result.returncode == (1 if results else 0), result.stderr[-2000:]
    return results


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_redocly_recommended_finds_nothing(document: Path) -> None:
    # When the committed document is linted with Redocly's recommended rules
    problems = redocly(document)
    # Then there is no error and no warning
    assert [(p["ruleId"], p["severity"], p["message"]) for p in problems] == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_spectral_oas_finds_nothing(document: Path) -> None:
    # When the committed document is linted with spectral:oas
    results = spectral(document)
    # Then there is no result of any severity
    assert [(r["code"], r["severity"], r["message"]) for r in results] == []


def test_both_linters_refuse_an_example_its_schema_refuses(tmp_path: Path) -> None:
    # Given the frontend's document with a lower-case serviceType in GET's example answer and
    # without its contact
    document = copy.deepcopy(json.loads(DOCUMENTS[0].read_text(encoding="utf-8")))
    ok = document["paths"][CONNECTION]["get"]["responses"]["200"]["content"]["application/json"]
    ok["examples"]["connection"]["value"]["serviceType"] = "github"
    del document["info"]["contact"]
    broken = tmp_path / "openapi.json"
    broken.write_text(json.dumps(document), encoding="utf-8")

    # When both lint it
    redocly_rules = {problem["ruleId"] for problem in redocly(broken)}
    spectral_rules = {result["code"] for result in spectral(broken)}

    # Then both name the example, and Spectral the missing contact
    assert redocly_rules == {"no-invalid-media-type-examples"}
    assert spectral_rules == {"oas3-valid-media-example", "info-contact"}
