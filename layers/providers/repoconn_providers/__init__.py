"""repoconn_providers: GitHub, GitLab and Bitbucket webhook clients over one HTTP transport."""

from repoconn_providers.bitbucket import BitbucketClient
from repoconn_providers.github import GitHubClient
from repoconn_providers.gitlab import GitLabClient
from repoconn_providers.http import ProviderHttp, RetryPolicy, redact_url
from repoconn_providers.registry import client_for

__all__ = [
    "BitbucketClient",
    "GitHubClient",
    "GitLabClient",
    "ProviderHttp",
    "RetryPolicy",
    "client_for",
    "redact_url",
]
