"""template.yaml as CloudFormation receives it: the SAM transform applied, printed as JSON.

Run with the SAM CLI's own Python (aws-sam-translator lives there, never in the app's venv):

    .tools/bin/uv tool run --from aws-sam-cli==<SAM_VERSION> python infra/sam/translate.py \
        template.yaml [Name=Value ... | --without-values]

``sam deploy`` uploads the code and replaces CodeUri/ContentUri with S3 locations before the
transform runs; here they become placeholder S3 URIs, which is all the translator checks.
Parameters without a default need a value (given as Name=Value, else a placeholder).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

PLACEHOLDER_S3 = "s3://repoconn-artifacts/placeholder.zip"


class _NoManagedPolicies:
    """The template names managed policies by ARN only; nothing to look up."""

    def load(self) -> dict[str, str]:
        return {}


def translate(path: str, overrides: dict[str, str] | None) -> dict[str, Any]:
    """``overrides``: parameter values (missing required ones get a placeholder); None gives
    the translator no values at all, so every parameter Ref stays a Ref."""
    with open(path, encoding="utf-8") as handle:
        template = yaml_parse(handle.read())
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = PLACEHOLDER_S3
    values: dict[str, Any] = {}
    for name, declaration in (template.get("Parameters") or {}).items():
        if overrides is None:
            break
        if name in overrides:
            values[name] = overrides[name]
        elif "Default" not in declaration:
            values[name] = "https://placeholder.invalid"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(template, values, _NoManagedPolicies())


def main(argv: list[str]) -> int:
    path, *pairs = argv
    overrides = (
        None if pairs == ["--without-values"] else dict(pair.split("=", 1) for pair in pairs)
    )
    json.dump(translate(path, overrides), sys.stdout, indent=1, sort_keys=True, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
