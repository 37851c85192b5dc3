"""The order of checks on a write, and what a caller without a right can learn from it.

authenticate → (write scope) → authorise for the project → read and validate the body →
provider preflight → uniqueness (docs/security.md, "Order of checks"). Each test sends real
payload-2.0 events to the deployed handlers (the ``api`` fixture: moto, the provider
simulator) and asserts the exact answers, so an oracle reopened by reordering fails here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from repoconn_core.json_body import MAX_DEPTH, MAX_NUMBER_DIGITS
from repoconn_core.settings import SelfHostedProvider, Settings

from tests.support.api import Api, admin, given_connected, member
from tests.support.handlers import HttpResult
from tests.support.simulator_control import SimulatorControl

GITHUB_URL = "https://github.com/acme/order"
TOKEN = "tok-good-order-0123456789"
SELF_HOSTED = "git.internal.example"
# GITHUB_URL's repository in the simulator's GitHub API (its request log's paths).
REPOSITORY_API = "/github/repos/acme/order"


@pytest.fixture
def app_settings(app_settings: Settings) -> Settings:
    """The integration settings plus one configured self-hosted host (the host list is what
    oracle (b) leaked)."""
    gitlab = SelfHostedProvider(serviceType="GitLab", apiUrl=app_settings.gitlab_api_url)
    return app_settings.model_copy(update={"self_hosted_providers": {SELF_HOSTED: gitlab}})


def _problem(response: HttpResult) -> tuple[int, str, str]:
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    return response.status, body["code"], body["detail"]


def _answer(response: HttpResult) -> tuple[int, str]:
    if response.status == 201:
        return 201, "connected"
    return _problem(response)[:2]


FORBIDDEN = (403, "forbidden", "You do not have access to this project.")
NOT_ADMIN = (
    403,
    "forbidden",
    "Changing this project's repository connection requires the admin role.",
)

# Bodies whose validation would tell a caller something: configured hosts and their types,
# that a body is malformed, where validation fails.
REVEALING_BODIES: dict[str, str] = {
    "a configured self-hosted host": json.dumps(
        {"repositoryUrl": f"https://{SELF_HOSTED}/team/app", "accessToken": TOKEN}
    ),
    "its type, mismatched": json.dumps(
        {
            "repositoryUrl": f"https://{SELF_HOSTED}/team/app",
            "accessToken": TOKEN,
            "serviceType": "GitHub",
        }
    ),
    "an unknown host": json.dumps(
        {"repositoryUrl": "https://unknown.example/team/app", "accessToken": TOKEN}
    ),
    "a public host": json.dumps({"repositoryUrl": GITHUB_URL, "accessToken": TOKEN}),
    "missing fields": json.dumps({"repositoryUrl": GITHUB_URL}),
    "not JSON": "{not json",
    "nested too deep": "[" * 1000 + "]" * 1000,
    "an integer of 5,000 digits": '{"repositoryUrl": ' + "9" * 5000 + "}",
}


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        (admin("p-other"), FORBIDDEN),
        (member("p-other"), FORBIDDEN),
        ({"sub": "nobody"}, FORBIDDEN),
        (member("p1"), NOT_ADMIN),
    ],
    ids=["admin elsewhere", "member elsewhere", "no roles", "member here"],
)
@pytest.mark.parametrize("body", sorted(REVEALING_BODIES))
def test_a_caller_without_the_right_gets_one_answer_whatever_the_body(
    api: Api,
    sim_control: SimulatorControl,
    caller: dict[str, object],
    expected: tuple[int, str, str],
    body: str,
) -> None:
    # given a caller who is not admin of p1, and a body that would reveal something if read
    # when they PUT it
    response = api.call("PUT", "p1", raw_body=REVEALING_BODIES[body], claims=caller)
    # then the answer is the same 403 for every body: nothing was read, nobody was called
    assert _problem(response) == expected
    assert sim_control.requests() == []


def test_an_admin_learns_the_hosts_as_before(api: Api) -> None:
    # given the admin of p1 (the host list is theirs to learn: the answer helps them fix it)
    # when they PUT each revealing body
    answers = {
        name: _answer(api.call("PUT", "p1", raw_body=raw, claims=admin("p1")))
        for name, raw in REVEALING_BODIES.items()
        if name != "a public host"
    }
    # then each gets its own, precise answer (the self-hosted repository is connected)
    assert answers == {
        "a configured self-hosted host": (201, "connected"),
        "its type, mismatched": (422, "service_type_mismatch"),
        "an unknown host": (422, "invalid_repository_url"),
        "missing fields": (422, "validation_failed"),
        "not JSON": (400, "malformed_body"),
        "nested too deep": (400, "malformed_body"),
        "an integer of 5,000 digits": (400, "malformed_body"),
    }


@pytest.fixture
def connected_elsewhere(api: Api, sim_control: SimulatorControl) -> Iterator[dict[str, Any]]:
    """GITHUB_URL connected to p1; the simulator's request log emptied afterwards."""
    info = given_connected(api, GITHUB_URL, project="p1", token=TOKEN)
    sim_control.clear_requests()
    yield info


def test_an_unaccepted_token_never_learns_that_a_repository_is_connected(
    api: Api, sim_control: SimulatorControl, connected_elsewhere: dict[str, Any]
) -> None:
    # given GITHUB_URL belongs to p1
    # when the admin of an unrelated project p2 PUTs it with a token the provider refuses
    response = api.connect("p2", GITHUB_URL, "bad-token-order-0123")
    # then they get the provider's refusal, not the 409 that would say "connected elsewhere"
    assert _problem(response)[:2] == (422, "invalid_token")
    # and the answer came from the provider (asked once, for that repository)
    assert [request["path"] for request in sim_control.requests()] == [REPOSITORY_API]
    # and nothing changed for either project
    assert api.read("p1").json() == connected_elsewhere
    assert api.read("p2", "/exists").json() == {"exists": False}


