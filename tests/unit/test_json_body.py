"""json_body.load_json: JSON within a nesting and a number-size limit, or 400 malformed_body —
never a RecursionError or ValueError escaping as a 500."""

from __future__ import annotations

import json

import pytest
from repoconn_core.errors import MalformedBody
from repoconn_core.json_body import MAX_DEPTH, MAX_NUMBER_DIGITS, load_json


def _nested(depth: int, inner: str = "0") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize(
    "text",
    [
        _nested(MAX_DEPTH - 1),
        '{"a":' * (MAX_DEPTH - 1) + "0" + "}" * (MAX_DEPTH - 1),
        "9" * MAX_NUMBER_DIGITS,
        "-" + "9" * MAX_NUMBER_DIGITS,
        json.dumps({"text": "[" * 5000 + "{" * 5000, "digits": "7" * 5000}),
        json.dumps([{"id": n, "labels": [[n]]} for n in range(500)]),
    ],
    ids=[
        "deepest array",
        "deepest object",
        "longest int",
        "longest negative int",
        "brackets and digits inside strings",
        "many containers, shallow",
    ],
)
def test_json_within_the_limits_is_read_as_json_loads_reads_it(text: str) -> None:
    assert load_json(text) == json.loads(text)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        (_nested(MAX_DEPTH + 1), "nested more than"),
        (_nested(1_000), "nested more than"),
        (_nested(1_000_000), "nested more than"),
        ("[" * 1_000_000, "nested more than"),
        # Python 3.13's parser reaches the stray "}" before any recursion limit: not JSON
        # (on 3.11 the recursion came first). Either way a 400, never a 500.
        ("[" * 5000 + "}", "not valid JSON"),
        ("9" * (MAX_NUMBER_DIGITS + 1), "digits"),
        ("[" + "9" * 5000 + "]", "digits"),
        ("1." + "5" * 100, "digits"),
        # valid JSON text, but no double: read as inf, it would be written back as Infinity
        ("1e999", "beyond the range"),
        ('{"n": [-1E+400]}', "beyond the range"),
        ("NaN", "not valid JSON"),
        ("[-Infinity]", "not valid JSON"),
        ("{", "not valid JSON"),
    ],
)
def test_json_beyond_the_limits_or_not_json_is_malformed_body(text: str, detail: str) -> None:
    with pytest.raises(MalformedBody) as refused:
        load_json(text)
    assert (refused.value.status, refused.value.code) == (400, "malformed_body")
    assert detail in refused.value.detail
