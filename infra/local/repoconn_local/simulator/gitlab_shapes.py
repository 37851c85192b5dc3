"""The GitLab simulator's project JSON (docs.gitlab.com/api/projects/#get-a-single-project) and
token self-inspection (docs.gitlab.com/api/personal_access_tokens/, GitLab 15.5+)."""

from __future__ import annotations

from typing import Any

from repoconn_local.simulator.core import SimResponse, TokenKind, iso_millis, json_response
from repoconn_local.simulator.state import Repository, SimState, utc_now

INSTANCE = "https://gitlab.com"


def token_self(state: SimState, kind: TokenKind, user_id: int) -> SimResponse:
    """GET /personal_access_tokens/self (15.5+): the token's own details, scopes included.
    Missing on an older instance (the route's 404); an OAuth token is not one it
    describes (401)."""
    if not state.gitlab_token_self:
        return json_response(404, {"error": "404 Not Found"})
    if kind is TokenKind.OAUTH:
        return json_response(401, {"message": "401 Unauthorized"})
    return json_response(
        200,
        {
            "id": 77,
            "name": "repoconn",
            "revoked": False,
            "created_at": iso_millis(utc_now()),
            "description": None,
            "scopes": ["read_api"] if kind is TokenKind.READ_API else ["api"],
            "user_id": user_id,
            "last_used_at": iso_millis(utc_now()),
            "active": True,
            "expires_at": None,
        },
    )


def project_json(project: Repository, access: int) -> dict[str, Any]:
    path = project.full_path
    namespace = project.namespace
    stamp = iso_millis(project.created_at)
    return {
        "id": project.number,
        "description": None,
        "name": project.name,
        "name_with_namespace": " / ".join(path.split("/")),
        "path": project.name,
        "path_with_namespace": path,
        "created_at": stamp,
        "last_activity_at": stamp,
        "default_branch": "main",
        "tag_list": [],
        "topics": [],
        "visibility": "private",
        "archived": False,
        "empty_repo": False,
        "ssh_url_to_repo": f"git@gitlab.com:{path}.git",
        "http_url_to_repo": f"{INSTANCE}/{path}.git",
        "web_url": f"{INSTANCE}/{path}",
        "namespace": {
            "id": 500 + project.number,
            "name": namespace.rsplit("/", 1)[-1],
            "path": namespace.rsplit("/", 1)[-1],
            "kind": "group",
            "full_path": namespace,
            "web_url": f"{INSTANCE}/groups/{namespace}",
        },
        "permissions": {
            "project_access": {"access_level": access, "notification_level": 3},
            "group_access": None,
        },
    }
