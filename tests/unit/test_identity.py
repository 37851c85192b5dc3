"""Identity: per-project rights from real identity providers' claim shapes, read exactly, and
the 401 / 403 rules.

The claim-shape table holds tokens as Amazon Cognito, Okta, Microsoft Entra ID and Auth0 issue
them (claim names and value shapes from their token references, the rights claims configured
as docs/operations.md says), each read twice: as issued, and flattened as API Gateway's HTTP
API JWT authorizer hands claims to Lambda (every array to one ``[a b]`` string, numbers and
booleans to text: repoconn_local.gateway.events.claim_value, the local gateway's rendering).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import ValidationError
from repoconn_core.claims import ClaimRefused, claim_values, scope_values
from repoconn_core.errors import Forbidden, InsufficientScope, Unauthenticated
from repoconn_core.identity import (
    ClaimNames,
    Principal,
    Role,
    principal_from_claims,
    project_roles,
    require_project_access,
    require_project_admin,
    require_write_scope,
)
from repoconn_core.settings import Settings
from repoconn_local.gateway.events import claim_value

ADMIN, MEMBER = Role.ADMIN, Role.MEMBER
COGNITO = ClaimNames(platform_admin_group="platform-admins")
OKTA = ClaimNames(groups_claim="groups", platform_admin_group="platform-admins")
ENTRA_PLATFORM_GROUP = "5f1c2a4e-9b1d-4c7e-8a55-0d2f3e4b6a71"
ENTRA = ClaimNames(
    roles_claim="roles", groups_claim="groups", platform_admin_group=ENTRA_PLATFORM_GROUP
)
AUTH0_NAMESPACE = "https://repoconn.example.com/"
AUTH0 = ClaimNames(
    roles_claim=AUTH0_NAMESPACE + "project_roles",
    groups_claim=AUTH0_NAMESPACE + "groups",
    platform_admin_group="platform-admins",
)


@dataclass(frozen=True)
class Reading:
    """What the service reads from a token: roles per project, platform admin, scopes."""

    roles: dict[str, Role] = field(default_factory=dict)
    platform_admin: bool = False
    scopes: frozenset[str] = frozenset()


REFUSED: dict[str, Role] = {}  # a refused roles claim grants nothing (and is logged)


def cognito_id_token(**claims: Any) -> dict[str, Any]:
    """An ID token as Cognito issues it (a federated user: Cognito adds the provider group)."""
    return {
        "sub": "8c2e5a1d-1f3b-4a7e-9c6d-2b4f8e0a1c3d",
        "aud": "6k3v1example0client0id",
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123",
        "token_use": "id",
        "cognito:username": "google_104857600123456789012",
        "cognito:groups": ["us-east-1_AbCdEf123_Google"],
        "email": "alice@example.com",
        "email_verified": True,
        "auth_time": 1795601400,
        "iat": 1795601400,
        "exp": 1795605000,
        **claims,
    }


def cognito_access_token(**claims: Any) -> dict[str, Any]:
    return {
        "sub": "8c2e5a1d-1f3b-4a7e-9c6d-2b4f8e0a1c3d",
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123",
        "client_id": "6k3v1example0client0id",
        "token_use": "access",
        "scope": "openid email repoconn/write",
        "username": "alice",
        "auth_time": 1795601400,
        "exp": 1795605000,
        **claims,
    }


def okta_access_token(**claims: Any) -> dict[str, Any]:
    """An Okta custom authorization server's access token (``scp`` is an array there)."""
    return {
        "ver": 1,
        "jti": "AT.0mP4JKAZX1iACIT4vbEDF7LpvDVjxypPMf0D7uX39RE",
        "iss": "https://example.okta.com/oauth2/aus1a2b3c4d5e6f7g8h9",
        "aud": "api://repoconn",
        "iat": 1795601400,
        "exp": 1795605000,
        "cid": "0oa1b2c3d4e5f6g7h8i9",
        "uid": "00u1b2c3d4e5f6g7h8i9",
        "scp": ["openid", "repoconn.write"],
        "sub": "alice@example.com",
        "groups": ["Everyone"],
        **claims,
    }


def entra_access_token(**claims: Any) -> dict[str, Any]:
    """A Microsoft identity platform v2.0 access token: app roles in ``roles``, group object
    ids in ``groups``, delegated scopes in ``scp`` as one space-separated string."""
    return {
        "aud": "api://3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8",
        "iss": "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
        "iat": 1795601400,
        "exp": 1795605000,
        "azp": "0e1d2c3b-4a59-4687-9a8b-7c6d5e4f3a2b",
        "oid": "a1b2c3d4-e5f6-4789-8abc-def012345678",
        "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "scp": "repoconn.write",
        "ver": "2.0",
        **claims,
    }


