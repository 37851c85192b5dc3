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

import json
import os
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
    "WebhookReceiverFunction": ("receive_webhook", frozenset({"requests"})),
    "UpsertConnectionFunction": ("connect_repository", frozenset()),
    "DisconnectConnectionFunction": ("disconnect_repository", frozenset()),
    "HealthCheckFunction": ("health_check", frozenset()),
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
        env = {
            "PATH": os.environ.get("PATH", ""),
            **LAMBDA_ENVIRONMENT,
            "PYTHONPATH": os.pathsep.join(str(entry) for entry in path),
        }
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
        for logical_id in ("GetConnectionFunction", "ConnectionExistsFunction")
    }

    # then
    assert layers == {
        "GetConnectionFunction": ["CoreLayer"],
        "ConnectionExistsFunction": ["CoreLayer"],
    }


def test_the_write_path_loads_requests_and_cryptography_so_the_check_can_see_them(
    loaded_modules: dict[str, set[str]],
) -> None:
    # when
    loaded = loaded_modules["UpsertConnectionFunction"]

    # then
    assert loaded & READ_PATH_FORBIDDEN == READ_PATH_FORBIDDEN
