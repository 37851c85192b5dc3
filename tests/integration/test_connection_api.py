"""The three first-release routes through their real handlers, on moto and the simulator."""

from __future__ import annotations

import pytest

from tests.support.api import Api, admin, connect_body, given_connected, member
from tests.support.simulator_control import SimulatorControl

GITHUB_URL = "https://github.com/acme/api"
TOKEN = "ghp_0123456789abcdefSECRETtoken"


def test_first_connect_creates_the_connection_and_answers_201(api: Api) -> None:
    # given a project with no connection
    # when an admin connects a GitHub repository
    response = api.connect("p1", "https://github.com/Acme/API.git", TOKEN)
    # then 201 with the public view in canonical form, and no secret in it
    assert response.status == 201
    body = response.json()
    assert set(body) >= {
        "id",
        "repositoryUrl",
        "serviceType",
        "isActive",
        "lastSyncAt",
        "createdAt",
    }
    assert body["repositoryUrl"] == "https://github.com/acme/api"
    assert body["serviceType"] == "GitHub"
    assert body["isActive"] is True
    assert body["lastSyncAt"].endswith("Z") and body["createdAt"].endswith("Z")
    assert "accessToken" not in body and "webhookSecret" not in body and "webhookId" not in body


def test_second_connect_of_the_same_repository_updates_with_the_same_id(api: Api) -> None:
    # given a connected project
    first = given_connected(api, GITHUB_URL, token=TOKEN)
    # when the admin connects the same repository again with a new token
    second = api.connect("p1", GITHUB_URL, "ghp_rotatedTOKENvalue")
    # then 200 and the same connection id and creation time
    assert second.status == 200
    assert second.json()["id"] == first["id"]
    assert second.json()["createdAt"] == first["createdAt"]


def test_get_returns_the_connection_to_a_member(api: Api) -> None:
    created = given_connected(api, GITHUB_URL, token=TOKEN)
    response = api.read("p1")
    assert response.status == 200
    assert response.json() == created


def test_get_without_connection_is_404_problem(api: Api) -> None:
    response = api.read("p1")
    assert response.status == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "connection_not_found"
    assert problem["status"] == 404
    assert {"type", "title", "detail"} <= set(problem)


def test_exists_is_false_then_true(api: Api) -> None:
    assert api.read("p1", "/exists").json() == {"exists": False}
    given_connected(api, GITHUB_URL, token=TOKEN)
    response = api.read("p1", "/exists")
    assert response.status == 200
    assert response.json() == {"exists": True}


@pytest.mark.parametrize(
    ("method", "suffix", "claims", "status"),
    [
        ("PUT", "", None, 401),
        ("GET", "", None, 401),
        ("GET", "/exists", None, 401),
        ("PUT", "", {"project_roles": ["p1:admin"]}, 401),  # no sub
        ("PUT", "", member("p1"), 403),  # member, not admin
        ("PUT", "", admin("p2"), 403),  # admin of another project
        ("PUT", "", member("p2"), 403),
        ("GET", "", member("p2"), 403),
        ("GET", "", admin("p2"), 403),
        ("GET", "/exists", member("p2"), 403),
        ("GET", "/exists", admin("p2"), 403),
        ("GET", "", {"sub": "x"}, 403),  # authenticated, no projects claim
        ("GET", "", member("p1"), 404),
        ("GET", "", admin("p1"), 404),
        ("GET", "/exists", member("p1"), 200),
        ("PUT", "", admin("p1"), 201),
    ],
)
def test_authorization_matrix(api: Api, method: str, suffix: str, claims, status: int) -> None:
    body = {"repositoryUrl": GITHUB_URL, "accessToken": TOKEN} if method == "PUT" else None
    response = api.call(method, "p1", suffix, body=body, claims=claims)
    assert response.status == status
    if status >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == status


