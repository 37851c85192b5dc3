"""The house's shape, checked from the source: which module may import which, and how large a
module may grow (docs/decisions.md, "The house"). Static: every import statement counts,
including those inside functions and under TYPE_CHECKING, so a lazy import cannot hide a
dependency."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Import root → the packages under it that are the project's own code.
SOURCE_ROOTS = {
    ROOT / "layers" / "core": "repoconn_core",
    ROOT / "layers" / "providers": "repoconn_providers",
    ROOT / "infra" / "local": "repoconn_local",
}
USE_CASES = (
    "repoconn_core.connect",
    "repoconn_core.disconnect",
    "repoconn_core.health",
    "repoconn_core.leases",
    "repoconn_core.queries",
    "repoconn_core.receive",
    "repoconn_core.relay",
)
AWS_SDKS = ("pynamodb", "boto3", "botocore")
STORAGE = "repoconn_core.storage"
MAX_STORAGE_LINES = 350
MAX_MODULE_LINES = 500


def _module_files() -> Iterator[tuple[str, Path]]:
    for root, package in SOURCE_ROOTS.items():
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


@cache
def _graph() -> dict[str, frozenset[str]]:
    """Module → every module it imports (project modules by full name, others by top level)."""
    files = dict(_module_files())
    graph: dict[str, frozenset[str]] = {}
    for name, path in files.items():
        targets: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    targets.add(submodule if submodule in files else base)
        graph[name] = frozenset(
            target if target in files else target.partition(".")[0] for target in targets
        )
    return graph


def _reachable(start: str) -> set[str]:
    graph, seen, todo = _graph(), set(), [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_graph_sees_the_project_modules_and_their_imports() -> None:
    # A check that found nothing would pass vacuously: pin what it must see.
    graph = _graph()
    assert {"repoconn_core.connect", "repoconn_providers.registry", STORAGE} <= set(graph)
    assert "repoconn_core.storage.schema" in graph["repoconn_core.storage.connection_writes"]
    assert "pynamodb" in _reachable("repoconn_core.storage.connection_store")


def test_no_module_of_the_project_imports_itself_through_others() -> None:
    circles = sorted(name for name in _graph() if name in _reachable(name))
    assert circles == []


def test_the_core_layer_never_names_the_provider_layer() -> None:
    offenders = {
        name: sorted(t for t in targets if t.startswith("repoconn_providers"))
        for name, targets in _graph().items()
        if name.startswith("repoconn_core")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


@pytest.mark.parametrize("use_case", USE_CASES)
def test_a_use_case_reaches_no_aws_sdk_and_no_storage_adapter(use_case: str) -> None:
    reached = _reachable(use_case)
    assert sorted(reached & {*AWS_SDKS, "repoconn_core.wiring"}) == []
    assert sorted(name for name in reached if name.startswith(STORAGE)) == []


def test_modules_stay_small() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in [p for _, p in _module_files()] + sorted((ROOT / "functions").rglob("*.py"))
    }
    limit = {
        path: MAX_STORAGE_LINES if "/repoconn_core/storage/" in path else MAX_MODULE_LINES
        for path in sizes
    }
    assert {path: size for path, size in sizes.items() if size > limit[path]} == {}


def test_every_function_logs_through_the_pinned_logger_and_never_logs_its_event() -> None:
    # given every function's handler module
    handlers = sorted((ROOT / "functions").glob("*/app.py"))
    template = (ROOT / "template.yaml").read_text(encoding="utf-8")
    assert len(handlers) == template.count("Type: AWS::Serverless::Function")
    for handler in handlers:
        source = handler.read_text(encoding="utf-8")
        # then none builds its own Powertools Logger (function_logger pins the SDK loggers,
        # repoconn_core.logs) and every inject_lambda_context says log_event=False, which
        # POWERTOOLS_LOGGER_LOG_EVENT cannot override
        assert "Logger()" not in source, handler
        decorations = source.count("inject_lambda_context")
        uses_http_function = "HttpFunction()" in source
        assert uses_http_function or decorations == 1, handler
        assert source.count("log_event=False") == decorations, handler
    http_api = (ROOT / "layers/core/repoconn_core/http_api.py").read_text(encoding="utf-8")
    assert "log_event=False" in http_api and "debug=False" in http_api
    assert "function_logger()" in http_api