def auth0_access_token(**claims: Any) -> dict[str, Any]:
    """An Auth0 access token with namespaced custom claims set by a post-login Action."""
    return {
        "iss": "https://example.us.auth0.com/",
        "sub": "auth0|64f1c2d3e4b5a6978899aabb",
        "aud": ["https://repoconn.example.com/api", "https://example.us.auth0.com/userinfo"],
        "iat": 1795601400,
        "exp": 1795605000,
        "azp": "Xb3kq9ExampleClientId0000",
        "scope": "openid profile repoconn:write",
        "permissions": ["repoconn:write"],
        **claims,
    }


# (idp, case, claim names, token as issued, reading as issued, reading through API Gateway or
# None when the same)
SHAPES: list[tuple[str, str, ClaimNames, dict[str, Any], Reading, Reading | None]] = [
    # -- Amazon Cognito ---------------------------------------------------------------------
    (
        "cognito",
        "V2 trigger adds an array to the ID token",
        COGNITO,
        cognito_id_token(project_roles=["proj-a:admin", "proj-b:member"]),
        Reading({"proj-a": ADMIN, "proj-b": MEMBER}),
        None,
    ),
    (
        "cognito",
        "V1 trigger: strings only, a JSON array as text",
        COGNITO,
        cognito_id_token(project_roles='["proj-a:admin","proj-b:member"]'),
        Reading({"proj-a": ADMIN, "proj-b": MEMBER}),
        None,
    ),
    (
        "cognito",
        "access token with the platform admin group and a scope",
        COGNITO,
        cognito_access_token(**{"cognito:groups": ["platform-admins"]}),
        Reading(platform_admin=True, scopes=frozenset({"openid", "email", "repoconn/write"})),
        None,
    ),
    (
        "cognito",
        "the old projects attribute and Admin group grant nothing",
        COGNITO,
        cognito_id_token(**{"custom:projects": "proj-a", "cognito:groups": ["Admin"]}),
        Reading(),
        None,
    ),
    (
        "cognito",
        "a project id with colons and digits",
        COGNITO,
        cognito_id_token(project_roles=["org:team-1:admin", "123:member"]),
        Reading({"org:team-1": ADMIN, "123": MEMBER}),
        None,
    ),
    (
        "cognito",
        "admin and member of one project: admin",
        COGNITO,
        cognito_id_token(project_roles=["proj-a:member", "proj-a:admin"]),
        Reading({"proj-a": ADMIN}),
        None,
    ),
    (
        "cognito",
        "a single entry as a plain string",
        COGNITO,
        cognito_id_token(project_roles="proj-a:admin"),
        Reading({"proj-a": ADMIN}),
        None,
    ),
    (
        "cognito",
        "a plain string is never split on spaces",
        COGNITO,
        cognito_id_token(project_roles="proj-a:member proj-b:admin"),
        Reading(REFUSED),
        None,
    ),
    (
        "cognito",
        "a plain string is never split on commas",
        COGNITO,
        cognito_id_token(project_roles="proj-a:member,proj-b:admin"),
        Reading(REFUSED),
        None,
    ),
    # -- Okta -------------------------------------------------------------------------------
    (
        "okta",
        "groups claim filtered to the platform group",
        OKTA,
        okta_access_token(groups=["Everyone", "platform-admins"], project_roles=["proj-a:admin"]),
        Reading({"proj-a": ADMIN}, True, frozenset({"openid", "repoconn.write"})),
        None,
    ),
    (
        "okta",
        "a group with a space: the groups claim is refused",
        OKTA,
        okta_access_token(groups=["Everyone", "Domain Users"], project_roles=["proj-a:member"]),
        Reading({"proj-a": MEMBER}, False, frozenset({"openid", "repoconn.write"})),
        None,
    ),
    (
        "okta",
        "'Not platform-admins' is not the platform group",
        OKTA,
        okta_access_token(groups=["Not platform-admins"]),
        Reading(scopes=frozenset({"openid", "repoconn.write"})),
        # Flattened, "[Not platform-admins]" is two names: no parser can see the space API
        # Gateway turned into a separator. Hence docs/security.md: the groups claim must only
        # hold names without spaces (Okta: a groups claim filter) — the test below says so.
        Reading(platform_admin=True, scopes=frozenset({"openid", "repoconn.write"})),
    ),
    (
        "okta",
        "a role entry with a space inside a name",
        OKTA,
        okta_access_token(project_roles=["Requests for proj-a:admin"]),
        Reading(REFUSED, scopes=frozenset({"openid", "repoconn.write"})),
        None,
    ),
    # -- Microsoft Entra ID ---------------------------------------------------------------
    (
        "entra",
        "app roles as role entries, group object ids",
        ENTRA,
        entra_access_token(roles=["proj-a:admin", "proj-b:member"], groups=[ENTRA_PLATFORM_GROUP]),
        Reading({"proj-a": ADMIN, "proj-b": MEMBER}, True, frozenset({"repoconn.write"})),
        None,
    ),
    (
        "entra",
        "another app role in the same claim: refused",
        ENTRA,
        entra_access_token(roles=["proj-a:admin", "Reports.Read"]),
        Reading(REFUSED, scopes=frozenset({"repoconn.write"})),
        None,
    ),
    (
        "entra",
        "role names are case-sensitive",
        ENTRA,
        entra_access_token(roles=["proj-a:Admin"]),
        Reading(REFUSED, scopes=frozenset({"repoconn.write"})),
        None,
    ),
    # -- Auth0 ------------------------------------------------------------------------------
    (
        "auth0",
        "namespaced claims from a post-login Action",
        AUTH0,
        auth0_access_token(
            **{
                AUTH0_NAMESPACE + "project_roles": ["proj-a:member"],
                AUTH0_NAMESPACE + "groups": ["platform-admins"],
            }
        ),
        Reading({"proj-a": MEMBER}, True, frozenset({"openid", "profile", "repoconn:write"})),
        None,
    ),
    (
        "auth0",
        "no rights claims at all",
        AUTH0,
        auth0_access_token(),
        Reading(scopes=frozenset({"openid", "profile", "repoconn:write"})),
        None,
    ),
]

