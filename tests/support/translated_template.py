"""template.yaml as CloudFormation receives it, after the SAM transform (aws-sam-translator,
run by infra/sam/translate.py with the SAM CLI's own Python, the version the Makefile pins),
and each function role's statements as the rows of docs/security.md's IAM table.

What SAM deploys is the translated template, not template.yaml as written: SAM adds managed
policies, expands policy templates and builds the APIs' definitions itself. Tests of what AWS
will enforce read this, never template.yaml alone.
"""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TRANSLATE = ROOT / "infra" / "sam" / "translate.py"
UV = ROOT / ".tools" / "bin" / "uv"


def sam_version() -> str:
    match = re.search(r"^SAM_VERSION\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert match, "SAM_VERSION not found in the Makefile"
    return match.group(1)


@cache
def translated_template(*parameters: str) -> dict[str, Any]:
    """The translation, with ``Name=Value`` parameter values as a deployment would give them
    (SAM resolves some parameters itself; without values it leaves the Refs)."""
    result = subprocess.run(
        [str(UV), "tool", "run", "--from", f"aws-sam-cli=={sam_version()}", "python",
         str(TRANSLATE), str(ROOT / "template.yaml"), *parameters],
        capture_output=True, text=True, timeout=600, check=False, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    translated: dict[str, Any] = json.loads(result.stdout)
    return translated


def _reference(value: Any) -> str:
    """A resource as the table names it: logical ids and literal ARNs, intrinsics unwrapped."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::GetAtt":
            return str(argument[0]) if argument[1] == "Arn" else ".".join(argument)
        if function == "Fn::Sub" and isinstance(argument, str):
            text = re.sub(r"\$\{([A-Za-z0-9]+)(?:\.Arn)?\}", r"\1", argument)
            return text.replace("arn:AWS::Partition:iam::aws:policy/", "")
        if function == "Ref":
            return str(argument)
    return json.dumps(value, sort_keys=True)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _function_roles(template: dict[str, Any]) -> dict[str, str]:
    """Function logical id → the logical id of the role it runs with (SAM's or its own)."""
    roles = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function":
            role = resource["Properties"]["Role"]
            assert isinstance(role, dict) and "Fn::GetAtt" in role, (logical_id, role)
            roles[logical_id] = role["Fn::GetAtt"][0]
    return roles


def policy_rows(template: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """(function, action, resource, condition) for every allowed action of every function's
    role, one row per action and resource; managed policies as ("managed policy", name)."""
    rows: set[tuple[str, str, str, str]] = set()
    for function, role in _function_roles(template).items():
        properties = template["Resources"][role]["Properties"]
        for arn in properties.get("ManagedPolicyArns", []):
            name = _reference(arn).rsplit("/", 1)[-1]
            rows.add((function, "managed policy", name, ""))
        for policy in properties.get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow", statement
                condition = statement.get("Condition")
                rendered = json.dumps(condition, sort_keys=True) if condition else ""
                for action in _listed(statement["Action"]):
                    for target in _listed(statement["Resource"]):
                        rows.add((function, action, _reference(target), rendered))
    return rows


def documented_rows(markdown: str) -> set[tuple[str, str, str, str]]:
    """The rows of the table under "### IAM per function" in ``markdown``."""
    section = markdown.split("### IAM per function", 1)[1].split("\n#", 1)[0]
    rows: set[tuple[str, str, str, str]] = set()
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("function", "") or set(cells[0]) <= {"-"}:
            continue
        function, action, target, condition = (cell.strip("`") for cell in cells)
        rows.add((function, action, target, "" if condition == "—" else condition))
    return rows
