"""One moto + simulator world for a whole fault module: built once, reset between cases.

Per-test moto (a fresh table, key and boto3 clients each time) costs about half a second; a
fault matrix has hundreds of cases. So the world is built once per module and every case
starts from an empty table, an empty simulator and an empty event queue.

Two ways in, sharing the same table, key, bus and injector:

- **the deployed handlers** (``functions/*/app.py`` built by ``repoconn_core.wiring`` from the
  environment), for faults at an AWS call: the injector sits on botocore's event system of the
  default boto3 session (which wiring's KMS and EventBridge clients come from) and on every
  pynamodb connection;
- **the use cases** built here with a ``FaultyWebhookClient`` around the real provider
  clients, for faults at a provider call; their answers are rendered by a resolver carrying the
  handlers' one error map (``http_resolver``), so statuses, codes and Retry-After are what the
  handlers would answer.

Webhook deliveries come from the simulator (``/_sim/hooks/.../deliver``: the provider's real
headers and signature) to ``WebhookIngress``, which hands them to the receive handler as API
Gateway would.
"""

from __future__ import annotations

import importlib
import json
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
import requests
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from moto import mock_aws
from pydantic import SecretStr
from repoconn_core import wiring
from repoconn_core.cipher import SecretCipher
from repoconn_core.connect import ConnectRepository
from repoconn_core.disconnect import DisconnectRepository
from repoconn_core.hooks import ProviderAccess
from repoconn_core.http_api import http_resolver
from repoconn_core.identity import principal_from_claims
from repoconn_core.leases import ProjectLeases
from repoconn_core.models import ConnectRequest
from repoconn_core.ports import WebhookClient
from repoconn_core.providers import ProviderEndpoint
from repoconn_core.settings import Settings
from repoconn_core.storage.connection_store import ConnectionStore
from repoconn_core.storage.lease_table import LeaseTable
from repoconn_local import template_schema
from repoconn_local.events import http_api_event
from repoconn_local.lambda_runtime import LocalLambdaContext
from repoconn_local.simulator import ProviderSimulator
from repoconn_local.stream_relay import DynamoDbStreamEventSource
from repoconn_providers.registry import build_client, build_http

from tests.faultkit.aws import AwsFaults
from tests.faultkit.injector import Injector
from tests.faultkit.provider import (
    FaultyWebhookClient,
    TransportFaultServer,
    TransportMode,
    broken_client,
)
from tests.integration.conftest import (
    Api,
    EventBusTap,
    HttpResult,
    admin,
    member,
    relay_for,
    subscribed_queue,
)

REGION = "us-east-1"
TABLE = "repoconn-faults"
KEY_ALIAS = "alias/repoconn-faults"
BUS = "repoconn-faults-events"
SERVICE_NAME = "repository-connections"
# Short enough that a `slow-` token (the simulator waits 5 s) times out quickly.
PROVIDER_READ_TIMEOUT = 0.5

_HOST_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_KMS",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)
_SIM_PROVIDER = {"GitHub": "github", "GitLab": "gitlab", "Bitbucket": "bitbucket"}


