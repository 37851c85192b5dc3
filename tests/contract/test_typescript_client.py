"""A frontend's view of docs/openapi.json: openapi-typescript generates its types, and a small
openapi-fetch client (tests/contract/client.ts) type-checks against them with ``tsc --noEmit``
(all pinned, tests/support/npm_tools.py). The client assigns the answer's enums to union-typed
variables and asserts exact field types, so a loosened document fails to compile — the second
test proves it with serviceType turned into a plain string."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

from tests.support.npm_tools import ROOT, ensure_installed, run_tool

HERE = Path(__file__).resolve().parent
DOCUMENT = ROOT / "docs" / "openapi.json"
TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "noEmit": True,
        "target": "ES2022",
        "module": "ESNext",
        "moduleResolution": "Bundler",
        "lib": ["ES2022", "DOM"],
        "noUnusedLocals": False,
        "skipLibCheck": False,
    },
    "files": ["client.ts", "schema.d.ts"],
}


def type_check(document: dict[str, Any], work: Path) -> tuple[int, str]:
    """Generate schema.d.ts from ``document`` next to a copy of client.ts; tsc's exit code and
    output."""
    node_modules = ensure_installed()
    (work / "openapi.json").write_text(json.dumps(document), encoding="utf-8")
    generated = run_tool(
        "openapi-typescript", str(work / "openapi.json"), "--output", str(work / "schema.d.ts")
    )
    assert generated.returncode == 0, generated.stderr[-2000:]
    shutil.copy(HERE / "client.ts", work / "client.ts")
    (work / "tsconfig.json").write_text(json.dumps(TSCONFIG), encoding="utf-8")
    (work / "node_modules").symlink_to(node_modules, target_is_directory=True)
    checked = run_tool("tsc", "--noEmit", "-p", str(work / "tsconfig.json"), cwd=work)
    return checked.returncode, checked.stdout + checked.stderr


def test_the_client_type_checks_against_the_generated_types(tmp_path: Path) -> None:
    # Given the committed document
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    # When its types are generated and the client is type-checked against them
    status, output = type_check(document, tmp_path)
    # Then tsc finds nothing
    assert (status, output) == (0, "")


def test_a_service_type_loosened_to_a_string_does_not_compile(tmp_path: Path) -> None:
    # Given the document with the answer's serviceType as a plain string
    document = copy.deepcopy(json.loads(DOCUMENT.read_text(encoding="utf-8")))
    info = document["components"]["schemas"]["RepositoryConnectionInfo"]
    info["properties"]["serviceType"] = {"type": "string"}
    # When the client is type-checked against its types
    status, output = type_check(document, tmp_path)
    # Then tsc refuses it, where the client expects the enum
    assert status != 0
    assert "Type 'string' is not assignable to type 'ServiceType'" in output, output
