"""The local stack driven over HTTP as the frontend drives it: the README scenario and the
401/403/404/409/413/422 paths. Each test uses its own project and repository names, so the
tests share one running stack without sharing state."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable

import pytest

from tests.e2e.conftest import REPOCONN, LocalRun
from tests.support.api import bearer, given_connected

pytestmark = pytest.mark.e2e

ORIGIN = "http://localhost:5173"
ACCESS_TOKEN = "ghp_e2eAccessToken0123456789"
INFO_FIELDS = {"id", "repositoryUrl", "serviceType", "isActive", "lastSyncAt", "createdAt"}


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_connect_creates_the_connection_and_registers_exactly_one_hook(local_run: LocalRun) -> None:
    # given an admin of a project and a simulator without hooks
    local_run.reset_simulator()
    project, repo = _unique("p"), _unique("widgets")
    admin = local_run.token("alice", project, admin=True)

    # when the admin connects a GitHub repository (URL in a non-canonical form)
    response = local_run.gateway.connect(
        project, f"https://github.com/Acme/{repo}.git", ACCESS_TOKEN, bearer_token=admin
    )

    # then 201 with the public shape in canonical form, and the simulator holds one hook to it
    assert response.status == 201
    body = response.json()
    assert set(body) >= INFO_FIELDS
    assert {name: body[name] for name in ("repositoryUrl", "serviceType", "isActive")} == {
        "repositoryUrl": f"https://github.com/acme/{repo}",
        "serviceType": "GitHub",
        "isActive": True,
    }
    assert str(uuid.UUID(body["id"])) == body["id"]
    assert body["lastSyncAt"] == body["createdAt"]
    assert ACCESS_TOKEN not in response.text
    [hook] = local_run.sim.hooks()
    assert hook["provider"] == "github"
    assert hook["repository"].lower() == f"acme/{repo}"
    assert hook["url"] == f"{local_run.api}/webhooks/{body['id']}"
    assert hook["active"] is True


def test_connecting_again_answers_200_with_the_same_id_and_keeps_one_hook(
    local_run: LocalRun,
) -> None:
    # given a connected project
    local_run.reset_simulator()
    project, repo = _unique("p"), _unique("widgets")
    admin = local_run.token("alice", project, admin=True)
    first = local_run.gateway.connect(
        project, f"https://github.com/acme/{repo}", ACCESS_TOKEN, bearer_token=admin
    )

    # when the admin connects the same repository again
    again = local_run.gateway.connect(
        project, f"https://github.com/acme/{repo}", ACCESS_TOKEN, bearer_token=admin
    )

    # then the connection is updated in place and there is still exactly one hook
    assert (first.status, again.status) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert len(local_run.sim.hooks()) == 1


def test_members_read_the_connection_without_secrets(local_run: LocalRun) -> None:
    # given a project connected by its admin
    project, repo = _unique("p"), _unique("widgets")
    created = given_connected(
        local_run.gateway,
        f"https://gitlab.com/acme/platform/{repo}",
        project=project,
        token=ACCESS_TOKEN,
        bearer_token=local_run.token("alice", project, admin=True),
    )

    # when a member of the project reads it
    response = local_run.gateway.read(project, bearer_token=local_run.token("bob", project))

    # then the same public info comes back, and no secret
    assert response.status == 200
    assert response.json() == created
    assert response.json()["serviceType"] == "GitLab"
    assert ACCESS_TOKEN not in response.text
    assert "webhookSecret" not in response.text and "accessToken" not in response.text


def test_exists_is_true_for_a_connected_project_and_false_for_another(local_run: LocalRun) -> None:
    # given one connected and one unconnected project the member can see
    connected, empty, repo = _unique("p"), _unique("p"), _unique("widgets")
    given_connected(
        local_run.gateway,
        f"https://bitbucket.org/acme/{repo}",
        project=connected,
        token=ACCESS_TOKEN,
        bearer_token=local_run.token("alice", connected, admin=True),
    )
    member = local_run.token("bob", connected, empty)

    # when the member asks whether each is connected
    answers = [
        local_run.gateway.read(project, "/exists", bearer_token=member)
        for project in (connected, empty)
    ]

    # then true, then false
    assert [(answer.status, answer.json()) for answer in answers] == [
        (200, {"exists": True}),
        (200, {"exists": False}),
    ]


def test_get_of_an_unconnected_project_is_404_connection_not_found(local_run: LocalRun) -> None:
    # given a project without a connection
    project = _unique("p")

    # when a member reads it
    response = local_run.gateway.read(project, bearer_token=local_run.token("bob", project))

    # then the problem says so
    assert response.status == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "connection_not_found"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-jwt", "tampered"],
    ids=["no-token", "garbage-token", "tampered-signature"],
)
def test_requests_without_a_valid_token_are_401(
    local_run: LocalRun, authorization: str | None
) -> None:
    # given no token, a garbage token, or a real token with its signature altered
    project = _unique("p")
    if authorization == "tampered":
        token = local_run.token("alice", project, admin=True)
        authorization = f"Bearer {token[:-4]}{'AAAA' if not token.endswith('AAAA') else 'BBBB'}"
    headers = {"Authorization": authorization} if authorization else {}

    # when the frontend calls the API with it
    response = local_run.gateway.read(project, headers=headers)

    # then the gateway refuses as API Gateway's JWT authorizer does
    assert response.status == 401
    assert response.json() == {"message": "Unauthorized"}


def test_a_member_who_is_not_admin_cannot_connect(local_run: LocalRun) -> None:
    # given a member (not admin) of the project
    project = _unique("p")
    member = local_run.token("bob", project)

    # when the member tries to connect a repository
    response = local_run.gateway.connect(
        project, f"https://github.com/acme/{_unique('r')}", ACCESS_TOKEN, bearer_token=member
    )

    # then 403 forbidden
    assert response.status == 403
    assert response.json()["code"] == "forbidden"


def test_reading_another_projects_connection_is_403(local_run: LocalRun) -> None:
    # given a connected project and an admin of a different project
    project, repo = _unique("p"), _unique("widgets")
    given_connected(
        local_run.gateway,
        f"https://github.com/acme/{repo}",
        project=project,
        token=ACCESS_TOKEN,
        bearer_token=local_run.token("alice", project, admin=True),
    )
    outsider = local_run.token("mallory", _unique("p"), admin=True)

    # when the outsider reads it
    response = local_run.gateway.read(project, bearer_token=outsider)

    # then 403, whatever the role elsewhere
    assert response.status == 403
    assert response.json()["code"] == "forbidden"


def test_rights_from_repoconn_token_are_per_project(local_run: LocalRun) -> None:
    # given alice, admin of A and member of B, minted by `repoconn token` as the README shows
    a, b = _unique("p"), _unique("p")
    alice = local_run.repoconn_token("--sub", "alice", "--admin-of", a, "--member-of", b)

    # when she connects A, then tries to connect B and reads B
    connected = local_run.gateway.connect(
        a, f"https://github.com/acme/{_unique('r')}", ACCESS_TOKEN, bearer_token=alice
    )
    refused = local_run.gateway.connect(
        b, f"https://github.com/acme/{_unique('r')}", ACCESS_TOKEN, bearer_token=alice
    )
    read = local_run.gateway.read(b, "/exists", bearer_token=alice)

    # then admin of A is not admin of B: 201 in A, 403 in B, and she may read B
    assert connected.status == 201
    assert (refused.status, refused.json()["code"]) == (403, "forbidden")
    assert (read.status, read.json()) == (200, {"exists": False})


def test_a_platform_admin_token_works_only_where_the_group_is_configured(
    local_run: LocalRun,
) -> None:
    # given the run's PLATFORM_ADMIN_GROUP (set for both `repoconn dev` and `repoconn token`)
    operator = local_run.repoconn_token("--sub", "olga", "--platform-admin")

    # when the platform admin connects a project nobody named in her token
    project = _unique("p")
    response = local_run.gateway.connect(
        project, f"https://github.com/acme/{_unique('r')}", ACCESS_TOKEN, bearer_token=operator
    )

    # then it is allowed: the group is admin of every project
    assert response.status == 201
    # and without the setting, `repoconn token` refuses to mint one, saying why
    unset = {k: v for k, v in local_run.environ.items() if k != "PLATFORM_ADMIN_GROUP"}
    with pytest.raises(subprocess.CalledProcessError) as refused:
        local_run.repoconn_token("--sub", "olga", "--platform-admin", environ=unset)
    assert refused.value.returncode == 2
    assert "PLATFORM_ADMIN_GROUP" in refused.value.stderr


def test_a_repository_connected_to_another_project_is_409_and_changes_nothing(
    local_run: LocalRun,
) -> None:
    # given a repository connected to project A
    first, second, repo = _unique("p"), _unique("p"), _unique("widgets")
    admin = local_run.token("alice", first, second, admin=True)
    original = given_connected(
        local_run.gateway,
        f"https://github.com/acme/{repo}",
        project=first,
        token=ACCESS_TOKEN,
        bearer_token=admin,
    )

    # when project B tries to connect the same repository (in another spelling)
    response = local_run.gateway.connect(
        second, f"git@github.com:ACME/{repo}.git", ACCESS_TOKEN, bearer_token=admin
    )

    # then 409, A keeps its connection and B has none
    assert response.status == 409
    assert response.json()["code"] == "repository_already_connected"
    assert local_run.gateway.read(first, bearer_token=admin).json() == original
    exists = local_run.gateway.read(second, "/exists", bearer_token=admin)
    assert exists.json() == {"exists": False}


def test_a_url_that_is_not_a_repository_is_422(local_run: LocalRun) -> None:
    # given an admin
    project = _unique("p")
    admin = local_run.token("alice", project, admin=True)

    # when the admin sends a URL that names no repository
    response = local_run.gateway.connect(
        project, "https://github.com/only-owner", ACCESS_TOKEN, bearer_token=admin
    )

    # then 422 invalid_repository_url
    assert response.status == 422
    assert response.json()["code"] == "invalid_repository_url"


def test_unknown_route_and_unrouted_method_are_404(local_run: LocalRun) -> None:
    # given a valid token
    project = _unique("p")
    admin = local_run.token("alice", project, admin=True)

    # when an unknown path and a known path with an unrouted method are called
    unknown = local_run.gateway.request(
        "GET", f"{local_run.api}/nothing/here", headers=bearer(admin)
    )
    unrouted = local_run.gateway.call("PATCH", project, bearer_token=admin)

    # then both are API Gateway's 404
    assert [(unknown.status, unknown.json()), (unrouted.status, unrouted.json())] == [
        (404, {"message": "Not Found"}),
        (404, {"message": "Not Found"}),
    ]


def test_a_body_over_10_mb_is_413(local_run: LocalRun) -> None:
    # given an admin and a body one byte over API Gateway's 10 MB payload limit
    project = _unique("p")
    admin = local_run.token("alice", project, admin=True)
    body = b"x" * (10 * 1024 * 1024 + 1)

    # when it is sent
    response = local_run.gateway.call(
        "PUT",
        project,
        raw_body=body,
        bearer_token=admin,
        headers={"Content-Type": "application/json"},
    )

    # then 413 before any function runs
    assert response.status == 413
    assert response.json() == {"message": "Request Entity Too Large"}


def test_cors_preflight_from_the_frontend_origin_is_allowed(local_run: LocalRun) -> None:
    # when the browser preflights a PUT from the frontend's dev origin (no token, as browsers do)
    project = _unique("p")
    response = local_run.gateway.call(
        "OPTIONS",
        project,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )

    # then the template's CORS configuration answers
    assert response.status == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "PUT" in response.headers["access-control-allow-methods"].split(",")
    assert response.headers["access-control-allow-headers"] == "authorization,content-type"


def test_a_signed_delivery_from_the_provider_reaches_the_receiver_through_the_gateway(
    local_run: LocalRun,
) -> None:
    # given a connected repository and its hook at the simulator
    local_run.reset_simulator()
    project, repo = _unique("p"), _unique("widgets")
    admin = local_run.token("alice", project, admin=True)
    connected = given_connected(
        local_run.gateway,
        f"https://github.com/acme/{repo}",
        project=project,
        token=ACCESS_TOKEN,
        bearer_token=admin,
    )
    [hook] = local_run.sim.hooks()

    # when the simulator delivers a push, signed as GitHub signs it, to the hook's URL
    delivery = local_run.sim.deliver_raw(
        hook["provider"], hook["id"], {"event": "push", "payload": {"ref": "refs/heads/main"}}
    )

    # then the public webhook route (no JWT) accepted it and the connection's last sync moved on
    assert delivery.status_code == 200
    result = delivery.json()
    assert result["status"] == 202
    assert {name: result["body"][name] for name in ("accepted", "duplicate")} == {
        "accepted": True,
        "duplicate": False,
    }

    # (asynchronously: the local event source mapping hands the recorded delivery to the relay,
    # which publishes it and advances lastSyncAt, as the stream does in AWS)
    def last_sync() -> str:
        return str(local_run.gateway.read(project, bearer_token=admin).json()["lastSyncAt"])

    assert _eventually(lambda: last_sync() > connected["lastSyncAt"])


def _eventually(condition: Callable[[], bool], within: float = 15.0) -> bool:
    """Poll an asynchronous outcome until it holds or ``within`` seconds have passed."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_repoconn_reencrypt_runs_a_pass_against_the_stacks_aws(local_run: LocalRun) -> None:
    # given a connection made through the gateway (written in the current format)
    project = _unique("p")
    given_connected(
        local_run.gateway,
        f"https://github.com/acme/{_unique('r')}",
        project=project,
        token=ACCESS_TOKEN,
        bearer_token=local_run.token("alice", project, admin=True),
    )
    # when an operator runs `repoconn reencrypt` against the stack's (embedded) AWS
    environ = {
        **local_run.environ,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{local_run.environ['AWS_PORT']}",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    result = subprocess.run(
        [str(REPOCONN), "reencrypt"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # then it reports its pass as JSON on stdout: everything scanned is already current
    report = json.loads(result.stdout)
    assert report["scanned"] >= 1
    assert report["already_current"] == report["scanned"]
    assert report["reencrypted"] == report["unreadable"] == 0


# The secret is in place before the provider signs with it (issue 16) -------------------------


def test_githubs_ping_on_hook_creation_verifies(local_run: LocalRun) -> None:
    # given an admin connecting a repository for the first time
    local_run.reset_simulator()
    project, repo = _unique("p"), _unique("widgets")
    admin = local_run.token("alice", project, admin=True)

    # when GitHub creates the hook, it pings it before answering the create: before the
    # connection could be written
    response = local_run.gateway.connect(
        project, f"https://github.com/acme/{repo}", ACCESS_TOKEN, bearer_token=admin
    )

    # then the ping verified (200, acknowledged; not 401)
    assert response.status == 201
    hook = local_run.sim.hook_of(response.json()["id"])
    [ping] = local_run.sim.delivery_log(hook["provider"], hook["id"])
    assert (ping["event"], ping["status"]) == ("ping", 200)


def test_a_push_during_a_reconnect_verifies_with_the_new_secret(local_run: LocalRun) -> None:
    # given a connected repository
    local_run.reset_simulator()
    project, repo = _unique("p"), _unique("widgets")
    admin = local_run.token("alice", project, admin=True)
    url = f"https://github.com/acme/{repo}"
    given_connected(local_run.gateway, url, project=project, token=ACCESS_TOKEN, bearer_token=admin)
    # and a push GitHub sends while the reconnect updates the hook, signed with the new secret
    local_run.sim.deliver_on_next_update(
        "github", "push", {"ref": "refs/heads/main", "after": uuid.uuid4().hex}
    )

    # when the admin reconnects (a new token: the secret rotates)
    response = local_run.gateway.connect(project, url, ACCESS_TOKEN + "2", bearer_token=admin)

    # then the push sent during the update was accepted (202), not lost to a 401
    assert response.status == 200
    hook = local_run.sim.hook_of(response.json()["id"])
    logged = local_run.sim.delivery_log(hook["provider"], hook["id"])
    assert [(d["event"], d["status"]) for d in logged] == [("ping", 200), ("push", 202)]
    # and the stored secret after the reconnect is the one the hook holds: a push verifies
    assert local_run.sim.deliver(hook["provider"], hook["id"])["status"] == 202
