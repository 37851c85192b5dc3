"""The values of a multi-valued JWT claim, read without guessing.

A claim reaches the function in one of four shapes, and each is read exactly:

- a JSON array of strings (a caller that is not API Gateway, a test);
- a string holding a JSON array of strings, ``'["p1:admin","p2:member"]'`` — what a Cognito
  V1 pre-token-generation trigger or a Cognito custom attribute can carry (strings only);
- API Gateway's rendering of an array claim: its HTTP API JWT authorizer hands every array
  to Lambda flattened into one bracketed string, elements separated by one space, ``[a b]``
  (a bracketed string that is not a JSON array of strings is read as this form);
- any other string: exactly one value, never split (on commas or anything else).

The flattened form cannot tell ``["Not Admin"]`` from ``["Not","Admin"]``, so a value that
would make it ambiguous is refused rather than read: an empty value, one holding whitespace
(any Unicode space, line or paragraph separator, control or format character — NBSP and
zero-width spaces included), a square bracket or a double quote. Refusal is for the whole
claim (``ClaimRefused``): the caller gets no right from it and the operator a log line.
What no parser can see — a value with an ASCII space that API Gateway already split — is
why the roles claim must be dedicated and administrator-controlled (docs/security.md).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable

# Unicode categories that read as a gap or are invisible: separators, controls, formats.
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})
_AMBIGUOUS_CHARACTERS = frozenset('[]"')


class ClaimRefused(ValueError):
    """A claim value the service will not read; the message says why, never the value."""


def claim_values(value: object) -> tuple[str, ...]:
    """The values of a claim in any accepted shape; ``()`` when the claim is absent."""
    if value is None:
        return ()
    if isinstance(value, str):
        return _from_string(value)
    if isinstance(value, list | tuple):
        return _checked(value)
    raise ClaimRefused(f"a {type(value).__name__} is not a list of values")


def _from_string(text: str) -> tuple[str, ...]:
    if not (text.startswith("[") and text.endswith("]")):
        return _checked((text,))
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
        return _checked(parsed)
    # API Gateway's flattening: "[a b]". "[]" parsed above; "[123]" lands here (one value
    # "123": API Gateway renders every element as text, so a JSON number cannot be told
    # from a flattened string of digits — and both mean the same value).
    return _checked(text[1:-1].split(" "))


def _checked(items: Iterable[object]) -> tuple[str, ...]:
    values = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, str):
            raise ClaimRefused(f"value {position} is a {type(item).__name__}, not a string")
        if not item:
            raise ClaimRefused(f"value {position} is empty")
        if any(_ambiguous(character) for character in item):
            raise ClaimRefused(
                f"value {position} holds whitespace, a bracket or a quote, which API Gateway's "
                "flattening of array claims makes ambiguous"
            )
        values.append(item)
    return tuple(values)


def _ambiguous(character: str) -> bool:
    return (
        character in _AMBIGUOUS_CHARACTERS
        or character.isspace()
        or unicodedata.category(character) in _INVISIBLE_CATEGORIES
    )


def scope_values(value: object) -> frozenset[str]:
    """The OAuth scopes of a ``scope`` or ``scp`` claim: a space-separated string (RFC 8693
    and 9068; Cognito, Auth0, Entra ID), an array (Okta's ``scp``) or its flattened form.
    Scope tokens cannot contain spaces (RFC 6749 §3.3), so splitting is exact here."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        text = value
        try:
            value = json.loads(text)
        except ValueError:
            value = text[1:-1]
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list | tuple):
        return frozenset(item for item in value if isinstance(item, str) and item)
    return frozenset()