# Values no identity provider should put in the roles claim, each refused as issued and
# through API Gateway (claim name: the default roles claim).
AMBIGUOUS_ROLE_VALUES: list[tuple[str, object]] = [
    ("ascii space", ["proj-a:admin", "proj b:admin"]),
    ("no-break space", ["proj-a:admin\u00a0"]),
    ("em space", ["proj\u2003a:admin"]),
    ("ideographic space", ["proj-a:admin\u3000proj-b:admin"]),
    ("zero-width space", ["proj-a\u200b:admin"]),
    ("line separator", ["proj-a:admin\u2028"]),
    ("tab", ["proj-a:admin\tproj-b:admin"]),
    ("newline", ["proj-a:admin\n"]),
    ("comma", ["proj-a:admin,proj-b:admin"]),
    ("bracket", ["proj-a:admin]"]),
    ("brackets around", ["[proj-a:admin]"]),
    ("double quote", ['"proj-a:admin', "x"]),
    ("single quote", ["'proj-a:admin'"]),
    ("empty string among entries", ["proj-a:admin", ""]),
    ("number", [42, "proj-a:admin"]),
    ("boolean", [True]),
    ("null element", [None, "proj-a:admin"]),
    ("nested array", [["proj-a:admin"]]),
    ("object", {"proj-a": "admin"}),
    ("object element", [{"proj-a": "admin"}]),
    ("unknown role", ["proj-a:owner"]),
    ("no role", ["proj-a"]),
    ("no project", [":admin"]),
    ("project id not allowed by the routes", ["-proj:admin"]),
    ("json array with a spaced value as text", '["proj-a:admin", "x y:admin"]'),
    ("number claim", 7),
]


def _fragments(text: str) -> set[str]:
    """Every substring of ``text`` of the lengths the echo check looks for."""
    return {text[i : i + n] for n in (3, 5, 6) for i in range(len(text))}


def _flattened(claims: Mapping[str, Any]) -> dict[str, Any]:
    return {name: claim_value(value) for name, value in claims.items()}


def _read(claims: Mapping[str, Any], names: ClaimNames) -> Reading:
    principal = principal_from_claims(claims, names)
    return Reading(dict(principal.roles), principal.platform_admin, principal.scopes)


SHAPE_CASES = [
    pytest.param(names, token, expected, id=f"{idp}: {case} (as issued)")
    for idp, case, names, token, expected, _ in SHAPES
] + [
    pytest.param(names, _flattened(token), flattened or expected, id=f"{idp}: {case} (API GW)")
    for idp, case, names, token, expected, flattened in SHAPES
]


