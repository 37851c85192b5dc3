"""A function's ``Type: DynamoDB`` event in template.yaml: the stream event source mapping the
local stack emulates (stream_source), with its FilterCriteria.

Lambda drops records no ``FilterCriteria`` pattern matches before batching
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html). The subset of
EventBridge patterns implemented is exact values and ``{"prefix": ...}`` in nested objects; any
other operator is refused when the mapping is read, not silently ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from repoconn_local.lambda_host.functions import (
    FUNCTION_TYPE,
    FunctionSpec,
    TemplateError,
    function_spec,
)

# Lambda's defaults for a DynamoDB event source
# (https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html).
DEFAULT_BATCH_SIZE = 100
# Lambda's default MaximumRetryAttempts is -1 (until the record expires, 24 h): locally, this.
LOCAL_RETRY_ATTEMPTS = 10
STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST")


@dataclass(frozen=True)
class StreamMapping:
    """A function's ``Type: DynamoDB`` event: what the emulation reads from the template."""

    function: FunctionSpec
    table_logical_id: str
    batch_size: int = DEFAULT_BATCH_SIZE
    filter_patterns: tuple[Mapping[str, Any], ...] = ()
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = LOCAL_RETRY_ATTEMPTS
    starting_position: str = "TRIM_HORIZON"

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether Lambda would deliver ``record``: no FilterCriteria, or a pattern matches."""
        patterns = self.filter_patterns
        return not patterns or any(_pattern_matches(pattern, record) for pattern in patterns)


def stream_mapping(
    template: Mapping[str, Any], parameter_overrides: Mapping[str, str] | None = None
) -> StreamMapping:
    """The one function of the template with a ``Type: DynamoDB`` event, and that event."""
    found = [
        (logical_id, name, event.get("Properties") or {})
        for logical_id, resource in (template.get("Resources") or {}).items()
        if isinstance(resource, Mapping) and resource.get("Type") == FUNCTION_TYPE
        for name, event in ((resource.get("Properties") or {}).get("Events") or {}).items()
        if isinstance(event, Mapping) and event.get("Type") == "DynamoDB"
    ]
    if len(found) != 1:
        raise TemplateError(
            f"expected one function event of Type DynamoDB, found {len(found)}: the local "
            "stack emulates one stream event source mapping"
        )
    logical_id, name, properties = found[0]
    where = f"{logical_id}.{name}"
    stream = properties.get("Stream")
    attribute = stream.get("Fn::GetAtt") if isinstance(stream, Mapping) else None
    if not (isinstance(attribute, list) and len(attribute) == 2 and attribute[1] == "StreamArn"):
        raise TemplateError(f"{where}: Stream must be !GetAtt <table>.StreamArn")
    position = properties.get("StartingPosition", "TRIM_HORIZON")
    if position not in STARTING_POSITIONS:
        raise TemplateError(f"{where}: StartingPosition {position!r} is not emulated")
    retries = int(properties.get("MaximumRetryAttempts", -1))
    patterns = tuple(
        _pattern(entry.get("Pattern"), where)
        for entry in ((properties.get("FilterCriteria") or {}).get("Filters") or [])
    )
    return StreamMapping(
        function=function_spec(template, logical_id, parameter_overrides),
        table_logical_id=str(attribute[0]),
        batch_size=int(properties.get("BatchSize", DEFAULT_BATCH_SIZE)),
        filter_patterns=patterns,
        report_batch_item_failures="ReportBatchItemFailures"
        in (properties.get("FunctionResponseTypes") or []),
        maximum_retry_attempts=retries if retries >= 0 else LOCAL_RETRY_ATTEMPTS,
        starting_position=str(position),
    )


# ----------------------------------------------------------------------------- filter patterns


def _pattern(raw: Any, where: str) -> Mapping[str, Any]:
    pattern = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(pattern, Mapping):
        raise TemplateError(f"{where}: a FilterCriteria pattern must be a JSON object")
    _check_pattern(pattern, where)
    return pattern


def _check_pattern(pattern: Mapping[str, Any], where: str) -> None:
    """Refuse what _pattern_matches does not implement, instead of matching it wrongly."""
    for key, expected in pattern.items():
        if isinstance(expected, Mapping):
            _check_pattern(expected, f"{where}.{key}")
        elif isinstance(expected, list):
            for option in expected:
                if isinstance(option, Mapping) and not (
                    set(option) == {"prefix"} and isinstance(option["prefix"], str)
                ):
                    raise TemplateError(
                        f"{where}.{key}: filter operator {json.dumps(option)} is not emulated "
                        "locally (only exact values and prefix)"
                    )
        else:
            raise TemplateError(f"{where}.{key}: a pattern value must be an object or a list")


def _pattern_matches(pattern: Mapping[str, Any], value: Mapping[str, Any]) -> bool:
    """EventBridge semantics: every field of the pattern must be present and match; a list
    matches when any option does (against any element when the value is a list)."""
    for key, expected in pattern.items():
        if key not in value:
            return False
        actual = value[key]
        if isinstance(expected, Mapping):
            if not isinstance(actual, Mapping) or not _pattern_matches(expected, actual):
                return False
            continue
        candidates = actual if isinstance(actual, list) else [actual]
        if not any(_option_matches(option, item) for option in expected for item in candidates):
            return False
    return True


def _option_matches(option: Any, actual: Any) -> bool:
    if isinstance(option, Mapping):
        return isinstance(actual, str) and actual.startswith(option["prefix"])
    return bool(option == actual)
