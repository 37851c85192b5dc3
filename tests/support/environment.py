"""Settings → environment: the handlers read their settings from the process environment,
as a deployed function does, so a test writes a ``Settings`` there and forgets every part
the composition root (``repoconn_core.wiring``) built from the previous one."""

from __future__ import annotations

import json
from typing import Any

from repoconn_core import wiring
from repoconn_core.settings import Settings
from repoconn_local.simulator.server import ProviderSimulator

from tests.support.aws_sandbox import Environment

# Powertools reads these when a handler module is first imported (Metrics() keeps the
# namespace it saw then).
POWERTOOLS_VARIABLES = {
    "POWERTOOLS_SERVICE_NAME": "repository-connections",
    "POWERTOOLS_METRICS_NAMESPACE": "RepositoryConnectionsTest",
}


def settings_variables(settings: Settings) -> dict[str, str]:
    """``settings`` as the variables ``Settings.from_env`` reads back (unset ones left out)."""
    return {
        name.upper(): value if isinstance(value, str) else json.dumps(value)
        for name, value in settings.model_dump(mode="json").items()
        if value is not None
    }


def use_settings(env: Environment, settings: Settings) -> None:
    """The handlers run with ``settings`` from now on (``env`` undoes it: a monkeypatch)."""
    for name, value in {**settings_variables(settings), **POWERTOOLS_VARIABLES}.items():
        env.setenv(name, value)
    wiring.reset()


def simulator_settings(simulator: ProviderSimulator, **values: Any) -> Settings:
    """Settings whose provider APIs are ``simulator``'s (loopback allowed, no retries unless
    ``values`` say otherwise), with ``values`` on top."""
    return Settings(
        **{
            "github_api_url": simulator.github_api_url,
            "gitlab_api_url": simulator.gitlab_api_url,
            "bitbucket_api_url": simulator.bitbucket_api_url,
            "allow_loopback_provider_api": True,
            "provider_max_retries": 0,
            **values,
        }
    )
