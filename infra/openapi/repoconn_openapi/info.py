"""What each document says about itself: its tags, licence, contact and servers."""

from __future__ import annotations

from typing import Any

from repoconn_local.local_ports import DEFAULT_PORT, LOCAL_HOST

TAGS = {
    "connections": "A project's repository connection: connect, read, list deliveries, disconnect.",
    "webhooks": "Providers' webhook deliveries, verified by their signature (no JWT).",
}
# The repository has no LICENSE file: the document says so rather than invent a licence.
LICENSE = {"name": "Proprietary: no licence granted", "identifier": "LicenseRef-Proprietary"}
CONTACT = {"name": "Repository connections maintainers (see README.md)"}


def servers(api: str) -> list[dict[str, Any]]:
    """The local stack (every API on one port) and the deployed API's execute-api host."""
    return [
        {"url": f"http://{LOCAL_HOST}:{DEFAULT_PORT}", "description": "local stack (make dev)"},
        {
            "url": "https://{apiId}.execute-api.{region}.amazonaws.com",
            "description": f"deployed {api} (see the stack's outputs)",
            "variables": {
                "apiId": {"default": "abcdef1234", "description": f"{api}'s id"},
                "region": {"default": "us-east-1"},
            },
        },
    ]
