"""The GitHub simulator's user and repository JSON (docs.github.com/rest/users/users,
docs.github.com/rest/repos/repos#get-a-repository), as the token's kind shows them."""

from __future__ import annotations

from typing import Any

from repoconn_local.simulator.core import SimRequest, TokenKind, iso_seconds
from repoconn_local.simulator.state import Repository


def user_json(req: SimRequest, kind: TokenKind) -> dict[str, Any]:
    login = "sim-admin" if kind.may_admin else "sim-reader"
    return {
        "login": login,
        "id": 4242 if kind.may_admin else 4243,
        "type": "User",
        "url": f"{req.api_base}/users/{login}",
        "html_url": f"https://github.com/{login}",
    }


def repo_json(req: SimRequest, repo: Repository, kind: TokenKind) -> dict[str, Any]:
    api_url = f"{req.api_base}/repos/{repo.full_path}"
    owner = repo.namespace
    stamp = iso_seconds(repo.created_at)
    # An installation token acts as the app, not as a user with a repository role: it is
    # never `admin` here, whatever its "Webhooks" permission allows.
    admin = kind.may_admin and not kind.installation
    return {
        "id": repo.number,
        "node_id": f"R_sim{repo.number}",
        "name": repo.name,
        "full_name": repo.full_path,
        "private": False,
        "visibility": "public",
        "owner": {
            "login": owner,
            "id": 100 + (repo.number % 1000),
            "type": "Organization",
            "url": f"{req.api_base}/users/{owner}",
        },
        "html_url": f"https://github.com/{repo.full_path}",
        "description": None,
        "fork": False,
        "url": api_url,
        "hooks_url": f"{api_url}/hooks",
        "clone_url": f"https://github.com/{repo.full_path}.git",
        "default_branch": "main",
        "archived": False,
        "disabled": False,
        "created_at": stamp,
        "updated_at": stamp,
        "pushed_at": stamp,
        "permissions": {
            "admin": admin,
            "maintain": admin,
            "push": admin,
            "triage": admin,
            "pull": True,
        },
    }
