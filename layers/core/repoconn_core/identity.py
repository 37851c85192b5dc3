"""Who is calling, from the JWT's claims, and the access rules every route uses.

Every right is scoped to one project (docs/security.md, "Authorization"):

- the roles claim (``Settings.roles_claim``, default ``project_roles``) lists entries
  ``<projectId>:<role>``, role ``admin`` or ``member`` (exact, lower case). Admin of P may
  connect and disconnect P and read it; member of P may read it. Nothing a token says about
  one project grants anything in another;
- a platform-wide admin group exists only when ``Settings.platform_admin_group`` names one
  (off by default): a caller whose groups claim (``Settings.groups_claim``) holds exactly that
  group is admin of every project;
- when ``Settings.write_scopes`` is set, the write routes also need one of those OAuth scopes
  in the token's ``scope``/``scp`` claim (an access token), as API Gateway's route
  authorization scopes would.

The roles claim is dedicated to this service, so it is read strictly: every entry must be a
well-formed ``<projectId>:<role>``, else the whole claim is refused — a malformed entry is a
configuration problem in the identity provider, and reading the rest would let a value that
API Gateway split on its spaces (``"Requests for p1:admin"``) through. A refused claim grants
nothing, is named in ``Principal.refused_claims`` (the HTTP function logs it as a warning) and
the caller sees the same 403 as any caller without access.
How claims are parsed, and what is refused: claims.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from repoconn_core.claims import ClaimRefused, claim_values, scope_values
from repoconn_core.errors import Forbidden, InsufficientScope, Unauthenticated

_NO_ACCESS = "You do not have access to this project."
_NOT_ADMIN = "Changing this project's repository connection requires the admin role."
_NO_SCOPE = "Changing a repository connection needs an access token with a write scope."


class Role(StrEnum):
    MEMBER = "member"
    ADMIN = "admin"


# projectId as the routes accept it (models.PROJECT_ID_PATTERN; it may hold colons, so the
# role is what follows the last one), then the role.
_ROLE_ENTRY = re.compile(r"(?P<project>[A-Za-z0-9][A-Za-z0-9._:-]{0,127}):(?P<role>admin|member)")


@dataclass(frozen=True)
class ClaimNames:
    """Where the rights are in a token: ``Settings.claim_names()``."""

    roles_claim: str = "project_roles"
    groups_claim: str = "cognito:groups"
    platform_admin_group: str | None = None


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, reduced to what the access rules need."""

    subject: str
    roles: Mapping[str, Role] = field(default_factory=dict)
    platform_admin: bool = False
    scopes: frozenset[str] = frozenset()
    # (claim name, why) for each rights claim refused: it granted nothing (the caller logs it).
    refused_claims: tuple[tuple[str, str], ...] = ()

    def role_in(self, project_id: str) -> Role | None:
        if self.platform_admin:
            return Role.ADMIN
        return self.roles.get(project_id)


def principal_from_claims(claims: Mapping[str, object] | None, names: ClaimNames) -> Principal:
    """The caller named by ``claims``; Unauthenticated without claims or a subject."""
    if not isinstance(claims, Mapping):
        raise Unauthenticated("A valid bearer token is required.")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip():
        raise Unauthenticated("The bearer token names no subject.")
    refused: list[tuple[str, str]] = []
    roles = _readable(project_roles, claims, names.roles_claim, refused) or {}
    platform_admin = False
    if names.platform_admin_group:
        groups = _readable(claim_values, claims, names.groups_claim, refused) or ()
        platform_admin = names.platform_admin_group in groups
    return Principal(
        subject=subject,
        roles=roles,
        platform_admin=platform_admin,
        scopes=scope_values(claims.get("scope")) | scope_values(claims.get("scp")),
        refused_claims=tuple(refused),
    )


def project_roles(value: object) -> dict[str, Role]:
    """projectId → the caller's role there, from the roles claim's value (ClaimRefused when
    any entry is not ``<projectId>:admin|member``). Admin wins over member."""
    roles: dict[str, Role] = {}
    for position, entry in enumerate(claim_values(value), start=1):
        match = _ROLE_ENTRY.fullmatch(entry)
        if match is None:
            raise ClaimRefused(f"entry {position} is not <projectId>:admin or <projectId>:member")
        project, role = match["project"], Role(match["role"])
        if roles.get(project) is not Role.ADMIN:
            roles[project] = role
    return roles


def require_project_access(principal: Principal, project_id: str) -> None:
    """Forbidden unless the caller has a role in ``project_id``.

    The detail is the same whether or not the project exists, so it reveals nothing.
    """
    if principal.role_in(project_id) is None:
        raise Forbidden(_NO_ACCESS)


def require_project_admin(principal: Principal, project_id: str) -> None:
    """Forbidden unless the caller is admin of ``project_id`` (platform admins are admin of
    every project). A caller without any role there gets the same detail as on a read."""
    role = principal.role_in(project_id)
    if role is None:
        raise Forbidden(_NO_ACCESS)
    if role is not Role.ADMIN:
        raise Forbidden(_NOT_ADMIN)


def require_write_scope(principal: Principal, write_scopes: frozenset[str]) -> None:
    """InsufficientScope unless the token holds one of ``write_scopes`` (none configured: any
    token may write, as far as scopes go)."""
    if write_scopes and not write_scopes & principal.scopes:
        raise InsufficientScope(_NO_SCOPE)


def _readable[T](
    read: Callable[[object], T],
    claims: Mapping[str, object],
    name: str,
    refused: list[tuple[str, str]],
) -> T | None:
    """``read`` applied to claim ``name``; None, noted in ``refused``, when it is refused."""
    try:
        return read(claims.get(name))
    except ClaimRefused as refusal:
        refused.append((name, str(refusal)))
        return None
