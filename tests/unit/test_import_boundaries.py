"""Cold-start import boundaries: what each Lambda function loads before its first answer.

Every function runs in a fresh interpreter laid out as Lambda lays it out: the function's
CodeUri first on ``sys.path``, then the source folder of each layer the template gives it (a
layer's ``python/`` folder holds exactly that folder's packages). The child imports ``app``,
then calls the composition-root builder the handler imported (what its first request does),
and reports every top-level module in ``sys.modules``.

Read functions must not load ``cryptography`` or ``requests`` (DESIGN: they have no KMS
permission and no provider to call); the webhook receiver verifies signatures with the
standard library and must not load ``requests``. The write path loads both, which shows that
the harness does see them when they are there.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from repoconn_local.aws import template_schema

from tests.support.aws_sandbox import function_environment

ROOT = Path(__file__).resolve().parents[2]
# Top-level modules a function must never load after its cold start.
NEVER = frozenset({"aws_xray_sdk", "pytest", "moto", "repoconn_local", "repoconn_openapi", "tests"})
READ_PATH_FORBIDDEN = frozenset({"cryptography", "requests"})
# Logical id → (the wiring builder its handler imports, what it must not load).
BOUNDARIES: dict[str, tuple[str, frozenset[str]]] = {
    "GetConnectionFunction": ("connection_queries", READ_PATH_FORBIDDEN),
    "ConnectionExistsFunction": ("connection_queries", READ_PATH_FORBIDDEN),
    "ListDeliveriesFunction": ("connection_queries", READ_PATH_FORBIDDEN),
    "WebhookReceiverFunction": ("receive_webhook", frozenset({"requests"})),
    "UpsertConnectionFunction": ("connect_repository", frozenset()),
    "DisconnectConnectionFunction": ("disconnect_repository", frozenset()),
    "HealthCheckFunction": ("health_check", frozenset()),
    "ReconcileDeliveriesFunction": ("reconcile_deliveries", frozenset()),
    # The relay publishes what the receiver recorded: no secret, no provider.
    "PublishDeliveriesFunction": ("publish_deliveries", READ_PATH_FORBIDDEN),
    # Opens and seals secrets (cryptography), never calls a provider.
    "ReencryptConnectionsFunction": ("reencrypt_connections", frozenset({"requests"})),
}
# The environment Lambda and the template give a function (values are placeholders; building
# a use case creates clients but sends nothing).
LAMBDA_ENVIRONMENT = {
    **function_environment("import-boundary-check"),
    "AWS_SESSION_TOKEN": "testing",
    "PYTHONDONTWRITEBYTECODE": "1",
}
CHILD = """
import json, sys
import app
getattr(app, sys.argv[1])()
print(json.dumps(sorted({name.partition(".")[0] for name in sys.modules})))
"""


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }


def _child_environment(path: list[Path]) -> dict[str, str]:
    """Lambda's environment for a child whose sys.path is ``path`` (code, then layers)."""
    return {
        "PATH": os.environ.get("PATH", ""),
        **LAMBDA_ENVIRONMENT,
        "PYTHONPATH": os.pathsep.join(str(entry) for entry in path),
    }


def _lambda_path(template: dict[str, Any], properties: dict[str, Any]) -> list[Path]:
    layers = [
        ROOT / template["Resources"][layer["Ref"]]["Properties"]["ContentUri"]
        for layer in properties.get("Layers", [])
    ]
    return [ROOT / properties["CodeUri"], *layers]


