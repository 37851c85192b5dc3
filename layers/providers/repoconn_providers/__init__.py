"""repoconn_providers: GitHub, GitLab and Bitbucket webhook clients over one HTTP transport.

The package's names are loaded on first use (PEP 562), not when the package is imported: the
webhook receiver imports ``repoconn_providers.signatures`` (standard library only), and an eager
import of the clients here would drag ``requests`` into its cold start for nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from repoconn_providers.bitbucket import BitbucketClient
    from repoconn_providers.github import GitHubClient
    from repoconn_providers.gitlab import GitLabClient
    from repoconn_providers.http import ProviderHttp, RetryPolicy, redact_url
    from repoconn_providers.registry import client_for

# Public name → the submodule that defines it.
_EXPORTS = {
    "BitbucketClient": "repoconn_providers.bitbucket",
    "GitHubClient": "repoconn_providers.github",
    "GitLabClient": "repoconn_providers.gitlab",
    "ProviderHttp": "repoconn_providers.http",
    "RetryPolicy": "repoconn_providers.http",
    "redact_url": "repoconn_providers.http",
    "client_for": "repoconn_providers.registry",
}

__all__ = [
    "BitbucketClient",
    "GitHubClient",
    "GitLabClient",
    "ProviderHttp",
    "RetryPolicy",
    "client_for",
    "redact_url",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
