"""Every answer names its request: the functions send API Gateway's request id
(``requestContext.requestId``) as ``x-request-id``, and a problem carries it as ``instance``
(issue 17) — what a user quotes when reporting a problem."""

from __future__ import annotations

from tests.support.api import Api, admin, member
from tests.support.handlers import invoke_http

GITHUB_URL = "https://github.com/acme/api"


def test_a_problem_names_the_request_as_its_instance_and_in_its_header(api: Api) -> None:
    # Given a read of a project without a connection, with API Gateway's request id
    event = Api.event("GET", "p1", claims=member("p1"))
    request_id = event["requestContext"]["requestId"]

    # When the function answers
    response = invoke_http("get_connection", event)

    # Then the problem and the header both name that request
    assert response.status == 404
    assert response.headers["x-request-id"] == request_id
    assert response.json() == {
        "type": "urn:repository-connections:problem:connection_not_found",
        "title": "No repository connection",
        "status": 404,
        "detail": "Project p1 has no repository connection.",
        "code": "connection_not_found",
        "instance": request_id,
    }


def test_a_validation_problem_names_the_request_next_to_its_errors(api: Api) -> None:
    # Given a connect whose body lacks the access token
    event = Api.event(
        "PUT", "p1", raw_body='{"repositoryUrl": "' + GITHUB_URL + '"}', claims=admin("p1")
    )

    # When the function answers
    response = invoke_http("upsert_connection", event)

    # Then the 422 carries the errors and the request id
    problem = response.json()
    assert response.status == 422
    assert problem["instance"] == event["requestContext"]["requestId"]
    assert problem["errors"] == [
        {"loc": ["body", "accessToken"], "type": "missing", "msg": "Field required"}
    ]


def test_a_success_answer_sends_the_request_id_header_too(api: Api) -> None:
    # Given a member's exists check
    event = Api.event("GET", "p1", "/exists", claims=member("p1"))

    # When the function answers
    response = invoke_http("connection_exists", event)

    # Then the header names the request
    assert response.status == 200
    assert response.headers["x-request-id"] == event["requestContext"]["requestId"]
