"""template.yaml's functions as the Lambda host runs them: handler module, timeout, memory.

``function_spec`` reads one ``AWS::Serverless::Function`` (Globals applied) for any event
source; the gateway's route table (repoconn_local.gateway.routes) builds its routes' functions
with ``function_spec_of`` and resolves its own values with the same ``TemplateValues``.

Template values are resolved as far as a local run can: ``!Ref`` to a parameter takes the
override or the parameter's Default (a CommaDelimitedList becomes a list). Anything else that
still holds an intrinsic where a literal is needed is reported, not guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FUNCTION_TYPE = "AWS::Serverless::Function"
# SAM's default Lambda timeout and memory size.
DEFAULT_FUNCTION_TIMEOUT_SECONDS = 3.0
DEFAULT_MEMORY_MB = 128


class TemplateError(ValueError):
    """The template asks for something the local stack cannot emulate faithfully."""


@dataclass(frozen=True)
class FunctionSpec:
    """What the Lambda runtime needs to call one function's handler."""

    logical_id: str
    module: str
    handler: str
    timeout_seconds: float = DEFAULT_FUNCTION_TIMEOUT_SECONDS
    memory_mb: int = DEFAULT_MEMORY_MB


def function_spec(
    template: Mapping[str, Any],
    logical_id: str,
    parameter_overrides: Mapping[str, str] | None = None,
) -> FunctionSpec:
    """One function's handler, timeout and memory, Globals applied: for the event sources
    other than HttpApi (the stream event source), which run it through function_host too."""
    resource = (template.get("Resources") or {}).get(logical_id)
    if not isinstance(resource, Mapping) or resource.get("Type") != FUNCTION_TYPE:
        raise TemplateError(f"{logical_id} is not an {FUNCTION_TYPE} resource")
    function_globals: Mapping[str, Any] = (template.get("Globals") or {}).get("Function") or {}
    return function_spec_of(
        logical_id,
        resource.get("Properties") or {},
        function_globals,
        TemplateValues(template, parameter_overrides or {}),
    )


class TemplateValues:
    """Resolves the intrinsics a local run can: Ref to a parameter (the override, else the
    parameter's Default), and Fn::Split of what resolves to a string."""

    def __init__(self, template: Mapping[str, Any], overrides: Mapping[str, str]) -> None:
        self._parameters: Mapping[str, Any] = template.get("Parameters") or {}
        self._overrides = overrides

    def value(self, value: Any, where: str) -> Any:
        if isinstance(value, Mapping) and set(value) == {"Ref"}:
            return self._parameter(str(value["Ref"]), where)
        if isinstance(value, Mapping) and set(value) == {"Fn::Split"}:
            delimiter, source = value["Fn::Split"]
            text = self.value(source, where)
            if not isinstance(text, str):
                raise TemplateError(f"{where}: Fn::Split needs a string, got {text!r}")
            return text.split(delimiter)
        if isinstance(value, Mapping) and any(
            key == "Ref" or str(key).startswith("Fn::") for key in value
        ):
            raise TemplateError(f"{where}: {dict(value)} cannot be resolved locally")
        if isinstance(value, list):
            resolved: list[Any] = []
            for item in value:
                item_value = self.value(item, where)
                resolved.extend(item_value if isinstance(item_value, list) else [item_value])
            return resolved
        return value

    def _parameter(self, name: str, where: str) -> Any:
        declaration = self._parameters.get(name)
        if not isinstance(declaration, Mapping):
            raise TemplateError(f"{where}: !Ref {name} names no template parameter")
        if name in self._overrides:
            raw: Any = self._overrides[name]
        elif "Default" in declaration:
            raw = declaration["Default"]
        else:
            raise TemplateError(
                f"{where}: parameter {name} has no Default; pass it as a parameter override"
            )
        if declaration.get("Type") == "CommaDelimitedList" and isinstance(raw, str):
            return [item.strip() for item in raw.split(",") if item.strip()]
        return raw


def function_spec_of(
    logical_id: str,
    properties: Mapping[str, Any],
    function_globals: Mapping[str, Any],
    resolver: TemplateValues,
) -> FunctionSpec:
    """A function resource's properties, Globals applied, as the Lambda host runs it."""

    def setting(name: str) -> Any:
        value = properties.get(name, function_globals.get(name))
        return resolver.value(value, f"{logical_id}.{name}") if value is not None else None

    code_uri, handler = setting("CodeUri"), setting("Handler")
    if not isinstance(code_uri, str) or not isinstance(handler, str) or "." not in handler:
        raise TemplateError(
            f"{logical_id}: needs a CodeUri directory and a module.function Handler"
        )
    handler_module, handler_function = handler.rsplit(".", 1)
    package = ".".join(part for part in code_uri.strip("/").split("/") if part not in ("", "."))
    timeout = setting("Timeout")
    memory = setting("MemorySize")
    return FunctionSpec(
        logical_id=logical_id,
        module=f"{package}.{handler_module}",
        handler=handler_function,
        timeout_seconds=float(timeout) if timeout is not None else DEFAULT_FUNCTION_TIMEOUT_SECONDS,
        memory_mb=int(memory) if memory is not None else DEFAULT_MEMORY_MB,
    )
