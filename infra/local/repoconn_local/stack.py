"""The whole local stack in one process: embedded AWS, the provider simulator, the gateway,
and the table's stream event source.

Start order matters: AWS and the simulator first (their URLs go into the environment), then the
gateway binds its port (``WEBHOOK_BASE_URL`` needs it), then the environment the functions read
is set and the service's cached wiring is reset, and only then do the stream event source poll
and the gateway serve — so the first request's (and the first batch's) cold start imports every
handler against the local environment.

The stream event source (lambda_host.stream_source) stands in for Lambda's DynamoDB event
source mapping: the delivery records the receiver writes reach ``PublishDeliveriesFunction``
asynchronously, as in AWS, typically within a fraction of a second. It stops before embedded
AWS does.

The environment is process-wide: one LocalStack per process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from repoconn_core import wiring

from repoconn_local.aws.embedded import EmbeddedAws, EmbeddedAwsResources
from repoconn_local.gateway.jwt_authorizer import LocalJwtAuthorizer
from repoconn_local.gateway.server import LocalGateway
from repoconn_local.lambda_host.stream_source import DynamoDbStreamEventSource
from repoconn_local.local_ports import DEFAULT_AWS_PORT, DEFAULT_PORT, DEFAULT_SIM_PORT, LOCAL_HOST
from repoconn_local.simulator.server import ProviderSimulator

# Template parameters without a Default that the local gateway needs: the frontend's dev
# server origins for CORS (Vite's default port). Override with --parameter-overrides.
LOCAL_PARAMETERS = {"CorsAllowOrigin": "http://localhost:5173,http://127.0.0.1:5173"}
SERVICE_ENVIRONMENT = {
    # The simulator listens on loopback, which the service refuses for provider APIs unless told.
    "ALLOW_LOOPBACK_PROVIDER_API": "true",
    "POWERTOOLS_SERVICE_NAME": "repository-connections",
    "POWERTOOLS_METRICS_NAMESPACE": "RepositoryConnectionsLocal",
}
# A real session token or profile next to the fake keys would only confuse a reader of env.
_REAL_CREDENTIAL_HINTS = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE")


@dataclass(frozen=True)
class LocalStackUrls:
    api: str
    simulator: str
    aws: str


class LocalStack:
    def __init__(
        self,
        *,
        port: int = DEFAULT_PORT,
        sim_port: int = DEFAULT_SIM_PORT,
        aws_port: int = DEFAULT_AWS_PORT,
        template_path: str | Path | None = None,
        parameter_overrides: Mapping[str, str] | None = None,
        access_log: TextIO | None = None,
    ) -> None:
        self._port = port
        self._sim_port = sim_port
        self._template_path = template_path
        self._parameters = {**LOCAL_PARAMETERS, **(parameter_overrides or {})}
        self._access_log = access_log
        self.aws = EmbeddedAws(template_path=template_path, host=LOCAL_HOST, port=aws_port)
        self.simulator = ProviderSimulator()
        self.gateway: LocalGateway | None = None
        # Tests running the stack in-process call its drain() instead of waiting.
        self.stream_events: DynamoDbStreamEventSource | None = None
        self.urls: LocalStackUrls | None = None
        # Stop callables of the parts that started, latest first on the way down.
        self._running: list[Callable[[], None]] = []

    def start(self) -> LocalStackUrls:
        try:
            resources = self.aws.start()
            self._running.append(self.aws.stop)
            simulator_url = self.simulator.start(host=LOCAL_HOST, port=self._sim_port)
            self._running.append(self.simulator.stop)
            gateway = LocalGateway.from_template(
                self._template_path,
                parameter_overrides=self._parameters,
                authorizer=LocalJwtAuthorizer.from_env(),
                host=LOCAL_HOST,
                port=self._port,
                region=resources.region,
                access_log=self._access_log,
            )
            self._running.append(gateway.stop)
            self.gateway = gateway
            # The handlers run in this process and read os.environ, as in a Lambda sandbox.
            os.environ.update(self.environment(resources, gateway.base_url))
            for name in _REAL_CREDENTIAL_HINTS:
                os.environ.pop(name, None)
            wiring.reset()
            stream_events = DynamoDbStreamEventSource.from_template(
                resources, self._template_path, parameter_overrides=self._parameters
            )
            stream_events.start()
            self._running.append(stream_events.stop)
            self.stream_events = stream_events
            api_url = gateway.start()
        except BaseException:
            self.stop()
            raise
        self.urls = LocalStackUrls(api=api_url, simulator=simulator_url, aws=resources.endpoint_url)
        return self.urls

    def environment(self, resources: EmbeddedAwsResources, api_url: str) -> dict[str, str]:
        """Every variable the functions read in a local run (names: Settings' fields)."""
        return {
            **resources.environment(),
            "WEBHOOK_BASE_URL": api_url,
            "GITHUB_API_URL": self.simulator.github_api_url,
            "GITLAB_API_URL": self.simulator.gitlab_api_url,
            "BITBUCKET_API_URL": self.simulator.bitbucket_api_url,
            **SERVICE_ENVIRONMENT,
        }

    def stop(self) -> None:
        """Stop whatever started, newest first; safe to call more than once."""
        while self._running:
            self._running.pop()()
        self.gateway = None
        self.stream_events = None

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
