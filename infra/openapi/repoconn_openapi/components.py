"""The document's component schemas: gathered from the handlers' models, merged across
functions (one name, one schema), and checked so that every ``$ref`` resolves — the part of
generating the documents that is about schemas rather than routes (generator.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from repoconn_openapi.route_errors import COMPONENT_REF


class OpenApiError(ValueError):
    """The template and the handlers disagree, or a route has no error table."""


def merge_schemas(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for name, schema in new.items():
        if name in into and into[name] != schema:
            raise OpenApiError(f"two functions define different schemas named {name}")
        into[name] = schema


def model_schemas(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s schema and the models it uses (pydantic's ``$defs``), as components."""
    schema = model.model_json_schema(ref_template=COMPONENT_REF)
    found = dict(schema.pop("$defs", {}))
    found[model.__name__] = schema
    return found


def referenced_schemas(node: Any, schemas: Mapping[str, Any]) -> set[str]:
    """The component schemas ``node`` refers to, directly or through other schemas."""
    found: set[str] = set()
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, Mapping):
            target = current.get("$ref")
            if isinstance(target, str):
                name = target.removeprefix("#/components/schemas/")
                if name not in found and name in schemas:
                    found.add(name)
                    pending.append(schemas[name])
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)
    return found


def check_refs(node: Any, schemas: Mapping[str, Any]) -> None:
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.removeprefix("#/components/schemas/") not in schemas:
            raise OpenApiError(f"dangling reference {ref}")
        for value in node.values():
            check_refs(value, schemas)
    elif isinstance(node, list):
        for item in node:
            check_refs(item, schemas)
