"""The authorization matrix: every route x every kind of caller, through the local gateway.

Each cell is one request over real HTTP to ``LocalGateway`` (template.yaml's routes, its JWT
authorizer emulation, the real handlers in-process) backed by moto and the provider simulator
(the ``api`` and ``sim`` fixtures). Before each cell the project is connected through the same
gateway by its admin, so a success is a real success (GET finds the connection, DELETE removes
it — each cell has its own fresh AWS, hence its own fresh connection) and a refusal can be
shown to change nothing.

Callers: the bad-token columns all carry an *admin's* claims for the project and exactly one
defect, so a 401 there can only come from that defect. The role columns are callers with
different roles in different projects — every right is scoped to one project, so a caller who
is admin of one project and member of this one may read here and nothing more — plus the
platform-wide admin group (enabled for this matrix), tokens in the pre-issue-13 shape (an
``Admin`` group and a projects claim: they grant nothing now) and a roles claim one of whose
values held a space (refused whole). The webhook receiver has no JWT authorizer — the
delivery signature is its credential — so every column gets the same ``401
invalid_signature`` for an unsigned body, whatever bearer token rides along.

Expected answers:

- ``GATEWAY_401``: API Gateway's own ``{"message":"Unauthorized"}``; no function ran.
- ``FORBIDDEN``: problem+json ``403 forbidden`` from the function.
- ``UNSIGNED``: problem+json ``401 invalid_signature`` from the webhook receiver.
- ``OK``: the route's success answer (PUT of the connected repository again → 200 updated).
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

import jwt
import pytest
from repoconn_core.settings import Settings
from repoconn_local.aws.template_schema import load_template
from repoconn_local.gateway.jwt_authorizer import ALGORITHM, LocalJwtAuthorizer, mint_token
from repoconn_local.gateway.routes import route_table
from repoconn_local.gateway.server import LocalGateway
from repoconn_local.stack import LOCAL_PARAMETERS

from tests.support.api import Api, GatewayApi, given_connected
from tests.support.handlers import HttpResult
from tests.support.simulator_control import SimHook, SimulatorControl

SECRET = "authorization-matrix-signing-secret-32-bytes-or-more"
OTHER_SECRET = "a-different-signing-secret-the-gateway-does-not-know"
PROJECT = "p-matrix"
OTHER_PROJECT = "p-elsewhere"
THIRD_PROJECT = "p-third"
PLATFORM_GROUP = "platform-admins"
REPOSITORY = "https://github.com/acme/matrix"
PROVIDER_TOKEN = "tok-matrix-provider-token"


class Expect(Enum):
    GATEWAY_401 = "401 from the JWT authorizer"
    FORBIDDEN = "403 forbidden"
    UNSIGNED = "401 invalid_signature"
    OK = "the route's success"


G401, F403, S401, OK = Expect.GATEWAY_401, Expect.FORBIDDEN, Expect.UNSIGNED, Expect.OK

CALLERS = (
    "no token",
    "malformed token",
    "wrong signature",
    "expired",
    "wrong audience",
    "wrong issuer",
    "member of another project",
    "member",
    "admin of another project",
    "admin",
    "admin here, member elsewhere",
    "member here, admin elsewhere",
    "admin of two other projects",
    "platform admin",
    "old-style admin group and projects",
    "roles value with a space",
)

# Columns in CALLERS order: no token, bad = malformed token, sig = wrong signature, exp = expired,
# aud = wrong audience, iss = wrong issuer, m-x = member of another project, mem = member,
# a-x = admin of another project, adm = admin, a+m = admin here and member elsewhere, m+a =
# member here and admin elsewhere, a2x = admin of two other projects, pla = platform admin,
# old = old-style admin, spc = a roles value with a space.
# fmt: off
MATRIX: dict[str, tuple[Expect, ...]] = {
    # route key                                                no    bad   sig   exp   aud   iss   m-x   mem   a-x   adm   a+m   m+a   a2x   pla   old   spc  # noqa: E501
    "PUT /projects/{projectId}/repository-connection":        (G401, G401, G401, G401, G401, G401, F403, F403, F403, OK,   OK,   F403, F403, OK,   F403, F403),  # noqa: E501
    "GET /projects/{projectId}/repository-connection":        (G401, G401, G401, G401, G401, G401, F403, OK,   F403, OK,   OK,   OK,   F403, OK,   F403, F403),  # noqa: E501
    "GET /projects/{projectId}/repository-connection/exists": (G401, G401, G401, G401, G401, G401, F403, OK,   F403, OK,   OK,   OK,   F403, OK,   F403, F403),  # noqa: E501
    "GET /projects/{projectId}/repository-connection/deliveries": (G401, G401, G401, G401, G401, G401, F403, OK, F403, OK,   OK,   OK,   F403, OK,   F403, F403),  # noqa: E501
    "DELETE /projects/{projectId}/repository-connection":     (G401, G401, G401, G401, G401, G401, F403, F403, F403, OK,   OK,   F403, F403, OK,   F403, F403),  # noqa: E501
    "POST /webhooks/{connectionId}":                          (S401, S401, S401, S401, S401, S401, S401, S401, S401, S401, S401, S401, S401, S401, S401, S401),  # noqa: E501
}
# fmt: on

CELLS = [
    pytest.param(route, caller, expected, id=f"{route} | {caller}")
    for route, row in MATRIX.items()
    for caller, expected in zip(CALLERS, row, strict=True)
]

# What API Gateway's authorizer says in www-authenticate for each bad token (none without one).
AUTHORIZER_REASON = {
    "no token": None,
    "malformed token": "the token is malformed",
    "wrong signature": "signature is invalid",
    "expired": "the token has expired",
    "wrong audience": "the token does not have a valid audience",
    "wrong issuer": "the token does not have a valid issuer",
}


# -- callers -----------------------------------------------------------------------------------


def _with_claims(token: str, **changes: Any) -> str:
    """``token`` re-signed with the matrix secret after changing some claims."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode({**claims, **changes}, SECRET, algorithm=ALGORITHM)


