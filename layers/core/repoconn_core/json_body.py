"""JSON bodies read within limits, before anything else is done with them.

Python's json module recurses once per nesting level (a body ``[[[[...`` a thousand deep is a
RecursionError) and converts integers of any length (more than 4,300 digits is a ValueError
since Python 3.11, and below that a quadratic conversion). Both used to surface as 500s with
a traceback, for any caller holding a valid JWT. Here every body is read with nesting deeper
than ``MAX_DEPTH`` and numbers longer than ``MAX_NUMBER_DIGITS`` refused, and answered
``400 malformed_body`` when it breaks a limit or is not JSON. The limits are far above
anything the API or a provider's delivery holds (GitHub's, GitLab's and Bitbucket's payloads
nest under ten levels; their ids have at most twenty digits).

How, and what it costs (a 12 KB push delivery: json.loads alone ~115 µs): numbers are checked
as the parser meets them (``parse_int``/``parse_float``, a few per body); depth is measured on
the parsed value, iteratively, and only when the text holds more than ``MAX_DEPTH`` brackets —
a body nested deeper than the interpreter's recursion limit stops the parser itself
(RecursionError, caught). Pre-scanning the text with regular expressions instead cost 4x the
parse.
"""

from __future__ import annotations

import json
import math
from typing import Any

from repoconn_core.errors import MalformedBody

MAX_DEPTH = 64
MAX_NUMBER_DIGITS = 64

_NOT_JSON = "The request body is not valid JSON."
_TOO_DEEP = f"The request body is nested more than {MAX_DEPTH} levels deep."
_TOO_LONG = (
    f"The request body holds a number of more than {MAX_NUMBER_DIGITS} digits, or beyond the"
    " range of a double."
)


# json.loads builds exactly these (never subclasses), so an exact type test is enough.
_CONTAINERS = frozenset({dict, list})


class _NumberTooLong(ValueError):
    pass


def load_json(text: str, *, not_json: str = _NOT_JSON) -> Any:
    """``text`` parsed as JSON; MalformedBody (``not_json`` its detail when the text is no
    JSON at all) when it is not JSON or breaks a limit. NaN and Infinity, which Python's
    json reads but JSON does not have, are not JSON here either."""
    try:
        value = json.loads(
            text,
            parse_int=_bounded_int,
            parse_float=_bounded_float,
            parse_constant=_not_a_json_constant,
        )
    except RecursionError:
        raise MalformedBody(_TOO_DEEP) from None
    except _NumberTooLong:
        raise MalformedBody(_TOO_LONG) from None
    except ValueError:  # JSONDecodeError
        raise MalformedBody(not_json) from None
    if text.count("[") + text.count("{") > MAX_DEPTH and _deeper_than(value, MAX_DEPTH):
        raise MalformedBody(_TOO_DEEP)
    return value


def _bounded_int(text: str) -> int:
    if len(text) - text.startswith("-") > MAX_NUMBER_DIGITS:
        raise _NumberTooLong
    return int(text)


def _bounded_float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS + 8:  # sign, point, exponent
        raise _NumberTooLong
    value = float(text)
    # 1e999 is valid JSON text but no double: Python reads it as inf and would write it back
    # as Infinity, which is not JSON (EventBridge refuses such an event).
    if not math.isfinite(value):
        raise _NumberTooLong
    return value


def _not_a_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers more than ``limit`` levels deep — level by level,
    without recursion, as the value may be as deep as the parser's own limit."""
    level: list[Any] = [value]
    for _ in range(limit):
        below: list[Any] = []
        for container in level:
            children = container.values() if type(container) is dict else container
            below += [child for child in children if type(child) in _CONTAINERS]
        if not below:
            return False
        level = below
    return True