@pytest.mark.parametrize(("names", "claims", "expected"), SHAPE_CASES)
def test_each_identity_providers_token_reads_as_the_rights_it_grants(
    names: ClaimNames, claims: dict[str, Any], expected: Reading
) -> None:
    # given a token as the identity provider issues it (or as API Gateway hands it over)
    # when the service reads the caller from it
    # then it reads exactly the rights the token grants, per project
    assert _read(claims, names) == expected


AMBIGUOUS_CASES = [
    pytest.param(value, id=f"{case} (as issued)") for case, value in AMBIGUOUS_ROLE_VALUES
] + [
    pytest.param(claim_value(value), id=f"{case} (API GW)") for case, value in AMBIGUOUS_ROLE_VALUES
]


@pytest.mark.parametrize("value", AMBIGUOUS_CASES)
def test_a_roles_claim_holding_anything_but_role_entries_is_refused_whole(value: object) -> None:
    # given a roles claim with one value that is not a plain "<projectId>:<role>"
    # when it is read
    # then the whole claim is refused (never split, never partly read), saying why without
    # echoing the value
    with pytest.raises(ClaimRefused) as refused:
        project_roles(value)
    assert not {"proj-", "proj ", "proj\u2003", "x y"} & set(_fragments(str(refused.value)))
    # and the caller it belongs to has no right anywhere
    principal = principal_from_claims({"sub": "u", "project_roles": value}, ClaimNames())
    assert principal.roles == {}
    # and the refusal is noted for the operator's log (claim name and reason, no value)
    [(claim, reason)] = principal.refused_claims
    assert (claim, reason) == ("project_roles", str(refused.value))


def test_the_shape_tables_sizes() -> None:
    print(
        f"claim shapes: {len(SHAPE_CASES)} cases ({len(SHAPES)} tokens x as issued / API GW); "
        f"refused role values: {len(AMBIGUOUS_CASES)} cases"
    )
    assert {idp for idp, *_ in SHAPES} == {"cognito", "okta", "entra", "auth0"}


def test_what_api_gateway_flattening_hides_is_the_identity_providers_to_prevent() -> None:
    # given two different groups claims that API Gateway hands over as the same string
    one_name, two_names = ["Not platform-admins"], ["Not", "platform-admins"]

    # then they are indistinguishable to the function: the reason docs/security.md requires a
    # groups claim (and a roles claim) whose values cannot contain spaces
    assert claim_value(one_name) == claim_value(two_names) == "[Not platform-admins]"
    # while the array as issued is refused, not read as two names
    with pytest.raises(ClaimRefused):
        claim_values(one_name)
    # likewise one quoted value flattens to the text of a JSON array (a Cognito V1 trigger's
    # encoding), read as the value it spells
    assert claim_value(['"proj-a:admin"']) == '["proj-a:admin"]'
    assert project_roles(claim_value(['"proj-a:admin"'])) == {"proj-a": ADMIN}
    with pytest.raises(ClaimRefused):
        project_roles(['"proj-a:admin"'])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("[a b]", ("a", "b")),
        ('["a","b"]', ("a", "b")),
        ("[]", ()),
        ("[123]", ("123",)),
        ("[true]", ("true",)),
        ("a,b", ("a,b",)),
        ("a", ("a",)),
        (None, ()),
    ],
)
def test_claim_values_reads_each_shape_exactly(value: object, expected: tuple[str, ...]) -> None:
    assert claim_values(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("openid repoconn/write", {"openid", "repoconn/write"}),
        (["openid", "repoconn.write"], {"openid", "repoconn.write"}),
        ("[openid repoconn.write]", {"openid", "repoconn.write"}),
        ('["openid","repoconn.write"]', {"openid", "repoconn.write"}),
        ("", set()),
        (None, set()),
        (7, set()),
    ],
)
def test_scopes_are_read_from_every_shape(value: object, expected: set[str]) -> None:
    assert scope_values(value) == expected


@pytest.mark.parametrize(
    ("claims", "detail"),
    [
        (None, "A valid bearer token is required."),
        ("not-a-mapping", "A valid bearer token is required."),
        ({"project_roles": ["p1:admin"]}, "The bearer token names no subject."),
        ({"sub": "", "project_roles": ["p1:admin"]}, "The bearer token names no subject."),
        ({"sub": "   "}, "The bearer token names no subject."),
        ({"sub": 42}, "The bearer token names no subject."),
    ],
)
def test_claims_without_a_subject_are_unauthenticated(claims: object, detail: str) -> None:
    # given claims that name nobody
    # when the caller is read
    with pytest.raises(Unauthenticated) as caught:
        principal_from_claims(claims, ClaimNames())  # type: ignore[arg-type]
    # then it is a 401 with a detail that says why, without echoing claim values
    assert (caught.value.status, caught.value.code) == (401, "unauthenticated")
    assert caught.value.detail == detail