def bearer(caller: str, settings: Settings) -> dict[str, str]:
    """The Authorization header ``caller`` sends (none for "no token")."""

    def mint(sub: str, **options: Any) -> str:
        return mint_token(sub, settings=settings, secret=options.pop("secret", SECRET), **options)

    admin_token = mint("admin-1", admin_of=[PROJECT])
    tokens: dict[str, Callable[[], str | None]] = {
        "no token": lambda: None,
        "malformed token": lambda: "not.a-jwt",
        "wrong signature": lambda: mint("admin-1", admin_of=[PROJECT], secret=OTHER_SECRET),
        "expired": lambda: mint("admin-1", admin_of=[PROJECT], now=time.time() - 7200, ttl=3600),
        "wrong audience": lambda: _with_claims(admin_token, aud="another-api"),
        "wrong issuer": lambda: _with_claims(admin_token, iss="https://issuer.attacker.test/"),
        "member of another project": lambda: mint("member-2", member_of=[OTHER_PROJECT]),
        "member": lambda: mint("member-1", member_of=[PROJECT]),
        "admin of another project": lambda: mint("admin-2", admin_of=[OTHER_PROJECT]),
        "admin": lambda: admin_token,
        "admin here, member elsewhere": lambda: mint(
            "admin-3", admin_of=[PROJECT], member_of=[OTHER_PROJECT]
        ),
        "member here, admin elsewhere": lambda: mint(
            "member-3", admin_of=[OTHER_PROJECT], member_of=[PROJECT]
        ),
        "admin of two other projects": lambda: mint(
            "admin-4", admin_of=[OTHER_PROJECT, THIRD_PROJECT]
        ),
        "platform admin": lambda: mint("operator-1", platform_admin=True),
        "old-style admin group and projects": lambda: _with_claims(
            mint("admin-5"), **{"cognito:groups": ["Admin"], "custom:projects": [PROJECT]}
        ),
        "roles value with a space": lambda: _with_claims(
            mint("admin-6"), **{settings.roles_claim: [f"Requests for {PROJECT}:admin"]}
        ),
    }
    token = tokens[caller]()
    return {} if token is None else {"Authorization": f"Bearer {token}"}


# -- the gateway and the state each cell needs -------------------------------------------------


@pytest.fixture(scope="module")
def gateway() -> Iterator[LocalGateway]:
    local = LocalGateway.from_template(
        parameter_overrides=LOCAL_PARAMETERS,
        authorizer=LocalJwtAuthorizer(secret=SECRET),
        access_log=io.StringIO(),
    )
    local.start()
    yield local
    local.stop()


@dataclass(frozen=True)
class Connected:
    """A project connected by its admin through the gateway, as the cell finds it."""

    info: dict[str, Any]
    hooks: list[SimHook]

    @property
    def id(self) -> str:
        return str(self.info["id"])


class MatrixClient(GatewayApi):
    """The gateway's API for PROJECT, with tokens minted by the matrix's signing secret."""

    def __init__(self, gateway: LocalGateway, settings: Settings) -> None:
        super().__init__(gateway.base_url)
        self.settings = settings

    def as_admin(self) -> dict[str, str]:
        return bearer("admin", self.settings)

    def stored_info(self) -> dict[str, Any] | None:
        response = self.read(PROJECT, headers=self.as_admin())
        if response.status == 404:
            return None
        assert response.status == 200
        return dict(response.json())


