"""One moto + simulator world for a whole fault module: built once, reset between cases.

Per-test moto (a fresh table, key and boto3 clients each time) costs about half a second; a
fault matrix has hundreds of cases. So the world is built once per module and every case
starts from an empty table, an empty simulator and an empty event queue.

Every operation goes through **the deployed handlers** (``functions/*/app.py`` built by
``repoconn_core.wiring`` from the environment), with faults injected at its boundaries:

- at an AWS call: the injector sits on botocore's event system of the default boto3 session
  (which wiring's KMS and EventBridge clients come from) and on every pynamodb connection;
- at a provider call: the handlers' provider clients are the real ones (over the simulator)
  wrapped in a ``FaultyWebhookClient``, put where wiring takes them from
  (``repoconn_providers.registry.client_for``) for the world's lifetime.

Connect, read and disconnect call the handlers in-process with an authorizer's claims
(``tests.support.api.Api``). Webhook deliveries come from the simulator
(``/_sim/hooks/.../deliver``: the provider's real headers and signature) to the real local
gateway (``repoconn_local.gateway.LocalGateway``, the template's routes), which invokes the
receive handler as API Gateway would; the gateway keeps what it was sent and what it answered.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import boto3
import pytest
from moto import mock_aws
from repoconn_core import wiring
from repoconn_core.cipher import SecretCipher
from repoconn_core.ports import WebhookClient
from repoconn_core.providers import ProviderEndpoint
from repoconn_core.settings import Settings
from repoconn_local.aws import template_schema
from repoconn_local.gateway.jwt_authorizer import LocalJwtAuthorizer
from repoconn_local.gateway.proxy_response import HttpResponse
from repoconn_local.gateway.server import LocalGateway
from repoconn_local.lambda_host.stream_source import DynamoDbStreamEventSource
from repoconn_local.simulator.server import ProviderSimulator
from repoconn_local.stack import LOCAL_PARAMETERS
from repoconn_providers import registry

from tests.faultkit.aws import AwsFaults
from tests.faultkit.injector import Injector
from tests.faultkit.provider import (
    FaultyWebhookClient,
    TransportFaultServer,
    TransportMode,
    broken_client,
)
from tests.integration.conftest import EventBusTap, relay_for, subscribed_queue
from tests.support.api import Api
from tests.support.aws_sandbox import REGION, enter_aws_sandbox
from tests.support.environment import simulator_settings, use_settings
from tests.support.handlers import HttpResult
from tests.support.simulator_control import SIM_PROVIDER, SimHook, SimulatorControl

TABLE = "repoconn-faults"
KEY_ALIAS = "alias/repoconn-faults"
BUS = "repoconn-faults-events"
# Short enough that a `slow-` token (the simulator waits 5 s) times out quickly.
PROVIDER_READ_TIMEOUT = 0.5


# The gateway's JWT signing secret (local-only), for tests that call it with bearer tokens.
WORLD_JWT_SECRET = "fault-world-signing-secret-of-32-bytes"


class RecordingGateway(LocalGateway):
    """The local gateway, keeping every request it was sent (headers, body) and every answer
    it gave - a GitLab delivery carries the webhook secret itself, in a header.

    ``outage`` makes it fail as our API does when it is down: ``Outage.DOWN`` answers every
    request with ``outage_status`` without invoking a function (throttled, a deploy, an
    outage); ``Outage.ANSWER_LOST`` invokes the function and answers ``outage_status`` anyway
    (API Gateway's integration timeout after the function did its work)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.responses: list[HttpResult] = []
        self.outage: Outage | None = None
        self.outage_status = 503

    def handle(self, request: Any) -> Any:
        self.requests.append((dict(request.headers), request.body or b""))
        if self.outage is Outage.DOWN:
            response = HttpResponse(self.outage_status, [("Content-Type", "application/json")])
        else:
            response = super().handle(request)
        if self.outage is Outage.ANSWER_LOST:
            response = HttpResponse(self.outage_status, [("Content-Type", "application/json")])
        self.responses.append(
            HttpResult(
                status=response.status,
                headers={name.lower(): value for name, value in response.headers},
                text=response.body.decode("utf-8", errors="replace"),
            )
        )
        return response


class Outage(Enum):
    DOWN = "down"
    ANSWER_LOST = "answer-lost"


@dataclass
class World:
    simulator: SimulatorControl
    settings: Settings
    injector: Injector
    aws_faults: AwsFaults
    dynamodb: Any
    cipher: SecretCipher
    gateway: RecordingGateway
    # The bus's tap queue behind the relay (the table's stream, as the template maps it).
    bus: EventBusTap
    template: dict[str, Any]
    # Loopback servers that break connections, by mode (provider transport faults).
    transport: dict[str, TransportFaultServer]
    api: Api = field(default_factory=Api)
    # Every webhook secret seen at the provider or handed to it (for leak scans).
    secrets_seen: set[str] = field(default_factory=set)

    @property
    def responses(self) -> list[HttpResult]:
        """Every answer a handler gave through ``api``, in order (for leak scans)."""
        return self.api.answers

    # State between cases ------------------------------------------------------------------

    def reset(self) -> None:
        """An empty simulator, a new empty table (with a new, empty stream) and event queue.

        The table is made again rather than emptied: moto deep-copies every table, its
        stream included, for each TransactWriteItems (to roll back a cancelled one), so a
        stream that grew over hundreds of cases made every later transaction slower."""
        self.simulator.reset()
        self.gateway.outage = None
        self.dynamodb.delete_table(TableName=TABLE)
        template_schema.create_tables(self.dynamodb, self.template, {"ConnectionsTable": TABLE})
        self.bus.relay = relay_for(TABLE)
        self.published(relay=False)

    def hooks(self) -> list[SimHook]:
        hooks = self.simulator.hooks()
        self.secrets_seen.update(str(hook["secret"]) for hook in hooks if hook.get("secret"))
        # A GitLab hook's Standard Webhooks signing token is a secret as well.
        self.secrets_seen.update(
            str(hook["signingToken"]) for hook in hooks if hook.get("signingToken")
        )
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
        caller = {} if claims is None else {"claims": claims}
        return self.api.connect(project, url, token, **caller)

    def delete(self, project: str) -> HttpResult:
        return self.api.disconnect(project)

    def get(self, project: str, suffix: str = "") -> HttpResult:
        return self.api.read(project, suffix)

    def deliver(
        self, service_type: str, hook_id: str, delivery_id: str | None = None
    ) -> HttpResult:
        """The simulator sends a push delivery to the hook's URL; the receiver's answer."""
        before = len(self.gateway.responses)
        answer = self.simulator.deliver(SIM_PROVIDER[service_type], hook_id, delivery_id)
        assert len(self.gateway.responses) == before + 1, answer
        return self.gateway.responses[-1]

    # The handlers' provider clients ---------------------------------------------------------

    def client_for(self, endpoint: ProviderEndpoint, settings: Settings) -> WebhookClient:
        """What the handlers get for ``endpoint``: the container's real client, failing where
        the injector says (a broken transport: the same client type over a loopback server
        that resets or never answers)."""

        def broken(mode: TransportMode) -> WebhookClient:
            return broken_client(endpoint, self.transport[mode])

        real = _REAL_CLIENT_FOR(endpoint, settings)
        return FaultyWebhookClient(real, self.injector, broken, self.secrets_seen)


_REAL_CLIENT_FOR = registry.client_for


@contextmanager
def build_world(simulator: ProviderSimulator, template: dict[str, Any]) -> Iterator[World]:
    """The world, with the process environment set as the deployed handlers read it."""
    injector = Injector()
    aws_faults = AwsFaults(injector)
    with ExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        enter_aws_sandbox(mp)
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
        template_schema.create_tables(dynamodb, template, {"ConnectionsTable": TABLE})
        key_id = template_schema.create_kms_key(kms, KEY_ALIAS, template)
        sqs = session.client("sqs")
        events = session.client("events")
        events.create_event_bus(Name=BUS)
        queue_url = subscribed_queue(
            events, sqs, bus_name=BUS, queue_name="repoconn-faults-deliveries"
        )

        # The webhook route has no authorizer; the gateway needs one for the others.
        gateway = RecordingGateway.from_template(
            parameter_overrides=LOCAL_PARAMETERS,
            authorizer=LocalJwtAuthorizer(secret=WORLD_JWT_SECRET),
            access_log=io.StringIO(),
        )
        stack.callback(gateway.stop)
        gateway.start()
        transport = {
            mode: stack.enter_context(_running(TransportFaultServer(mode)))
            for mode in ("reset", "hang")
        }
        settings = simulator_settings(
            simulator,
            table_name=TABLE,
            kms_key_id=key_id,
            aws_region=REGION,
            webhook_base_url=gateway.base_url,
            provider_read_timeout=PROVIDER_READ_TIMEOUT,
            event_bus_name=BUS,
        )
        world = World(
            simulator=SimulatorControl(simulator.base_url),
            settings=settings,
            injector=injector,
            aws_faults=aws_faults,
            dynamodb=dynamodb,
            cipher=SecretCipher(kms, key_id),
            gateway=gateway,
            bus=EventBusTap(sqs, queue_url, relay_for(TABLE)),
            template=template,
            transport=transport,
        )
        # Where wiring takes the handlers' provider clients from (until the composition
        # root takes its parts as arguments: issue 12, point 4).
        mp.setattr(registry, "client_for", world.client_for)
        use_settings(mp, settings)
        stack.callback(wiring.reset)
        yield world


@contextmanager
def _running(server: Any) -> Iterator[Any]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