def test_the_platform_admin_group_is_off_unless_configured() -> None:
    # given a token in a group called like the one a platform might use
    claims = {"sub": "u", "cognito:groups": ["platform-admins", "Admin"]}
    # when no platform admin group is configured (the default)
    principal = principal_from_claims(claims, Settings().claim_names())
    # then the groups grant nothing
    assert principal == Principal(subject="u")
    assert principal.role_in("any-project") is None


@pytest.mark.parametrize("group", ["platform admins", "[ops]", 'ops"', "ops\u00a0"])
def test_a_platform_admin_group_the_flattened_form_cannot_match_is_refused_at_cold_start(
    group: str,
) -> None:
    with pytest.raises(ValidationError):
        Settings(platform_admin_group=group)


NO_ACCESS = "You do not have access to this project."
NOT_ADMIN = "Changing this project's repository connection requires the admin role."

ADMIN_A_MEMBER_B = Principal("u1", {"a": ADMIN, "b": MEMBER})
MEMBER_A_ADMIN_B = Principal("u2", {"a": MEMBER, "b": ADMIN})
NEITHER = Principal("u3", {"c": ADMIN})
NOBODY = Principal("u4")
PLATFORM_ADMIN = Principal("u5", platform_admin=True)

# (id, principal, project, read → None (allowed) or the 403's detail, write → likewise)
RULES = [
    ("admin-of-a-reads-a", ADMIN_A_MEMBER_B, "a", None, None),
    ("admin-of-a-member-of-b-in-b", ADMIN_A_MEMBER_B, "b", None, NOT_ADMIN),
    ("member-of-a-admin-of-b-in-a", MEMBER_A_ADMIN_B, "a", None, NOT_ADMIN),
    ("member-of-a-admin-of-b-in-b", MEMBER_A_ADMIN_B, "b", None, None),
    ("admin-of-neither", NEITHER, "a", NO_ACCESS, NO_ACCESS),
    ("no-roles", NOBODY, "a", NO_ACCESS, NO_ACCESS),
    ("platform-admin", PLATFORM_ADMIN, "a", None, None),
    ("project-id-is-case-sensitive", ADMIN_A_MEMBER_B, "A", NO_ACCESS, NO_ACCESS),
    ("empty-project-id", ADMIN_A_MEMBER_B, "", NO_ACCESS, NO_ACCESS),
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
def test_every_right_is_scoped_to_one_project(
    check: Callable[[Principal, str], None],
    principal: Principal,
    project_id: str,
    refusal: str | None,
) -> None:
    # Given a caller with roles in some projects
    # When read or write (admin) access to one project is checked
    # Then it passes only on the caller's role in that very project
    if refusal is None:
        check(principal, project_id)
        return
    with pytest.raises(Forbidden) as caught:
        check(principal, project_id)
    assert (caught.value.status, caught.value.code, caught.value.detail) == (
        403,
        "forbidden",
        refusal,
    )


@pytest.mark.parametrize(
    ("write_scopes", "token_scopes", "allowed"),
    [
        (frozenset(), frozenset(), True),
        (frozenset({"repoconn/write"}), frozenset({"openid", "repoconn/write"}), True),
        (frozenset({"repoconn/write", "admin"}), frozenset({"admin"}), True),
        (frozenset({"repoconn/write"}), frozenset({"openid"}), False),
        (frozenset({"repoconn/write"}), frozenset(), False),
    ],
)
def test_write_scopes_need_one_of_them_in_the_token(
    write_scopes: frozenset[str], token_scopes: frozenset[str], allowed: bool
) -> None:
    principal = Principal("u", {"a": ADMIN}, scopes=token_scopes)
    if allowed:
        require_write_scope(principal, write_scopes)
        return
    with pytest.raises(InsufficientScope) as caught:
        require_write_scope(principal, write_scopes)
    assert (caught.value.status, caught.value.code) == (403, "insufficient_scope")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("repoconn/write", {"repoconn/write"}), ("a, b c", {"a", "b", "c"}), ("", set())],
)
def test_write_scopes_setting_reads_commas_and_spaces(value: str, expected: set[str]) -> None:
    assert Settings.from_env({"WRITE_SCOPES": value}).write_scopes == expected
