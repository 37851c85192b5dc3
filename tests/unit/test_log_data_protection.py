"""The log groups' data-protection policy (template.yaml): every log group has it, and its
custom data identifiers match the secrets they are there for, in the shapes logs carry them."""

from __future__ import annotations

import base64
import json
import os
import re
from typing import Any

import pytest
from repoconn_local.aws.template_schema import load_template
from repoconn_local.gateway.jwt_authorizer import mint_token

# CloudWatch Logs' limits on a custom data identifier's regex (CWL-custom-data-identifiers).
ALLOWED_REGEX = re.compile(r"[A-Za-z0-9_#=@/;, \-^$?\[\]{}|\\*+.]+")


def _policies() -> dict[str, Any]:
    resources = load_template()["Resources"]
    return {
        name: resource["Properties"].get("DataProtectionPolicy")
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Logs::LogGroup"
    }


def _identifiers() -> dict[str, re.Pattern[str]]:
    [policy] = {json.dumps(p, sort_keys=True) for p in _policies().values()}
    custom = json.loads(policy)["Configuration"]["CustomDataIdentifier"]
    return {item["Name"]: re.compile(item["Regex"]) for item in custom}


def test_every_log_group_masks_with_the_same_policy() -> None:
    policies = _policies()
    functions = [
        resource
        for resource in load_template()["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    ]
    # one per function, and the API access log
    assert len(policies) == len(functions) + 1
    assert all(policy is not None for policy in policies.values())
    [policy] = {json.dumps(p, sort_keys=True) for p in policies.values()}
    statements = json.loads(policy)["Statement"]
    # the audit and the redact statement name the same identifiers (CloudWatch requires it)
    assert statements[0]["DataIdentifier"] == statements[1]["DataIdentifier"]
    assert set(_identifiers()) <= set(statements[0]["DataIdentifier"])
    for pattern in _identifiers().values():
        assert len(pattern.pattern) <= 200 and ALLOWED_REGEX.fullmatch(pattern.pattern)


DATA_KEY = base64.b64encode(os.urandom(32)).decode("ascii")
SAMPLES = {
    "BearerJwt": f"authorization: Bearer {mint_token('alice', admin_of=['p1'], secret='x' * 32)}",
    "GitHubToken": "token=ghp_" + "A1b2C3d4E5" * 3 + "f6G7h8",
    "GitHubFineGrainedToken": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "GitLabToken": "PRIVATE-TOKEN: glpat-Ab12Cd34Ef56Gh78Ij90",
    "BitbucketToken": "Authorization: Bearer ATBBxY12zW34vU56tS78rQ90pO",
    "KmsPlaintextDataKey": f'Response body: b\'{{"KeyId":"arn:...","Plaintext":"{DATA_KEY}"}}\'',
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_custom_identifier_matches_its_secret_as_a_log_line_holds_it(name: str) -> None:
    assert _identifiers()[name].search(SAMPLES[name])


def test_the_identifiers_leave_ordinary_log_lines_alone() -> None:
    line = (
        '{"level":"INFO","message":"request refused","code":"forbidden","status":403,'
        '"correlation_id":"4ed6bf73-b143-43fa-80f7-101f5b7384b7","repository":"acme/api"}'
    )
    assert not [name for name, pattern in _identifiers().items() if pattern.search(line)]