def test_the_409_is_for_a_caller_whose_token_the_provider_accepted(
    api: Api, sim_control: SimulatorControl, connected_elsewhere: dict[str, Any]
) -> None:
    # given GITHUB_URL belongs to p1
    hooks = sim_control.hooks()
    # when the admin of p2 PUTs it with a token the provider accepts for that repository
    response = api.connect("p2", GITHUB_URL, "tok-good-other-admin-0123")
    # then 409: the provider vouched for their access to the repository first
    assert _problem(response) == (
        409,
        "repository_already_connected",
        "This repository is already connected to another project.",
    )
    # (its preflight: the repository, then whether the token may manage its hooks)
    assert [request["path"] for request in sim_control.requests()] == [
        REPOSITORY_API,
        REPOSITORY_API + "/hooks?per_page=1",
    ]
    # and nothing changed: p1's hook and connection as they were, none for p2
    assert sim_control.hooks() == hooks
    assert api.read("p1").json() == connected_elsewhere
    assert api.read("p2", "/exists").json() == {"exists": False}


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("[" * 1000 + "]" * 1000, f"nested more than {MAX_DEPTH} levels deep"),
        ("[" * 100_000 + "]" * 100_000, f"nested more than {MAX_DEPTH} levels deep"),
        ("{" + '"a":{' * 70 + "}" * 71, f"nested more than {MAX_DEPTH} levels deep"),
        ('{"accessToken": ' + "7" * 5000 + "}", f"more than {MAX_NUMBER_DIGITS} digits"),
        ('{"accessToken": ' + "7" * 100 + "}", f"more than {MAX_NUMBER_DIGITS} digits"),
        ('{"accessToken": -1.' + "5" * 200 + "}", f"more than {MAX_NUMBER_DIGITS} digits"),
        ('{"accessToken": NaN}', "must be a JSON object"),
        ('{"accessToken": Infinity}', "must be a JSON object"),
        ('{"accessToken": 1e999}', "beyond the range of a double"),
        ('{"accessToken": -2E+308}', "beyond the range of a double"),
    ],
    ids=[
        "1,000 deep",
        "100,000 deep",
        "70 objects deep",
        "5,000-digit integer",
        "100-digit integer",
        "200-digit float",
        "NaN",
        "Infinity",
        "1e999",
        "-2E+308",
    ],
)
def test_bodies_beyond_the_limits_are_400_malformed_body(
    api: Api, raw: str, detail: str, caplog: pytest.LogCaptureFixture
) -> None:
    # given the admin of p1
    # when they PUT a body nested too deep or holding a too long number
    with caplog.at_level(logging.INFO):
        response = api.call("PUT", "p1", raw_body=raw, claims=admin("p1"))
    # then 400 malformed_body saying which limit, logged as a refusal, not as an error
    status, code, said = _problem(response)
    assert (status, code) == (400, "malformed_body")
    assert detail in said
    assert [record.message for record in caplog.records] == ["request refused"]
    assert all(record.exc_info is None for record in caplog.records)


def test_a_refused_roles_claim_is_logged_as_a_configuration_problem(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    # given a token whose roles claim holds a value with a space (what API Gateway would split)
    claims = {"sub": "u", "project_roles": ["p1:admin", "Requests for p1:admin"]}
    # when it is used
    with caplog.at_level(logging.INFO):
        response = api.read("p1", claims=claims)
    # then 403, like any caller without access
    assert _problem(response) == FORBIDDEN
    # and the operator gets one warning naming the claim and the reason, not the values
    [warning] = [record for record in caplog.records if "configuration problem" in record.message]
    assert warning.levelname == "WARNING"
    assert (warning.claim, warning.reason) == (  # type: ignore[attr-defined]
        "project_roles",
        "entry 2 is not <projectId>:admin or <projectId>:member",
    )
    assert not [record for record in caplog.records if "Requests" in record.getMessage()]


@pytest.fixture
def write_scoped(api: Api, app_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Api:
    """The handlers with WRITE_SCOPES set (template parameter WriteScopes)."""
    from repoconn_core import wiring

    monkeypatch.setenv("WRITE_SCOPES", "repoconn/write,repoconn/admin")
    wiring.reset()
    return api


def test_with_write_scopes_set_a_write_needs_one_of_them_and_a_read_does_not(
    write_scoped: Api,
) -> None:
    # given WRITE_SCOPES and the admin of p1 with an ID token (no scope), then with access
    # tokens holding another scope and a write scope
    id_token = admin("p1")
    other_scope = {**admin("p1"), "scope": "openid profile"}
    write_scope = {**admin("p1"), "scope": "openid repoconn/admin"}
    # when each PUTs, reads and DELETEs
    refused = write_scoped.connect("p1", GITHUB_URL, TOKEN, claims=id_token)
    refused_too = write_scoped.connect("p1", GITHUB_URL, TOKEN, claims=other_scope)
    created = write_scoped.connect("p1", GITHUB_URL, TOKEN, claims=write_scope)
    read = write_scoped.read("p1", claims=id_token)
    not_deleted = write_scoped.disconnect("p1", claims=id_token)
    deleted = write_scoped.disconnect("p1", claims=write_scope)
    # then the writes without a write scope are 403 insufficient_scope, the rest succeed
    insufficient = (
        403,
        "insufficient_scope",
        "Changing a repository connection needs an access token with a write scope.",
    )
    assert _problem(refused) == _problem(refused_too) == _problem(not_deleted) == insufficient
    assert (created.status, read.status, deleted.status) == (201, 200, 200)
