"""Identity: the caller from JWT claims in every encoding, and the 401 / 403 rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest
from repoconn_core.errors import Forbidden, Unauthenticated
from repoconn_core.identity import (
    Principal,
    claim_values,
    principal_from_claims,
    require_project_access,
    require_project_admin,
)
from repoconn_core.settings import Settings

DEFAULTS = Settings()
GROUPS, PROJECTS, ADMIN = DEFAULTS.groups_claim, DEFAULTS.projects_claim, DEFAULTS.admin_group


def _principal(claims: Mapping[str, object] | None) -> Principal:
    return principal_from_claims(
        claims, groups_claim=GROUPS, projects_claim=PROJECTS, admin_group=ADMIN
    )


CLAIM_ENCODINGS = [
    # (id, claim value, values read from it)
    ("json-list", ["Admin", "Member"], {"Admin", "Member"}),
    ("json-list-one", ["p1"], {"p1"}),
    ("json-list-empty", [], set()),
    ("json-list-whitespace-and-empties", [" p1 ", "", "  ", "p2"], {"p1", "p2"}),
    ("json-list-numbers", [42, "p1"], {"42", "p1"}),
    ("json-list-ignores-bool-null-nested", [True, None, ["p9"], {"a": 1}, "p1"], {"p1"}),
    ("tuple", ("p1", "p2"), {"p1", "p2"}),
    ("json-array-string", '["Admin","Member"]', {"Admin", "Member"}),
    ("json-array-string-spaced", ' [ "p1" , "p2" ] ', {"p1", "p2"}),
    ("json-array-string-empty", "[]", set()),
    ("json-array-string-number", "[7]", {"7"}),
    ("json-array-string-with-space-in-name", '["Not Admin"]', {"Not Admin"}),
    ("apigw-bracketed", "[Admin Member]", {"Admin", "Member"}),
    ("apigw-bracketed-one", "[Admin]", {"Admin"}),
    ("apigw-bracketed-extra-spaces", "[  p1   p2 ]", {"p1", "p2"}),
    ("apigw-bracketed-comma-stays-in-name", "[a,b c]", {"a,b", "c"}),
    ("apigw-bracketed-empty", "[ ]", set()),
    ("plain-single", "Admin", {"Admin"}),
    ("plain-padded", "  p1  ", {"p1"}),
    ("plain-comma-separated", "p1,p2, p3", {"p1", "p2", "p3"}),
    ("plain-comma-empties", ",p1,,", {"p1"}),
    ("plain-space-is-one-name", "Not Admin", {"Not Admin"}),
    ("plain-empty", "", set()),
    ("plain-blank", "   ", set()),
    ("json-object-string", '{"a": 1}', {'{"a": 1}'}),
    ("missing", None, set()),
    ("number", 42, set()),
    ("object", {"Admin": True}, set()),
]


@pytest.mark.parametrize(
    ("value", "expected"), [c[1:] for c in CLAIM_ENCODINGS], ids=[c[0] for c in CLAIM_ENCODINGS]
)
def test_claim_values_reads_every_encoding(value: object, expected: set[str]) -> None:
    # Given a multi-valued claim in one of the encodings a token or API Gateway produces
    # When its values are read
    values = claim_values(value)
    # Then exactly these values come out
    assert values == frozenset(expected)


ADMIN_CASES = [
    # (id, groups claim, is admin)
    ("list-with-admin", ["Member", "Admin"], True),
    ("apigw-with-admin", "[Member Admin]", True),
    ("json-string-with-admin", '["Admin"]', True),
    ("plain-admin", "Admin", True),
    ("comma-with-admin", "Member,Admin", True),
    ("list-without-admin", ["Member"], False),
    ("lower-case-admin", ["admin"], False),
    ("admin-as-substring", ["Admins", "SuperAdmin"], False),
    ("not-admin-with-space-plain", "Not Admin", False),
    ("not-admin-with-space-json", '["Not Admin"]', False),
    ("empty-groups", [], False),
    ("no-groups-claim", None, False),
]


@pytest.mark.parametrize(
    ("groups", "is_admin"), [c[1:] for c in ADMIN_CASES], ids=[c[0] for c in ADMIN_CASES]
)
def test_admin_means_the_groups_claim_holds_the_admin_group(groups: object, is_admin: bool) -> None:
    # Given claims with a subject and this groups claim (absent when None)
    claims: dict[str, object] = {"sub": "user-1", PROJECTS: ["p1"]}
    if groups is not None:
        claims[GROUPS] = groups
    # When the principal is built
    principal = _principal(claims)
    # Then it is admin exactly when the admin group is one of the values
    assert principal == Principal(subject="user-1", is_admin=is_admin, projects=frozenset({"p1"}))


def test_principal_reads_the_configured_claim_names() -> None:
    # Given settings that name other claims and another admin group
    claims = {"sub": "u", "roles": "[Owner Viewer]", "projects": "[p7 p8]", GROUPS: ["Admin"]}
    # When the principal is built with those names
    principal = principal_from_claims(
        claims, groups_claim="roles", projects_claim="projects", admin_group="Owner"
    )
    # Then only the configured claims count (the default groups claim is ignored)
    assert principal == Principal(subject="u", is_admin=True, projects=frozenset({"p7", "p8"}))


def test_principal_from_api_gateway_claims() -> None:
    # Given claims as API Gateway's HTTP API JWT authorizer hands them to the function
    claims = {
        "sub": "3f2a-uuid",
        "cognito:groups": "[Admin Member]",
        "custom:projects": "[proj-1 proj-2]",
        "iss": "https://cognito-idp.eu-west-1.amazonaws.com/pool",
        "exp": "1767225600",
    }
    # When the principal is built
    principal = _principal(claims)
    # Then subject, admin flag and projects are exact
    assert principal == Principal(
        subject="3f2a-uuid", is_admin=True, projects=frozenset({"proj-1", "proj-2"})
    )


UNAUTHENTICATED = [
    # (id, claims, detail)
    ("no-claims", None, "A valid bearer token is required."),
    ("not-a-mapping", ["sub", "u"], "A valid bearer token is required."),
    ("empty-claims", {}, "The bearer token names no subject."),
    ("no-sub", {GROUPS: ["Admin"], PROJECTS: ["p1"]}, "The bearer token names no subject."),
    ("empty-sub", {"sub": ""}, "The bearer token names no subject."),
    ("blank-sub", {"sub": "  "}, "The bearer token names no subject."),
    ("non-string-sub", {"sub": 123}, "The bearer token names no subject."),
    ("null-sub", {"sub": None}, "The bearer token names no subject."),
]


@pytest.mark.parametrize(
    ("claims", "detail"), [c[1:] for c in UNAUTHENTICATED], ids=[c[0] for c in UNAUTHENTICATED]
)
def test_missing_claims_or_subject_is_unauthenticated(claims: object, detail: str) -> None:
    # Given no claims, or claims without a usable subject
    # When the principal is built
    with pytest.raises(Unauthenticated) as caught:
        _principal(claims)  # type: ignore[arg-type]
    # Then it is a 401 with a detail that says why, without echoing claim values
    assert (caught.value.status, caught.value.code) == (401, "unauthenticated")
    assert caught.value.detail == detail


ADMIN_IN_P1 = Principal(subject="a", is_admin=True, projects=frozenset({"p1", "p2"}))
MEMBER_OF_P1 = Principal(subject="m", is_admin=False, projects=frozenset({"p1"}))
ADMIN_NOWHERE = Principal(subject="x", is_admin=True, projects=frozenset())
NOBODY = Principal(subject="n", is_admin=False, projects=frozenset())

NO_ACCESS = "You do not have access to this project."
NOT_ADMIN = "Changing this project's repository connection requires the admin role."

# Reads need the project in the projects claim; writes (admin) need the admin role too, and
# without access the detail is the same as for reads, admin or not: it tells nothing about the
# project, not even whether it exists.
RULES = [
    # (id, principal, project, read → None (allowed) or the 403's detail, write → likewise)
    ("admin-own-project", ADMIN_IN_P1, "p1", None, None),
    ("admin-second-project", ADMIN_IN_P1, "p2", None, None),
    ("admin-other-project", ADMIN_IN_P1, "p3", NO_ACCESS, NO_ACCESS),
    ("admin-without-projects", ADMIN_NOWHERE, "p1", NO_ACCESS, NO_ACCESS),
    ("member-own-project", MEMBER_OF_P1, "p1", None, NOT_ADMIN),
    ("member-other-project", MEMBER_OF_P1, "p2", NO_ACCESS, NO_ACCESS),
    ("nobody", NOBODY, "p1", NO_ACCESS, NO_ACCESS),
    ("project-id-is-case-sensitive", MEMBER_OF_P1, "P1", NO_ACCESS, NO_ACCESS),
    ("empty-project-id", MEMBER_OF_P1, "", NO_ACCESS, NO_ACCESS),
    ("nonexistent-project", MEMBER_OF_P1, "does-not-exist", NO_ACCESS, NO_ACCESS),
]
CHECKS = [
    pytest.param(check, principal, project, refusal, id=f"{kind}-{name}")
    for name, principal, project, read, write in RULES
    for kind, check, refusal in (
        ("read", require_project_access, read),
        ("write", require_project_admin, write),
    )
]


@pytest.mark.parametrize(("check", "principal", "project_id", "refusal"), CHECKS)
def test_an_access_check_passes_or_is_a_403_that_tells_nothing_about_the_project(
    check: Callable[[Principal, str], None],
    principal: Principal,
    project_id: str,
    refusal: str | None,
) -> None:
    # Given a principal and a project
    # When read or write (admin) access is checked
    # Then it passes, or is a 403 with the rule's detail
    if refusal is None:
        check(principal, project_id)  # allowed: returns without Forbidden
        return
    with pytest.raises(Forbidden) as caught:
        check(principal, project_id)
    assert (caught.value.status, caught.value.code, caught.value.detail) == (
        403,
        "forbidden",
        refusal,
    )


def test_principal_is_immutable() -> None:
    # Given a principal
    principal = _principal({"sub": "u", GROUPS: "[Member]", PROJECTS: "[p1]"})
    # When someone tries to make it admin after the fact
    # Then it refuses
    with pytest.raises(AttributeError):
        principal.is_admin = True  # type: ignore[misc]
    assert principal.is_admin is False