def test_claims_in_api_gateway_string_form_are_understood(api: Api) -> None:
    claims = {"sub": "a", "project_roles": "[p0:member p1:admin]"}
    assert (
        api.call(
            "PUT", "p1", body={"repositoryUrl": GITHUB_URL, "accessToken": TOKEN}, claims=claims
        ).status
        == 201
    )


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://github.com/acme/api", "invalid_repository_url"),
        ("https://user:pw@github.com/acme/api", "invalid_repository_url"),
        ("https://github.com/acme/api?x=1", "invalid_repository_url"),
        ("https://github.com/acme/api#readme", "invalid_repository_url"),
        ("https://example.com/acme/api", "invalid_repository_url"),
        ("https://127.0.0.1/acme/api", "invalid_repository_url"),
        ("https://localhost/acme/api", "invalid_repository_url"),
        ("https://github.com/acme/../api", "invalid_repository_url"),
        ("https://github.com//api", "invalid_repository_url"),
        ("https://github.com/acme/" + "a" * 256, "invalid_repository_url"),
        ("not a url", "invalid_repository_url"),
    ],
)
def test_rejected_repository_urls_are_422(
    api: Api, url: str, code: str, sim_control: SimulatorControl
) -> None:
    response = api.connect("p1", url, TOKEN)
    assert response.status == 422
    assert response.json()["code"] == code
    assert sim_control.hooks() == []


def test_service_type_that_does_not_match_the_host_is_422(api: Api) -> None:
    response = api.call(
        "PUT", "p1", body=connect_body(GITHUB_URL, TOKEN, serviceType="GitLab"), claims=admin("p1")
    )
    assert response.status == 422
    assert response.json()["code"] == "service_type_mismatch"


def test_matching_service_type_is_accepted(api: Api) -> None:
    assert (
        api.call(
            "PUT",
            "p1",
            body=connect_body(GITHUB_URL, TOKEN, serviceType="GitHub"),
            claims=admin("p1"),
        ).status
        == 201
    )


@pytest.mark.parametrize(
    "body",
    [
        {"repositoryUrl": GITHUB_URL},
        {"repositoryUrl": GITHUB_URL, "accessToken": ""},
        {"repositoryUrl": GITHUB_URL, "accessToken": "x" * 1025},
        {"repositoryUrl": GITHUB_URL, "accessToken": "ghp_with space"},
        {"repositoryUrl": GITHUB_URL, "accessToken": "ghp_with\nnewline"},
        {"repositoryUrl": GITHUB_URL, "accessToken": 12345},
        {"accessToken": TOKEN},
        {"repositoryUrl": GITHUB_URL, "accessToken": TOKEN, "unexpected": 1},
        [],
    ],
    ids=[
        "missing-token",
        "empty-token",
        "long-token",
        "space",
        "newline",
        "number",
        "missing-url",
        "extra-field",
        "array",
    ],
)
def test_invalid_bodies_are_422_and_never_echo_the_token(api: Api, body) -> None:
    response = api.call("PUT", "p1", body=body, claims=admin("p1"))
    assert response.status == 422
    assert response.json()["code"] == "validation_failed"
    if isinstance(body, dict) and isinstance(body.get("accessToken"), str) and body["accessToken"]:
        assert body["accessToken"] not in response.text


@pytest.mark.parametrize("raw", ["{not json", '{"repositoryUrl": ', "\x00"])
def test_a_body_that_is_not_json_is_400(api: Api, raw: str) -> None:
    response = api.call("PUT", "p1", raw_body=raw, claims=admin("p1"))
    assert response.status == 400
    assert response.json()["code"] == "malformed_body"


@pytest.mark.parametrize("raw", ["", "null", "[]", '"text"', "42"])
def test_an_empty_body_or_json_that_is_not_an_object_is_422(api: Api, raw: str) -> None:
    response = api.call("PUT", "p1", raw_body=raw, claims=admin("p1"))
    assert response.status == 422
    assert response.json()["code"] == "validation_failed"
    assert response.json()["errors"][0]["loc"] == ["body"]


def test_invalid_project_id_in_path_is_422(api: Api) -> None:
    response = api.call("GET", "bad%20id", claims=member("bad%20id"))
    assert response.status == 422


def test_repository_of_another_project_is_409_and_changes_nothing(
    api: Api, sim_control: SimulatorControl
) -> None:
    # given project p1 owns the repository
    owner = given_connected(api, GITHUB_URL, token=TOKEN)
    hooks_before = sim_control.hooks()
    # when an admin of p2 tries to connect it
    response = api.connect("p2", "git@github.com:ACME/api.git", "ghp_otherToken")
    # then 409, p1 still sees its connection unchanged, p2 has none, hooks unchanged
    assert response.status == 409
    assert response.json()["code"] == "repository_already_connected"
    assert api.read("p1").json() == owner
    assert api.read("p2", "/exists").json() == {"exists": False}
    assert sim_control.hooks() == hooks_before