@pytest.fixture
def app_settings(app_settings: Settings) -> Settings:
    """The integration settings with the platform-wide admin group on (off by default)."""
    return app_settings.model_copy(update={"platform_admin_group": PLATFORM_GROUP})


@pytest.fixture
def client(api: Api, sim: Any, gateway: LocalGateway, app_settings: Settings) -> MatrixClient:
    # ``api`` sets the handlers' environment (moto, simulator) and resets their cached wiring.
    return MatrixClient(gateway, app_settings)


@pytest.fixture
def connected(client: MatrixClient, sim_control: SimulatorControl) -> Connected:
    info = given_connected(
        client, REPOSITORY, project=PROJECT, token=PROVIDER_TOKEN, headers=client.as_admin()
    )
    return Connected(info, sim_control.hooks())


# -- one request per route ---------------------------------------------------------------------


def send(
    route: str, client: MatrixClient, connected: Connected, headers: dict[str, str]
) -> HttpResult:
    if route.startswith("PUT "):
        return client.connect(PROJECT, REPOSITORY, PROVIDER_TOKEN, headers=headers)
    if route == "GET /projects/{projectId}/repository-connection":
        return client.read(PROJECT, headers=headers)
    if route.endswith("/exists"):
        return client.read(PROJECT, "/exists", headers=headers)
    if route.endswith("/deliveries"):
        return client.deliveries(PROJECT, headers=headers)
    if route.startswith("DELETE "):
        return client.disconnect(PROJECT, headers=headers)
    # An unsigned GitHub-shaped delivery: every header but the signature.
    delivery = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        **headers,
    }
    return client.request(
        "POST",
        f"{client.base_url}/webhooks/{connected.id}",
        data=json.dumps({"ref": "refs/heads/main"}),
        headers=delivery,
    )


def assert_success(route: str, response: HttpResult, connected: Connected) -> None:
    if route.startswith("PUT "):
        # the same repository again: an update of the same connection
        assert response.status == 200
        assert response.json()["id"] == connected.id
    elif route.endswith("/exists"):
        assert response.status == 200
        assert response.json() == {"exists": True}
    elif route.endswith("/deliveries"):
        assert response.status == 200
        assert response.json() == {"deliveries": [], "nextCursor": None}
    elif route.startswith("GET "):
        assert response.status == 200
        assert response.json() == connected.info
    else:
        assert route.startswith("DELETE ")
        assert response.status == 200
        assert response.json() == {"deleted": True, "webhookRemoved": True}


def assert_problem(response: HttpResult, status: int, code: str) -> None:
    assert response.status == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["status"], problem["code"]) == (status, code)
    assert {"type", "title", "detail"} <= set(problem)


def assert_gateway_401(response: HttpResult, caller: str) -> None:
    assert response.status == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": "Unauthorized"}
    reason = AUTHORIZER_REASON[caller]
    if reason is None:
        assert "www-authenticate" not in response.headers
    else:
        assert f'error_description="{reason}"' in response.headers["www-authenticate"]


# -- the matrix --------------------------------------------------------------------------------


def test_the_matrix_covers_every_route_of_the_template_and_every_caller() -> None:
    routes = {route.route_key for route in route_table(load_template(), LOCAL_PARAMETERS).routes}

    assert set(MATRIX) == routes
    assert all(len(row) == len(CALLERS) for row in MATRIX.values())
    assert len(CELLS) == len(routes) * len(CALLERS) == 96
    print(
        f"authorization matrix: {len(CELLS)} cells ({len(routes)} routes x {len(CALLERS)} callers)"
    )


@pytest.mark.parametrize(("route", "caller", "expected"), CELLS)
def test_each_caller_gets_the_expected_answer_from_each_route(
    client: MatrixClient,
    connected: Connected,
    sim_control: SimulatorControl,
    route: str,
    caller: str,
    expected: Expect,
) -> None:
    # given the project is connected (by its admin, through the gateway)
    # when the caller sends the route's request
    response = send(route, client, connected, bearer(caller, client.settings))
    # then the answer is the one in the matrix
    if expected is OK:
        assert_success(route, response, connected)
    elif expected is G401:
        assert_gateway_401(response, caller)
    elif expected is F403:
        assert_problem(response, 403, "forbidden")
    else:
        assert_problem(response, 401, "invalid_signature")
    # and a refusal changed nothing: same connection (lastSyncAt included), same hooks
    if expected is not OK:
        assert client.stored_info() == connected.info
        assert sim_control.hooks() == connected.hooks
    elif route.startswith("DELETE "):
        assert client.stored_info() is None
        assert sim_control.hooks() == []
