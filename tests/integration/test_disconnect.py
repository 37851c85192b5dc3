"""DELETE /projects/{projectId}/repository-connection through the real handler."""

from __future__ import annotations

import socket

import pytest
from repoconn_core import wiring

from tests.support.api import Api, admin, given_connected, member
from tests.support.simulator_control import SimulatorControl

REPOS = {
    "github": "https://github.com/acme/api",
    "gitlab": "https://gitlab.com/acme/platform/api",
    "bitbucket": "https://bitbucket.org/acme/api",
}


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("provider", sorted(REPOS))
def test_disconnect_removes_the_hook_and_the_connection(
    api: Api, sim_control: SimulatorControl, provider: str
) -> None:
    # given a connected project
    given_connected(api, REPOS[provider])
    assert len(sim_control.hooks()) == 1
    # when an admin disconnects
    response = api.disconnect("p1")
    # then the hook is gone, the connection is gone, and the repository is free again
    assert response.status == 200
    assert response.json() == {"deleted": True, "webhookRemoved": True}
    assert sim_control.hooks() == []
    assert api.read("p1").status == 404
    assert api.read("p1", "/exists").json() == {"exists": False}
    assert given_connected(api, REPOS[provider], project="p2")["repositoryUrl"] == REPOS[provider]


def test_disconnect_when_the_hook_is_already_gone_counts_as_removed(
    api: Api, sim_control: SimulatorControl
) -> None:
    given_connected(api, REPOS["github"])
    hook = sim_control.hooks()[0]
    sim_control.hook_action("github", hook["id"], "delete")

    response = api.disconnect("p1")

    assert response.status == 200
    assert response.json() == {"deleted": True, "webhookRemoved": True}


def test_disconnect_with_the_provider_unreachable_still_removes_the_connection(
    api: Api, sim_control: SimulatorControl, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    # given a connection, and then GitHub's API becomes unreachable
    created = given_connected(api, REPOS["github"])
    hook_id = sim_control.hooks()[0]["id"]
    monkeypatch.setenv("GITHUB_API_URL", closed_port_url())
    wiring.reset()
    caplog.clear()
    # when the admin disconnects
    response = api.disconnect("p1")
    # then the connection is removed, the answer says the hook was not, and the hook id is logged
    assert response.status == 200
    assert response.json() == {"deleted": True, "webhookRemoved": False}
    assert api.read("p1", "/exists").json() == {"exists": False}
    assert [hook["id"] for hook in sim_control.hooks()] == [hook_id]
    leftover = [r for r in caplog.records if getattr(r, "webhookId", None) == hook_id]
    assert [r.levelname for r in leftover] == ["WARNING"]
    assert leftover[0].connectionId == created["id"]


def test_disconnect_without_a_connection_is_404(api: Api) -> None:
    response = api.disconnect("p1")
    assert response.status == 404
    assert response.json()["code"] == "connection_not_found"


@pytest.mark.parametrize(
    ("claims", "status"),
    [(None, 401), (member("p1"), 403), (admin("p2"), 403)],
)
def test_only_an_admin_of_the_project_may_disconnect(
    api: Api, sim_control: SimulatorControl, claims, status: int
) -> None:
    given_connected(api, REPOS["github"])
    response = api.call("DELETE", "p1", claims=claims)
    assert response.status == status
    assert len(sim_control.hooks()) == 1
    assert api.read("p1", "/exists").json() == {"exists": True}
