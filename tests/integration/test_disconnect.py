"""DELETE /projects/{projectId}/repository-connection through the real handler."""

from __future__ import annotations

import socket

import pytest
import requests
from repoconn_core import wiring

from tests.integration.conftest import Api, admin, member, sim_hooks

REPOS = {
    "github": "https://github.com/acme/api",
    "gitlab": "https://gitlab.com/acme/platform/api",
    "bitbucket": "https://bitbucket.org/acme/api",
}


def connect(api: Api, url: str, project: str = "p1") -> dict:
    response = api.call(
        "PUT",
        project,
        body={"repositoryUrl": url, "accessToken": "tok-good"},
        claims=admin(project),
    )
    assert response.status == 201
    return response.json()


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("provider", sorted(REPOS))
def test_disconnect_removes_the_hook_and_the_connection(api: Api, sim, provider: str) -> None:
    # given a connected project
    connect(api, REPOS[provider])
    assert len(sim_hooks(sim)) == 1
    # when an admin disconnects
    response = api.call("DELETE", "p1", claims=admin("p1"))
    # then the hook is gone, the connection is gone, and the repository is free again
    assert response.status == 200
    assert response.json() == {"deleted": True, "webhookRemoved": True}
    assert sim_hooks(sim) == []
    assert api.call("GET", "p1", claims=member("p1")).status == 404
    assert api.call("GET", "p1", "/exists", claims=member("p1")).json() == {"exists": False}
    assert connect(api, REPOS[provider], project="p2")["repositoryUrl"] == REPOS[provider]


def test_disconnect_when_the_hook_is_already_gone_counts_as_removed(api: Api, sim) -> None:
    connect(api, REPOS["github"])
    hook = sim_hooks(sim)[0]
    requests.post(
        f"{sim.base_url}/_sim/hooks/github/{hook['id']}/delete", timeout=5
    ).raise_for_status()

    response = api.call("DELETE", "p1", claims=admin("p1"))

    assert response.status == 200
    assert response.json() == {"deleted": True, "webhookRemoved": True}


def test_disconnect_with_the_provider_unreachable_still_removes_the_connection(
    api: Api, sim, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    # given a connection, and then GitHub's API becomes unreachable
    created = connect(api, REPOS["github"])
    hook_id = sim_hooks(sim)[0]["id"]
    monkeypatch.setenv("GITHUB_API_URL", closed_port_url())
    wiring.reset()
    caplog.clear()
    # when the admin disconnects
    response = api.call("DELETE", "p1", claims=admin("p1"))
    # then the connection is removed, the answer says the hook was not, and the hook id is logged
    assert response.status == 200
    assert response.json() == {"deleted": True, "webhookRemoved": False}
    assert api.call("GET", "p1", "/exists", claims=member("p1")).json() == {"exists": False}
    assert [hook["id"] for hook in sim_hooks(sim)] == [hook_id]
    leftover = [r for r in caplog.records if getattr(r, "webhookId", None) == hook_id]
    assert [r.levelname for r in leftover] == ["WARNING"]
    assert leftover[0].connectionId == created["id"]


def test_disconnect_without_a_connection_is_404(api: Api) -> None:
    response = api.call("DELETE", "p1", claims=admin("p1"))
    assert response.status == 404
    assert response.json()["code"] == "connection_not_found"


@pytest.mark.parametrize(
    ("claims", "status"),
    [(None, 401), (member("p1"), 403), (admin("p2"), 403)],
)
def test_only_an_admin_of_the_project_may_disconnect(api: Api, sim, claims, status: int) -> None:
    connect(api, REPOS["github"])
    response = api.call("DELETE", "p1", claims=claims)
    assert response.status == status
    assert len(sim_hooks(sim)) == 1
    assert api.call("GET", "p1", "/exists", claims=member("p1")).json() == {"exists": True}