class WebhookIngress:
    """``POST {url}/webhooks/{id}`` → the receive_webhook handler, in-process, as API Gateway
    invokes it; keeps every answer (status, headers, body) for the test to read."""

    def __init__(self) -> None:
        self.responses: list[HttpResult] = []
        # What the provider sent (headers, body): a GitLab delivery carries the secret itself.
        self.requests: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                outer.requests.append((dict(self.headers.items()), body))
                parts = self.path.split("?", 1)[0].strip("/").split("/")
                if len(parts) != 2 or parts[0] != "webhooks":
                    self._answer(HttpResult(404, {}, ""))
                    return
                event = http_api_event(
                    "POST",
                    f"/webhooks/{parts[1]}",
                    route_key="POST /webhooks/{connectionId}",
                    path_parameters={"connectionId": parts[1]},
                    headers=dict(self.headers.items()),
                    body=body,
                )
                handler = importlib.import_module("functions.receive_webhook.app").lambda_handler
                raw = handler(event, LocalLambdaContext(function_name="receive_webhook"))
                result = HttpResult(
                    status=raw["statusCode"],
                    headers={k.lower(): v for k, v in (raw.get("headers") or {}).items()},
                    text=raw.get("body") or "",
                )
                outer.responses.append(result)
                self._answer(result)

            def _answer(self, result: HttpResult) -> None:
                data = result.text.encode()
                self.send_response(result.status)
                for name, value in result.headers.items():
                    if name not in {"content-length", "connection"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        # Bound to 127.0.0.1 above; the port is the kernel's choice.
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> WebhookIngress:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class Harness:
    """A resolver with the handlers' error map, around whatever the test runs: a use case's
    typed error becomes the exact problem response a handler would give (500 for anything
    that is not a DomainError)."""

    def __init__(self) -> None:
        self._app = http_resolver(Logger(service=SERVICE_NAME))
        self._action: Callable[[], tuple[int, Any]] | None = None

        @self._app.post("/fault-harness")
        def run() -> Response[str]:
            assert self._action is not None
            status, body = self._action()
            return Response(
                status_code=status,
                content_type=content_types.APPLICATION_JSON,
                body=json.dumps(body),
            )

    def call(self, action: Callable[[], tuple[int, Any]]) -> HttpResult:
        self._action = action
        try:
            event = http_api_event("POST", "/fault-harness", route_key="POST /fault-harness")
            context: Any = LocalLambdaContext(function_name="fault_harness")
            raw = self._app.resolve(event, context)
        finally:
            self._action = None
        return HttpResult(
            status=raw["statusCode"],
            headers={k.lower(): v for k, v in (raw.get("headers") or {}).items()},
            text=raw.get("body") or "",
        )


@dataclass
class World:
    simulator: ProviderSimulator
    settings: Settings
    injector: Injector
    aws_faults: AwsFaults
    dynamodb: Any
    kms: Any
    store: ConnectionStore
    cipher: SecretCipher
    ingress: WebhookIngress
    transport: dict[str, TransportFaultServer]
    # The bus's tap queue behind the relay (the table's stream, as the template maps it).
    bus: EventBusTap
    template: dict[str, Any]
    api: Api = field(default_factory=Api)
    harness: Harness = field(default_factory=Harness)
    # Every answer the world got from a handler or the harness, in order (for leak scans).
    responses: list[HttpResult] = field(default_factory=list)
    # Every webhook secret seen at the provider or handed to it (for leak scans).
    secrets_seen: set[str] = field(default_factory=set)

    # State between cases ------------------------------------------------------------------

    def reset(self) -> None:
        """An empty simulator, a new empty table (with a new, empty stream) and event queue.

        The table is made again rather than emptied: moto deep-copies every table, its
        stream included, for each TransactWriteItems (to roll back a cancelled one), so a
        stream that grew over hundreds of cases made every later transaction slower."""
        requests.post(f"{self.simulator.base_url}/_sim/reset", timeout=5).raise_for_status()
        self.dynamodb.delete_table(TableName=TABLE)
        template_schema.create_tables(self.dynamodb, self.template, {"ConnectionsTable": TABLE})
        self.bus.relay = relay_for(TABLE)
        self.published(relay=False)

    def hooks(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.simulator.base_url}/_sim/hooks", timeout=5)
        response.raise_for_status()
        hooks = list(response.json()["hooks"])
        self.secrets_seen.update(str(hook["secret"]) for hook in hooks if hook.get("secret"))
        return hooks

    def items(self) -> list[dict[str, Any]]:
        """Every item in the table, raw (attribute-value form), consistent."""
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": TABLE, "ConsistentRead": True}
        while True:
            page = self.dynamodb.scan(**kwargs)
            found.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def index_items(self, project_id: str) -> list[dict[str, Any]]:
        """What the projectId-index holds for a project (what the read routes see)."""
        return list(
            self.dynamodb.query(
                TableName=TABLE,
                IndexName="projectId-index",
                KeyConditionExpression="projectId = :p",
                ExpressionAttributeValues={":p": {"S": project_id}},
            )["Items"]
        )

    @property
    def relay(self) -> DynamoDbStreamEventSource:
        return self.bus.relay

    def published(self, *, relay: bool = True) -> list[dict[str, Any]]:
        """Every EventBridge event delivered to the tap queue since the last call; first, with
        ``relay``, the relay is handed every delivery recorded so far (the stream, drained)."""
        return self.bus.events(relay=relay)

    # Calls through the deployed handlers -------------------------------------------------

    def put(
        self, project: str, url: str, token: str, claims: dict[str, object] | None = None
    ) -> HttpResult:
        return self._kept(
            self.api.call(
                "PUT",
                project,
                body={"repositoryUrl": url, "accessToken": token},
                claims=admin(project) if claims is None else claims,
            )
        )

    def delete(self, project: str) -> HttpResult:
        return self._kept(self.api.call("DELETE", project, claims=admin(project)))

    def get(self, project: str, suffix: str = "") -> HttpResult:
        return self._kept(self.api.call("GET", project, suffix, claims=member(project)))

    def _kept(self, response: HttpResult) -> HttpResult:
        self.responses.append(response)
        return response

    def deliver(
        self, service_type: str, hook_id: str, delivery_id: str | None = None
    ) -> HttpResult:
        """The simulator sends a push delivery to the hook's URL; the receiver's answer."""
        before = len(self.ingress.responses)
        body: dict[str, Any] = {"event": "push", "payload": {"ref": "refs/heads/main"}}
        if delivery_id is not None:
            body["deliveryId"] = delivery_id
        provider = _SIM_PROVIDER[service_type]
        answer = requests.post(
            f"{self.simulator.base_url}/_sim/hooks/{provider}/{hook_id}/deliver",
            json=body,
            timeout=30,
        )
        answer.raise_for_status()
        assert len(self.ingress.responses) == before + 1, answer.text
        return self.ingress.responses[-1]

    # Use cases with a fault-injecting provider client -------------------------------------

    def client_for(self, endpoint: ProviderEndpoint) -> WebhookClient:
        def broken(mode: TransportMode) -> WebhookClient:
            return broken_client(endpoint, self.transport[mode])

        real = build_client(endpoint, build_http(endpoint, self.settings))
        return FaultyWebhookClient(real, self.injector, broken, self.secrets_seen)

    def connect_use_case(self) -> ConnectRepository:
        return ConnectRepository(
            store=self.store,
            cipher=self.cipher,
            providers=ProviderAccess.from_settings(self.settings, self.client_for),
            leases=ProjectLeases(LeaseTable(TABLE, REGION)),
        )

    def disconnect_use_case(self) -> DisconnectRepository:
        return DisconnectRepository(
            store=self.store,
            cipher=self.cipher,
            providers=ProviderAccess.from_settings(self.settings, self.client_for),
            leases=ProjectLeases(LeaseTable(TABLE, REGION)),
        )

    def put_via_use_case(self, project: str, url: str, token: str) -> HttpResult:
        connect = self.connect_use_case()

        def action() -> tuple[int, Any]:
            request = ConnectRequest(repositoryUrl=url, accessToken=SecretStr(token))
            result = connect(principal(project), project, request)
            summary = result.connection
            return (201 if result.created else 200), {
                "id": summary.id,
                "repositoryUrl": summary.repository_url,
            }

        return self._kept(self.harness.call(action))

    def delete_via_use_case(self, project: str) -> HttpResult:
        disconnect = self.disconnect_use_case()

        def action() -> tuple[int, Any]:
            result = disconnect(principal(project), project)
            return 200, {"deleted": True, "webhookRemoved": result.webhook_removed}

        return self._kept(self.harness.call(action))


def principal(project: str) -> Any:
    return principal_from_claims(
        admin(project),
        groups_claim="cognito:groups",
        projects_claim="custom:projects",
        admin_group="Admin",
    )


@contextmanager
def build_world(simulator: ProviderSimulator, template: dict[str, Any]) -> Iterator[World]:
    """The world, with the process environment set as the deployed handlers read it."""
    injector = Injector()
    aws_faults = AwsFaults(injector)
    with ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        config_dir = stack.enter_context(tempfile.TemporaryDirectory())
        for name in _HOST_AWS_VARIABLES:
            mp.delenv(name, raising=False)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.setenv(name, "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_REGION", REGION)
        mp.setenv("AWS_CONFIG_FILE", f"{config_dir}/config")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", f"{config_dir}/credentials")
        stack.callback(aws_faults.close)
        stack.enter_context(mock_aws())
        # A default session of our own (what boto3.setup_default_session does), set inside
        # mock_aws (which swaps DEFAULT_SESSION itself) and restored before it stops: the
        # handlers' boto3 clients are created from it and so carry the injector's handlers.
        session = boto3.session.Session(region_name=REGION)
        stack.enter_context(pytest.MonkeyPatch.context()).setattr(boto3, "DEFAULT_SESSION", session)
        aws_faults.attach_session(session)
        stack.enter_context(aws_faults.watch_pynamodb())

        dynamodb = session.client("dynamodb")
        kms = session.client("kms")
        events = session.client("events")
        sqs = session.client("sqs")
        template_schema.create_tables(dynamodb, template, {"ConnectionsTable": TABLE})
        key_id = template_schema.create_kms_key(kms, KEY_ALIAS, template)
        queue_url = subscribed_queue(
            events, sqs, bus_name=BUS, queue_name="repoconn-faults-deliveries"
        )

        ingress = stack.enter_context(_running(WebhookIngress()))
        transport = {
            "reset": stack.enter_context(_running(TransportFaultServer("reset"))),
            "hang": stack.enter_context(_running(TransportFaultServer("hang"))),
        }
        settings = Settings(
            table_name=TABLE,
            kms_key_id=key_id,
            aws_region=REGION,
            webhook_base_url=ingress.url,
            github_api_url=simulator.github_api_url,
            gitlab_api_url=simulator.gitlab_api_url,
            bitbucket_api_url=simulator.bitbucket_api_url,
            allow_loopback_provider_api=True,
            provider_max_retries=0,
            provider_read_timeout=PROVIDER_READ_TIMEOUT,
            event_bus_name=BUS,
        )
        for name, value in settings.model_dump(mode="json").items():
            if value is not None:
                mp.setenv(name.upper(), value if isinstance(value, str) else json.dumps(value))
        mp.setenv("POWERTOOLS_SERVICE_NAME", SERVICE_NAME)
        mp.setenv("POWERTOOLS_METRICS_NAMESPACE", "RepositoryConnectionsTest")
        wiring.reset()
        stack.callback(wiring.reset)
        yield World(
            simulator=simulator,
            settings=settings,
            injector=injector,
            aws_faults=aws_faults,
            dynamodb=dynamodb,
            kms=kms,
            store=ConnectionStore(TABLE, REGION),
            cipher=SecretCipher(kms, key_id),
            ingress=ingress,
            transport=transport,
            bus=EventBusTap(sqs, queue_url, relay_for(TABLE)),
            template=template,
        )


@contextmanager
def _running(server: Any) -> Iterator[Any]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
