"""The KMS key policies of the SAM-translated template, as a deployed stack has them, and a
small evaluator of what they allow.

``key_policy`` resolves the pseudo parameters (account, partition, region, stack name) a
deployment gives, so statements read as AWS reads them. ``allows`` answers "does some Allow
statement of this key policy match this request?" for the operators and condition keys these
policies use, the way AWS's policy evaluation documents them: a condition key absent from the
request fails a plain operator, passes an ``…IfExists`` one and passes ``ForAllValues:``;
``Null: "false"`` needs the key present. A key policy naming the account (``…:root``) only
delegates to IAM, so for such principals ``allows`` is necessary, not sufficient — what the
tests check is that the key policy alone already refuses everyone else.

The evaluator raises on an operator it does not know, so a policy change it cannot judge fails
the tests instead of passing them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from tests.support.translated_template import translated_template

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
REGION = "eu-west-1"
STACK = "repoconn-prod"
PSEUDO = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::StackName": STACK,
    "AWS::URLSuffix": "amazonaws.com",
}
BUS_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{STACK}-events"


def _resolve(value: Any) -> Any:
    if isinstance(value, list):
        return [_resolve(item) for item in value]
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in PSEUDO:
            return PSEUDO[value["Ref"]]
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            text = value["Fn::Sub"]
            unknown = set(re.findall(r"\$\{([^}]+)\}", text)) - set(PSEUDO)
            assert not unknown, f"a key policy refers to {unknown}: the evaluator cannot resolve it"
            return re.sub(r"\$\{([^}]+)\}", lambda match: PSEUDO[match.group(1)], text)
        return {key: _resolve(item) for key, item in value.items()}
    return value


def key_policy(logical_id: str) -> list[dict[str, Any]]:
    """The statements of ``logical_id``'s key policy, pseudo parameters resolved."""
    resource = translated_template()["Resources"][logical_id]
    assert resource["Type"] == "AWS::KMS::Key"
    statements: list[dict[str, Any]] = _resolve(resource["Properties"]["KeyPolicy"]["Statement"])
    return statements


def function_role_arn(function: str, *, stack: str = STACK, account: str = ACCOUNT) -> str:
    """The ARN a deployed function role has: the template's role path, CloudFormation's name."""
    name = f"{stack}-{function}Role-1A2B3C"
    return f"arn:aws:iam::{account}:role/repository-connections/{stack}/{name}"


@dataclass
class Request:
    action: str
    # An IAM principal's ARN (what aws:PrincipalArn holds), or an AWS service principal.
    principal_arn: str | None = None
    service: str | None = None
    context: dict[str, str | list[str]] = field(default_factory=dict)

    def value(self, key: str) -> list[str] | None:
        if key == "aws:PrincipalArn":
            return [self.principal_arn] if self.principal_arn else None
        if key == "kms:CallerAccount" and self.principal_arn:
            return [self.principal_arn.split(":")[4]]
        found = self.context.get(key)
        if found is None:
            return None
        return [found] if isinstance(found, str) else list(found)


def connection_context(project: str = "p1", repository: str = "https://github.com/a/b") -> dict:
    """The condition keys a KMS request for one connection's field carries (format 2)."""
    return {
        "kms:EncryptionContextKeys": ["projectId", "repositoryUrl", "field"],
        "kms:EncryptionContext:projectId": project,
        "kms:EncryptionContext:repositoryUrl": repository,
        "kms:EncryptionContext:field": "accessToken",
    }


def _principal_matches(principal: Any, request: Request) -> bool:
    if principal == "*":
        return request.principal_arn is not None
    for kind, values in principal.items():
        for value in [values] if isinstance(values, str) else values:
            if kind == "Service" and request.service == value:
                return True
            if kind == "AWS" and request.principal_arn is not None:
                if value == "*":
                    return True
                account_root = re.fullmatch(r"arn:aws:iam::(\d{12}):root", value)
                if account_root and request.principal_arn.split(":")[4] == account_root.group(1):
                    return True
                if value == request.principal_arn:
                    return True
    return False


def _condition_holds(operator: str, key: str, expected: Any, request: Request) -> bool:
    wanted = [str(item) for item in (expected if isinstance(expected, list) else [expected])]
    actual = request.value(key)
    if operator == "Null":
        (flag,) = wanted
        return (actual is None) == (flag == "true")
    if operator.startswith("ForAllValues:"):
        base = operator.removeprefix("ForAllValues:")
        return actual is None or all(_compare(base, item, wanted) for item in actual)
    if operator.endswith("IfExists"):
        if actual is None:
            return True
        operator = operator.removesuffix("IfExists")
    if actual is None:
        return False
    return any(_compare(operator, item, wanted) for item in actual)


def _compare(operator: str, actual: str, wanted: list[str]) -> bool:
    if operator in ("StringEquals", "ArnEquals"):
        return actual in wanted
    if operator in ("StringLike", "ArnLike"):
        return any(fnmatchcase(actual, pattern) for pattern in wanted)
    raise AssertionError(f"the key policy evaluator does not know {operator}")


def _statement_allows(statement: dict[str, Any], request: Request) -> bool:
    assert statement["Effect"] == "Allow", "a Deny would need evaluating first"
    assert statement["Resource"] == "*"
    actions = statement["Action"]
    if not any(
        fnmatchcase(request.action, pattern)
        for pattern in ([actions] if isinstance(actions, str) else actions)
    ):
        return False
    if not _principal_matches(statement["Principal"], request):
        return False
    return all(
        _condition_holds(operator, key, expected, request)
        for operator, keys in statement.get("Condition", {}).items()
        for key, expected in keys.items()
    )


def allows(statements: list[dict[str, Any]], request: Request) -> bool:
    return any(_statement_allows(statement, request) for statement in statements)


def documented_key_rows(markdown: str) -> set[tuple[str, str, str, str, str]]:
    """The rows of the table under "### Key policies" in ``markdown``."""
    section = markdown.split("### Key policies", 1)[1].split("\n#", 1)[0]
    rows: set[tuple[str, str, str, str, str]] = set()
    for line in section.splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[0] in ("key", "") or set(cells[0]) <= {"-"}:
            continue
        rows.add((*cells[:4], "" if cells[4] == "—" else cells[4]))  # type: ignore[arg-type]
    return rows


def key_rows(logical_id: str) -> set[tuple[str, str, str, str, str]]:
    """(key, Sid, principal, actions, condition) per statement, as the documented table has
    them: pseudo parameters as written (``${AWS::StackName}``), not resolved."""
    resource = translated_template()["Resources"][logical_id]
    rows = set()
    for statement in resource["Properties"]["KeyPolicy"]["Statement"]:
        principal = json.dumps(_as_written(statement["Principal"]), sort_keys=True)
        actions = statement["Action"]
        action_text = ", ".join([actions] if isinstance(actions, str) else actions)
        condition = statement.get("Condition")
        rendered = json.dumps(_as_written(condition), sort_keys=True) if condition else ""
        rows.add((logical_id, statement["Sid"], principal, action_text, rendered))
    return rows


def _as_written(value: Any) -> Any:
    if isinstance(value, list):
        return [_as_written(item) for item in value]
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return "${" + str(value["Ref"]) + "}"
        if set(value) == {"Fn::Sub"}:
            return value["Fn::Sub"]
        return {key: _as_written(item) for key, item in value.items()}
    return value
