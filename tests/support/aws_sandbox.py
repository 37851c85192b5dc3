"""The AWS sandbox: an environment in which no AWS client can reach a real account.

Fake credentials, one region, empty config files, no instance metadata, and none of the
developer's variables that would send a client elsewhere (a profile, an endpoint override, a
role to assume). Tests enter it through pytest's ``monkeypatch`` (the ``aws_env`` fixture, the
fault world); the bench sets it in its processes' environments.

No production module is imported here: the bench imports this before anything loads boto3.
"""

from __future__ import annotations

import os
from typing import Protocol

REGION = "us-east-1"
FAKE_CREDENTIAL = "testing"

# Variables of the developer's shell that would send a client somewhere else.
HOST_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_KMS",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
)


class Environment(Protocol):
    """What changes a process environment: ``pytest.MonkeyPatch`` is one."""

    def setenv(self, name: str, value: str, prepend: str | None = None) -> None: ...

    def delenv(self, name: str, raising: bool = True) -> None: ...


def sandbox_variables(
    *, credential: str = FAKE_CREDENTIAL, session_token: bool = True, region: str = REGION
) -> dict[str, str]:
    """The sandbox's variables (set them after removing ``HOST_AWS_VARIABLES``)."""
    variables = {
        "AWS_ACCESS_KEY_ID": credential,
        "AWS_SECRET_ACCESS_KEY": credential,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        # Empty config files: a developer's ~/.aws must not change what runs here.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if session_token:
        variables["AWS_SECURITY_TOKEN"] = credential
        variables["AWS_SESSION_TOKEN"] = credential
    return variables


def enter_aws_sandbox(env: Environment) -> None:
    """Put ``env`` (a monkeypatch) in the sandbox: host variables out, fake ones in."""
    for name in HOST_AWS_VARIABLES:
        env.delenv(name, raising=False)
    for name, value in sandbox_variables().items():
        env.setenv(name, value)


def function_environment(
    function_name: str, *, credential: str = FAKE_CREDENTIAL
) -> dict[str, str]:
    """What Lambda and the template give a function, with placeholder values: building a use
    case creates clients but sends nothing (cold-start and import checks)."""
    return {
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": credential,
        "AWS_SECRET_ACCESS_KEY": credential,
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "TABLE_NAME": "repository-connections",
        "KMS_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
        "EVENT_BUS_NAME": "repository-connections-events",
        "WEBHOOK_BASE_URL": "https://hooks.example.test",
        "POWERTOOLS_SERVICE_NAME": "repository-connections",
        "POWERTOOLS_METRICS_NAMESPACE": "RepositoryConnections",
        "PYTHONNOUSERSITE": "1",
    }
