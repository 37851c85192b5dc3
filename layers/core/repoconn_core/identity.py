"""Who is calling, from the JWT's claims, and the two access rules every route uses.

Admin = the groups claim holds the admin group (exact, case-sensitive: Cognito group names
are). Project access = the projects claim holds the projectId (exact). Being admin grants
no project by itself: a write needs both.

Claim encodings accepted for the groups and projects claims:

- a JSON array (a list), as a test token or a non-API-Gateway caller hands it over;
- a string holding a JSON array, ``'["Admin","Member"]'``;
- API Gateway's rendering of an array claim, ``'[Admin Member]'``: the HTTP API JWT
  authorizer flattens arrays to a bracketed, space-separated string. Only spaces separate
  here, so a group name containing a comma stays one name;
- a plain string: one value, or several separated by commas (``"p1,p2"``). Spaces do not
  separate here, so a group called ``"Not Admin"`` is never read as ``Admin``.

Values are stripped and empty values ignored. Numbers in a JSON array count as their decimal
string (a numeric project id); other value types are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from repoconn_core.errors import Forbidden, Unauthenticated

_NO_ACCESS = "You do not have access to this project."
_NOT_ADMIN = "Changing this project's repository connection requires the admin role."


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, reduced to what the access rules need."""

    subject: str
    is_admin: bool
    projects: frozenset[str]


def principal_from_claims(
    claims: Mapping[str, object] | None,
    *,
    groups_claim: str,
    projects_claim: str,
    admin_group: str,
) -> Principal:
    """The caller named by ``claims``; Unauthenticated without claims or a subject."""
    if not isinstance(claims, Mapping):
        raise Unauthenticated("A valid bearer token is required.")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip():
        raise Unauthenticated("The bearer token names no subject.")
    return Principal(
        subject=subject,
        is_admin=admin_group in claim_values(claims.get(groups_claim)),
        projects=claim_values(claims.get(projects_claim)),
    )


def claim_values(value: object) -> frozenset[str]:
    """The set of values in a multi-valued claim, in any of the accepted encodings."""
    if isinstance(value, str):
        return _values(_split_string(value))
    if isinstance(value, list | tuple | set | frozenset):
        return _values(value)
    return frozenset()


def require_project_access(principal: Principal, project_id: str) -> None:
    """Forbidden unless the caller's projects claim names ``project_id``.

    The detail is the same whether or not the project exists, so it reveals nothing.
    """
    if project_id not in principal.projects:
        raise Forbidden(_NO_ACCESS)


def require_project_admin(principal: Principal, project_id: str) -> None:
    """Forbidden unless the caller is admin *and* has access to ``project_id``.

    Access is checked first, so a caller without access always gets the same detail,
    admin or not.
    """
    require_project_access(principal, project_id)
    if not principal.is_admin:
        raise Forbidden(_NOT_ADMIN)


def _split_string(value: str) -> Iterable[object]:
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = json.loads(text)
        except ValueError:
            # Not JSON: API Gateway's "[Admin Member]" rendering of an array claim.
            return text[1:-1].split()
        return parsed if isinstance(parsed, list) else []
    return text.split(",")


def _values(items: Iterable[object]) -> frozenset[str]:
    values: set[str] = set()
    for item in items:
        # bool is an int subclass; true/false is never a group or project id.
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if isinstance(item, str) and item.strip():
            values.add(item.strip())
    return frozenset(values)