@pytest.fixture(scope="module")
def loaded_modules() -> Iterator[dict[str, set[str]]]:
    """Logical id → top-level modules loaded after import + build; all children in parallel."""
    template = template_schema.load_template()
    children: dict[str, subprocess.Popen[str]] = {}
    for logical_id, properties in _functions(template).items():
        builder, _ = BOUNDARIES[logical_id]
        path = _lambda_path(template, properties)
        env = _child_environment(path)
        children[logical_id] = subprocess.Popen(
            [sys.executable, "-c", CHILD, builder],
            cwd=path[0],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    loaded: dict[str, set[str]] = {}
    for logical_id, child in children.items():
        stdout, stderr = child.communicate(timeout=120)
        assert child.returncode == 0, f"{logical_id} failed its cold start:\n{stderr}"
        loaded[logical_id] = set(json.loads(stdout))
    yield loaded


def test_every_function_in_the_template_has_a_declared_boundary(
    template: dict[str, Any],
) -> None:
    # given / when
    functions = set(_functions(template))

    # then
    assert functions == set(BOUNDARIES)


@pytest.mark.parametrize("logical_id", sorted(BOUNDARIES))
def test_cold_start_loads_none_of_the_forbidden_modules(
    loaded_modules: dict[str, set[str]], logical_id: str
) -> None:
    # given
    _, forbidden = BOUNDARIES[logical_id]

    # when
    loaded = loaded_modules[logical_id]

    # then
    assert loaded & (forbidden | NEVER) == set()


def test_read_functions_get_only_the_core_layer(template: dict[str, Any]) -> None:
    # given
    functions = _functions(template)

    # when
    layers = {
        logical_id: [layer["Ref"] for layer in functions[logical_id]["Layers"]]
        for logical_id in (
            "GetConnectionFunction",
            "ConnectionExistsFunction",
            "ListDeliveriesFunction",
        )
    }

    # then
    assert layers == {
        "GetConnectionFunction": ["CoreLayer"],
        "ConnectionExistsFunction": ["CoreLayer"],
        "ListDeliveriesFunction": ["CoreLayer"],
    }


def test_the_write_path_loads_requests_and_cryptography_so_the_check_can_see_them(
    loaded_modules: dict[str, set[str]],
) -> None:
    # when
    loaded = loaded_modules["UpsertConnectionFunction"]

    # then
    assert loaded & READ_PATH_FORBIDDEN == READ_PATH_FORBIDDEN


# What Lambda's python3.13 runtime provides besides the standard library (its boto3).
RUNTIME_DISTRIBUTIONS = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
)


def _distributions_in(requirements: Path) -> set[str]:
    return {
        re.split(r"[=<>~!\[ ;]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
        for line in requirements.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }


# The child again, but every top-level module its function does not ship is absent, as on
# Lambda: an import of it raises ModuleNotFoundError (optional ones, which libraries guard,
# are skipped as they would be there).
ONLY_SHIPPED_CHILD = """
import importlib.abc, json, sys
shipped = set(json.loads(sys.argv[2]))
class OnlyShipped(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.partition(".")[0]
        if (top in shipped or top in sys.stdlib_module_names
                or top in sys.builtin_module_names or top.startswith("_sysconfigdata")):
            return None
        raise ModuleNotFoundError(f"No module named {top!r}: not shipped", name=top)
sys.meta_path.insert(0, OnlyShipped())
import app
getattr(app, sys.argv[1])()
"""


def _shipped_modules(template: dict[str, Any], properties: dict[str, Any]) -> set[str]:
    """Top-level modules a deployed function can import: its layers' packages, the wheels
    their requirements.txt install, and the runtime's SDK (as this venv lays them out)."""
    owners = importlib.metadata.packages_distributions()
    distributions = set(RUNTIME_DISTRIBUTIONS)
    modules = {"app"}
    for layer in properties.get("Layers", []):
        content = ROOT / template["Resources"][layer["Ref"]]["Properties"]["ContentUri"]
        distributions |= _distributions_in(content / "requirements.txt")
        modules |= {entry.name for entry in content.iterdir() if entry.is_dir()}
    modules |= {
        module
        for module, owner in owners.items()
        if {d.lower().replace("_", "-") for d in owner} & distributions
    }
    return modules


@pytest.mark.parametrize("logical_id", sorted(BOUNDARIES))
def test_a_cold_start_needs_nothing_its_layers_and_the_runtime_do_not_ship(
    template: dict[str, Any], logical_id: str
) -> None:
    # given only what the deployed function has importable
    properties = _functions(template)[logical_id]
    path = _lambda_path(template, properties)
    shipped = sorted(_shipped_modules(template, properties))
    builder, _ = BOUNDARIES[logical_id]
    # when it starts cold and builds what its first request uses
    child = subprocess.run(
        [sys.executable, "-c", ONLY_SHIPPED_CHILD, builder, json.dumps(shipped)],
        cwd=path[0],
        env=_child_environment(path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # then nothing it needs is missing (found by issue 15's shipped-layout bench: the
    # re-encryption function had no layer with cryptography)
    assert child.returncode == 0, child.stderr[-2000:]
