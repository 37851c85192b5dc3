"""Races: many requests at once through the real use cases, on moto and on Amazon DynamoDB Local.

Each racer stands for one Lambda container: its own use case and provider HTTP session, built
as wiring builds them (connect and disconnect hold the project lease); they share the table,
the store's clients, the KMS key and the provider simulator. A ``threading.Barrier`` releases
all racers together. No sleeps: whatever order the scheduler picks, the end state must satisfy
``consistent_state`` -

- every project pointer names an existing connection of that project with that id, every
  connection has the project pointer and the connection pointer naming it (so a project has
  at most one connection and a repository belongs to at most one project), nothing orphaned,
  no lease left behind;
- the provider has exactly the hooks the table knows: one per connection, with the
  connection's callback URL and the secret stored for it (a hook nobody stores, or a stored
  secret the hook does not sign with, is a broken connection even if the table looks fine).

The last section races the store's transactions directly, without the lease. DynamoDB Local is
the reference backend; on moto each DynamoDB request is made atomic by a lock (see
``AtomicMotoRequests``). Each race prints one line of counts (``pytest -s``).
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from pydantic import SecretStr
from pynamodb.signals import pre_dynamodb_send
from repoconn_core.cipher import SecretCipher
from repoconn_core.connect import ConnectRepository
from repoconn_core.connection_secrets import ConnectionSecrets
from repoconn_core.disconnect import DisconnectRepository
from repoconn_core.errors import DomainError
from repoconn_core.hooks import ProviderAccess, callback_url_for
from repoconn_core.leases import ProjectLeases
from repoconn_core.models import ConnectRequest
from repoconn_core.ports import WebhookClient
from repoconn_core.providers import ProviderEndpoint
from repoconn_core.receive import ConnectionCache, ReceiveWebhook
from repoconn_core.records import StoredConnection
from repoconn_core.repository_url import parse_repository_url
from repoconn_core.settings import Settings
from repoconn_core.storage.connection_store import ConnectionStore
from repoconn_core.storage.delivery_log import DeliveryLog
from repoconn_core.storage.lease_table import LeaseTable
from repoconn_local.aws import template_schema
from repoconn_local.aws.dynamodb_local import local_client
from repoconn_local.simulator.server import ProviderSimulator
from repoconn_providers import signatures
from repoconn_providers.http import ProviderHttp
from repoconn_providers.registry import build_client, build_http

from tests.conftest import AWS_REGION
from tests.integration.conftest import WEBHOOK_BASE_URL
from tests.integration.test_webhook_receiver import MAX_BODY
from tests.support.aws_sandbox import enter_aws_sandbox
from tests.support.deliveries import listed_secret, signed
from tests.support.environment import simulator_settings
from tests.support.records import stored_connection
from tests.support.simulator_control import SIM_PROVIDER, SimulatorControl
from tests.support.use_cases import UseCases, admin_principal

RACERS = 20
BARRIER_TIMEOUT = 30.0
TOKEN = SecretStr("tok-good-races-0123456789")
_deserialize = TypeDeserializer().deserialize


# Backends ----------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    table_name: str
    dynamodb: Any  # boto3 client, for raw scans and GSI queries
    cipher: SecretCipher
    store: ConnectionStore
    deliveries: DeliveryLog
    leases: LeaseTable

    def items(self) -> list[dict[str, Any]]:
        """Every item of the table (consistent scan, all pages)."""
        found: list[dict[str, Any]] = []
        for page in self.dynamodb.get_paginator("scan").paginate(
            TableName=self.table_name, ConsistentRead=True
        ):
            found += [
                {name: _deserialize(value) for name, value in item.items()}
                for item in page["Items"]
            ]
        return found

    def index_ids(self, project_id: str) -> list[str]:
        """Connection ids the projectId-index shows for the project (eventually consistent)."""
        response = self.dynamodb.query(
            TableName=self.table_name,
            IndexName="projectId-index",
            KeyConditionExpression="projectId = :p",
            ExpressionAttributeValues={":p": {"S": project_id}},
        )
        return [item["id"]["S"] for item in response["Items"]]


class AtomicMotoRequests:
    """One lock around every DynamoDB request pynamodb sends to moto.

    moto's ``transact_write_items`` is not safe under threads (moto 5.2.5,
    moto/dynamodb/models/__init__.py): it deep-copies each table it touches as a rollback
    snapshot while other threads write to it ("dictionary changed size during iteration"),
    checks and applies the items one by one, and a cancelled transaction restores the whole
    snapshot - erasing what other threads committed in the meantime. DynamoDB applies each
    request atomically; the lock gives moto that property, so the races still interleave
    requests in any order, but never the inside of one request. DynamoDB Local needs no lock.

    Attached through botocore's ``before-call`` / ``after-call`` / ``after-call-error`` events
    of each pynamodb client (announced by pynamodb's ``pre_dynamodb_send`` signal), and
    detached after the test.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._emitters: list[Any] = []
        # Whether this thread's request holds the lock: a request already under way when its
        # client's events were registered (by another thread's first call on a shared client)
        # gets an after-call without a before-call, and must not release someone else's hold.
        self._held = threading.local()

    def on_send(self, sender: Any, **_: Any) -> None:
        events = sender.client.meta.events
        if any(emitter is events for emitter in self._emitters):
            return
        self._emitters.append(events)
        events.register("before-call.dynamodb", self._enter, unique_id="races-lock-enter")
        events.register("after-call.dynamodb", self._leave, unique_id="races-lock-leave")
        events.register("after-call-error.dynamodb", self._leave, unique_id="races-lock-error")

    def detach(self) -> None:
        for events in self._emitters:
            events.unregister("before-call.dynamodb", unique_id="races-lock-enter")
            events.unregister("after-call.dynamodb", unique_id="races-lock-leave")
            events.unregister("after-call-error.dynamodb", unique_id="races-lock-error")

    def _enter(self, **_: Any) -> None:
        self._lock.acquire()
        self._held.value = True

    def _leave(self, **_: Any) -> None:
        if getattr(self._held, "value", False):
            self._held.value = False
            self._lock.release()


@pytest.fixture
def atomic_moto_requests() -> Iterator[None]:
    lock = AtomicMotoRequests()
    with pre_dynamodb_send.connected_to(lock.on_send):
        yield
    lock.detach()


@pytest.fixture(scope="module", params=["moto", "dynamodb-local"])
def backend_name(request: pytest.FixtureRequest) -> str:
    """Module-scoped, so pytest runs all moto races, then all DynamoDB Local races."""
    return str(request.param)


@pytest.fixture
def backend(backend_name: str, request: pytest.FixtureRequest) -> Backend:
    if backend_name == "moto":
        request.getfixturevalue("atomic_moto_requests")
        store = request.getfixturevalue("store")
        leases = request.getfixturevalue("lease_table")
        warm_up(store, leases)
        return Backend(
            name="moto",
            table_name=request.getfixturevalue("connections_table"),
            dynamodb=request.getfixturevalue("dynamodb_client"),
            cipher=request.getfixturevalue("cipher"),
            store=store,
            deliveries=request.getfixturevalue("delivery_log"),
            leases=leases,
        )
    request.getfixturevalue("aws_env")
    table: LocalTable = request.getfixturevalue("local_table")
    table.empty()
    kms, key_id = request.getfixturevalue("kms_server_key")
    return Backend(
        name="dynamodb-local",
        table_name=table.name,
        dynamodb=table.client,
        cipher=SecretCipher(kms, key_id),
        store=table.store,
        deliveries=table.deliveries,
        leases=table.leases,
    )


@dataclass(frozen=True)
class LocalTable:
    name: str
    client: Any
    store: ConnectionStore
    deliveries: DeliveryLog
    leases: LeaseTable

    def empty(self) -> None:
        """Delete every item, so each race starts from an empty table."""
        for page in self.client.get_paginator("scan").paginate(
            TableName=self.name, ConsistentRead=True, ProjectionExpression="repositoryUrl"
        ):
            for item in page["Items"]:
                self.client.delete_item(TableName=self.name, Key=item)


@pytest.fixture(scope="module")
def local_table(dynamodb_local: str, template: dict[str, Any]) -> Iterator[LocalTable]:
    """One DynamoDB Local table and one warm store for all DynamoDB Local races of this
    module (a table and six botocore clients per test would cost more than the races)."""
    client = local_client(dynamodb_local)
    name = f"repoconn-races-{uuid.uuid4().hex[:12]}"
    template_schema.create_tables(client, template, {"ConnectionsTable": name})
    store = ConnectionStore(name, AWS_REGION, host=dynamodb_local)
    deliveries = DeliveryLog(name, AWS_REGION, host=dynamodb_local)
    leases = LeaseTable(name, AWS_REGION, host=dynamodb_local)
    with pytest.MonkeyPatch.context() as env:
        # pynamodb's clients take their credentials when they are built, here: fake ones.
        enter_aws_sandbox(env)
        warm_up(store, leases)
    yield LocalTable(name, client, store, deliveries, leases)
    client.delete_table(TableName=name)


def warm_up(store: ConnectionStore, leases: LeaseTable) -> None:
    """Build the store's clients now, as a warm container has them, rather than from twenty
    threads inside the race: pynamodb gives each model class (item, project pointer, id
    pointer, delivery record, lease) a botocore client of its own, plus the store's
    transaction connection - each a fraction of a second of CPU to create. (The delivery
    record's is made by the first delivery: every call of it writes.)"""
    nothing = stored("warm-up", "https://github.com/acme/warm-up")
    assert store.get(nothing.repository_url) is None
    assert store.current_for_project(nothing.project_id) is None
    assert store.get_by_id(nothing.id) is None
    assert store.connections_at([nothing.repository_url]) == {}
    leases.release_lease(nothing.project_id, "nobody")
    assert store.delete(nothing) is False


@pytest.fixture
def settings(sim: ProviderSimulator) -> Settings:
    # Not conftest's app_settings: that one pulls in moto's table and key, which must stay
    # inactive while a race runs on DynamoDB Local.
    return simulator_settings(sim, webhook_base_url=WEBHOOK_BASE_URL)


class Containers:
    """Builds one racer's use case: its own provider HTTP session, as a container would have.

    The store and cipher are shared: their boto3/botocore clients are thread-safe, and a
    botocore client per racer would spend the race loading service models (a container pays
    that once, at cold start, not inside the race window).
    """

    # As wiring builds them: connect and disconnect hold the project's lease.
    def __init__(self, backend: Backend, settings: Settings) -> None:
        self._backend = backend
        self._settings = settings
        self._sessions: list[ProviderHttp] = []
        self._lock = threading.Lock()

    def connect(self) -> ConnectRepository:
        return self._use_cases().connect()

    def disconnect(self) -> DisconnectRepository:
        return self._use_cases().disconnect()

    def _use_cases(self) -> UseCases:
        backend = self._backend
        return UseCases(
            self._settings,
            backend.store,
            backend.cipher,
            self._clients(),
            ProjectLeases(backend.leases),
        )

    def receive(self) -> ReceiveWebhook:
        return ReceiveWebhook(
            connections=self._backend.store,
            deliveries=self._backend.deliveries,
            cipher=self._backend.cipher,
            verify=signatures.verify_delivery,
            identify=signatures.identify,
            cache=ConnectionCache(timedelta(minutes=5)),
            max_body_bytes=MAX_BODY,
        )

    def client(self, endpoint: ProviderEndpoint) -> WebhookClient:
        return self._clients()(endpoint)

    def close(self) -> None:
        for session in self._sessions:
            session.close()

    def _clients(self) -> Callable[[ProviderEndpoint], WebhookClient]:
        clients: dict[ProviderEndpoint, WebhookClient] = {}

        def client_for(endpoint: ProviderEndpoint) -> WebhookClient:
            if endpoint not in clients:
                http = build_http(endpoint, self._settings)
                with self._lock:
                    self._sessions.append(http)
                clients[endpoint] = build_client(endpoint, http)
            return clients[endpoint]

        return client_for


@pytest.fixture
def containers(backend: Backend, settings: Settings) -> Iterator[Containers]:
    built = Containers(backend, settings)
    yield built
    built.close()


# Racing ------------------------------------------------------------------------------------


def race(calls: list[Callable[[], str]]) -> list[str]:
    """Run every call in its own thread, all released together; each call's outcome."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], str]) -> str:
        barrier.wait(timeout=BARRIER_TIMEOUT)
        try:
            return call()
        except DomainError as error:
            return f"{error.status} {error.code}"

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def connecting(containers: Containers, project_id: str, url: str) -> Callable[[], str]:
    """A racer that connects ``project_id`` to ``url``: "201", "200" or "<status> <code>"."""
    use_case = containers.connect()
    request = ConnectRequest(repositoryUrl=url, accessToken=TOKEN)

    def call() -> str:
        result = use_case(admin_principal(project_id), project_id, request)
        return "201" if result.created else "200"

    return call


def disconnecting(containers: Containers, project_id: str) -> Callable[[], str]:
    use_case = containers.disconnect()

    def call() -> str:
        use_case(admin_principal(project_id), project_id)
        return "204"

    return call


# The invariant -----------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    connections: dict[str, dict[str, Any]]  # repository URL -> connection item
    deliveries: list[dict[str, Any]]

    def of_project(self, project_id: str) -> list[dict[str, Any]]:
        return [item for item in self.connections.values() if item["projectId"] == project_id]


def consistent_state(backend: Backend, sim_control: SimulatorControl) -> State:
    """The table and the provider after a race, asserted consistent (see module doc)."""
    state = consistent_table(backend)
    assert_hooks_match(backend, sim_control, state)
    return state


def consistent_table(backend: Backend) -> State:
    """The table after a race, its pointers asserted consistent with its connection items."""
    items = backend.items()
    by_kind: dict[str, dict[str, dict[str, Any]]] = {
        "connection": {},
        "project": {},
        "connection#": {},
    }
    deliveries = []
    for item in items:
        key = item["repositoryUrl"]
        if key.startswith("https://"):
            by_kind["connection"][key] = item
        elif key.startswith("project#"):
            by_kind["project"][key.removeprefix("project#")] = item
        elif key.startswith("connection#"):
            by_kind["connection#"][key.removeprefix("connection#")] = item
        else:
            assert not key.startswith("lease#"), f"lease left behind: {key}"
            assert key.startswith("delivery#"), key
            deliveries.append(item)
    connections, projects, by_id = by_kind["connection"], by_kind["project"], by_kind["connection#"]

    for project_id, pointer in projects.items():
        target = connections.get(pointer["currentRepositoryUrl"])
        assert target is not None, f"pointer of {project_id} names a missing connection"
        assert (target["projectId"], target["id"]) == (project_id, pointer["connectionId"])
    for url, item in connections.items():
        pointer = projects.get(item["projectId"])
        assert pointer is not None, f"orphan connection item {url}"
        assert (pointer["currentRepositoryUrl"], pointer["connectionId"]) == (url, item["id"])
        assert by_id.get(item["id"], {}).get("currentRepositoryUrl") == url
    assert set(by_id) == {item["id"] for item in connections.values()}, "orphan id pointer"
    return State(connections, deliveries)


def assert_hooks_match(backend: Backend, sim_control: SimulatorControl, state: State) -> None:
    """One hook per connection at the provider, with its callback URL and stored secret."""
    hooks = {(hook["provider"], hook["id"]): hook for hook in sim_control.hooks()}
    store = backend.store
    expected = {}
    for url, item in state.connections.items():
        stored = store.get(url)
        assert stored is not None and stored.webhook_id is not None
        secret = ConnectionSecrets(backend.cipher).webhook_secret(stored)
        expected[(SIM_PROVIDER[item["serviceType"]], stored.webhook_id)] = (
            callback_url_for(WEBHOOK_BASE_URL, stored.id),
            secret.get_secret_value(),
        )
    assert set(hooks) == set(expected), "provider hooks differ from the stored connections"
    for key, (callback_url, secret) in expected.items():
        assert hooks[key]["url"] == callback_url
        expected_secret = listed_secret(key[0], secret)
        assert hooks[key]["secret"] == expected_secret, "the hook signs with a secret not stored"


def report(backend: Backend, race_name: str, outcomes: list[str]) -> None:
    """One line per race in the -rA/-s output: the figures for docs/security.md."""
    counts = ", ".join(f"{outcome} x{n}" for outcome, n in sorted(Counter(outcomes).items()))
    print(f"\nrace[{backend.name}] {race_name}: {len(outcomes)} racers -> {counts}")


# (a) one repository, two projects ----------------------------------------------------------


def test_parallel_connects_of_one_repository_from_two_projects_leave_one_owner(
    backend: Backend, containers: Containers, sim_control: SimulatorControl
) -> None:
    # given twenty admins of two projects about to connect the same repository
    url = "https://github.com/acme/race-one-repository"
    projects = ["p1", "p2"]
    racers = [connecting(containers, projects[n % 2], url) for n in range(RACERS)]
    # when they all connect at once
    outcomes = race(racers)
    report(backend, "one repository, two projects", outcomes)
    # then exactly one project owns it, created once; the other project got only 409s
    state = consistent_state(backend, sim_control)
    assert list(state.connections) == [url]
    owner = state.connections[url]["projectId"]
    owner_outcomes = [o for n, o in enumerate(outcomes) if projects[n % 2] == owner]
    loser_outcomes = [o for n, o in enumerate(outcomes) if projects[n % 2] != owner]
    assert owner_outcomes.count("201") == 1
    assert set(owner_outcomes) <= {"201", "200", "409 concurrent_modification"}
    assert set(loser_outcomes) <= {
        "409 repository_already_connected",
        "409 concurrent_modification",
    }
    # and the losers removed the hooks they had created: one hook is left
    assert len(sim_control.hooks()) == 1


def test_parallel_connects_of_one_repository_from_twenty_projects_leave_one_owner(
    backend: Backend, containers: Containers, sim_control: SimulatorControl
) -> None:
    # given admins of twenty projects (so no project lease stands between them)
    url = "https://github.com/acme/race-twenty-projects"
    racers = [connecting(containers, f"p{n}", url) for n in range(RACERS)]
    # when all connect the same repository at once
    outcomes = race(racers)
    report(backend, "one repository, twenty projects", outcomes)
    # then one project owns it; every other got a 409 and removed the hook it had made
    state = consistent_state(backend, sim_control)
    assert list(state.connections) == [url]
    assert sorted(outcomes)[0] == "201"
    assert set(sorted(outcomes)[1:]) <= {
        "409 repository_already_connected",
        "409 concurrent_modification",
    }
    assert len(sim_control.hooks()) == 1


# (b) one project, different repositories --------------------------------------------------


def test_parallel_connects_of_different_repositories_leave_one_connection_per_project(
    backend: Backend, containers: Containers, sim_control: SimulatorControl
) -> None:
    # given twenty admin requests connecting one project to twenty different repositories
    urls = [f"https://github.com/acme/race-many-{n}" for n in range(RACERS)]
    racers = [connecting(containers, "p1", url) for url in urls]
    # when they all run at once
    outcomes = race(racers)
    report(backend, "one project, different repositories", outcomes)
    # then the project has exactly one connection, to a repository whose request succeeded
    state = consistent_state(backend, sim_control)
    assert len(state.connections) == 1
    [(url, item)] = state.connections.items()
    assert outcomes[urls.index(url)] == "201"
    assert set(outcomes) <= {"201", "409 concurrent_modification"}
    # and the GSI shows that one connection (both backends update it within the write; real
    # DynamoDB would need a poll here), and one hook is left at the provider
    assert backend.index_ids("p1") == [item["id"]]
    assert len(sim_control.hooks()) == 1


# (c) one delivery, many copies ------------------------------------------------------------


def connected(containers: Containers, project_id: str, url: str) -> str:
    """Connect once, before a race; the connection id."""
    result = containers.connect()(
        admin_principal(project_id),
        project_id,
        ConnectRequest(repositoryUrl=url, accessToken=TOKEN),
    )
    return result.connection.id


def receiving(containers: Containers, connection_id: str, delivery: Any) -> Callable[[], str]:
    use_case = containers.receive()

    def call() -> str:
        receipt = use_case(connection_id, delivery.headers, delivery.body)
        return "200 duplicate" if receipt.duplicate else "202 recorded"

    return call


def test_parallel_copies_of_one_delivery_are_recorded_once(
    backend: Backend, containers: Containers, sim_control: SimulatorControl
) -> None:
    # given a connection and one signed delivery, sent by twenty containers at once
    connection_id = connected(containers, "p1", "https://github.com/acme/race-delivery")
    delivery = signed("GitHub", sim_control.hooks()[0]["secret"])
    racers = [receiving(containers, connection_id, delivery) for _ in range(RACERS)]
    # when the copies race
    outcomes = race(racers)
    report(backend, "one delivery id, parallel copies", outcomes)
    # then exactly one copy is recorded (with the event the relay will publish); the others
    # are duplicates
    assert sorted(outcomes) == ["200 duplicate"] * (RACERS - 1) + ["202 recorded"]
    state = consistent_state(backend, sim_control)
    assert len(state.deliveries) == 1


def test_parallel_different_deliveries_to_one_connection_are_all_recorded(
    backend: Backend, containers: Containers, sim_control: SimulatorControl
) -> None:
    # given twenty different deliveries for one connection
    connection_id = connected(containers, "p1", "https://github.com/acme/race-deliveries")
    secret = sim_control.hooks()[0]["secret"]
    deliveries = [signed("GitHub", secret) for _ in range(RACERS)]
    racers = [receiving(containers, connection_id, d) for d in deliveries]
    # when they arrive at once
    outcomes = race(racers)
    report(backend, "different delivery ids, one connection", outcomes)
    # then none is dropped as a duplicate: each is recorded once
    assert outcomes == ["202 recorded"] * RACERS
    assert len(consistent_state(backend, sim_control).deliveries) == RACERS


# (d) connect against disconnect and replace -----------------------------------------------


def test_reconnects_racing_disconnects_keep_table_and_hooks_consistent(
    backend: Backend, containers: Containers, sim_control: SimulatorControl
) -> None:
    # given a connected project, ten reconnects and ten disconnects about to run at once
    url = "https://github.com/acme/race-disconnect"
    connected(containers, "p1", url)
    racers = [
        connecting(containers, "p1", url) if n % 2 else disconnecting(containers, "p1")
        for n in range(RACERS)
    ]
    # when they race
    outcomes = race(racers)
    report(backend, "reconnect vs disconnect", outcomes)
    # then at most one connection is left, table and provider agree, nothing is orphaned
    state = consistent_state(backend, sim_control)
    assert len(state.of_project("p1")) <= 1
    assert set(outcomes) <= {
        "200",
        "201",
        "204",
        "404 connection_not_found",
        "409 concurrent_modification",
    }


def test_reconnects_racing_replaces_and_another_project_keep_one_owner_each(
    backend: Backend, containers: Containers, sim_control: SimulatorControl
) -> None:
    # given p1 on repository A; p1 admins reconnecting A or moving to B, and p2 wanting A
    url_a = "https://github.com/acme/race-replace-a"
    url_b = "https://github.com/acme/race-replace-b"
    connected(containers, "p1", url_a)
    plan = [("p1", url_a), ("p1", url_b), ("p2", url_a)]
    racers = [connecting(containers, *plan[n % 3]) for n in range(RACERS)]
    # when they race
    outcomes = race(racers)
    report(backend, "reconnect vs replace vs other project", outcomes)
    # then p1 still has exactly one connection; p2 can only have A if p1 moved to B
    state = consistent_state(backend, sim_control)
    [p1_connection] = state.of_project("p1")
    p2_connections = state.of_project("p2")
    assert len(p2_connections) <= 1
    if p2_connections:
        assert p2_connections[0]["repositoryUrl"] == url_a
        assert p1_connection["repositoryUrl"] == url_b
    assert set(outcomes) <= {
        "200",
        "201",
        "409 concurrent_modification",
        "409 repository_already_connected",
    }


@pytest.mark.parametrize("backend_name", ["moto"], indirect=True)
def test_the_state_check_notices_a_hook_the_table_does_not_know(
    backend: Backend, containers: Containers, settings: Settings, sim_control: SimulatorControl
) -> None:
    # given a connection and a stray hook beside it on the same repository
    url = "https://github.com/acme/race-checker"
    connected(containers, "p1", url)
    endpoints = settings.provider_endpoints()
    containers.client(endpoints["github.com"]).create_hook(
        parse_repository_url(url, endpoints),
        TOKEN,
        f"{WEBHOOK_BASE_URL}/webhooks/stray",
        SecretStr("stray-secret-0123"),
    )
    # when the end state is checked, then the stray hook is reported
    with pytest.raises(AssertionError, match="provider hooks differ"):
        consistent_state(backend, sim_control)


# Interleavings forced by hand ----------------------------------------------------------------


class HookDeletedAfterSearch:
    """A provider client whose found hook is deleted at the provider right after the search:
    the moment between connect's find_hook and update_hook, made to happen every time."""

    def __init__(self, client: WebhookClient, sim_control: SimulatorControl) -> None:
        self._client = client
        self._sim = sim_control

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def find_hook(self, repo: Any, token: SecretStr, callback_url: str) -> Any:
        found = self._client.find_hook(repo, token, callback_url)
        if found is not None:
            self._sim.hook_action("github", found.id, "delete")
        return found


@pytest.mark.parametrize("backend_name", ["moto"], indirect=True)
def test_a_hook_deleted_between_search_and_update_is_created_again(
    backend: Backend, containers: Containers, settings: Settings, sim_control: SimulatorControl
) -> None:
    # given a hook left at our callback URL by an earlier attempt, which the provider loses
    # right after connect finds it
    url = "https://github.com/acme/race-vanishing-hook"
    endpoints = settings.provider_endpoints()
    client = containers.client(endpoints["github.com"])
    callback_url = callback_url_for(WEBHOOK_BASE_URL, "fixed-connection-id")
    client.create_hook(parse_repository_url(url, endpoints), TOKEN, callback_url, SecretStr("old"))
    connect = ConnectRepository(
        store=backend.store,
        cipher=backend.cipher,
        providers=ProviderAccess(
            lambda endpoint: HookDeletedAfterSearch(client, sim_control),
            endpoints,
            WEBHOOK_BASE_URL,
        ),
        new_id=lambda: "fixed-connection-id",
        leases=ProjectLeases(backend.leases),
    )
    # when the project connects
    result = connect(
        admin_principal("p1"), "p1", ConnectRequest(repositoryUrl=url, accessToken=TOKEN)
    )
    # then a new hook is created (not a 404 hook_not_found), and table and provider agree
    assert result.created is True
    [hook] = sim_control.hooks()
    assert hook["url"] == callback_url
    consistent_state(backend, sim_control)


# The store's own guarantees, without the lease -----------------------------------------------
# Each racer calls ConnectionStore directly, as a request whose lease had expired would: the
# transactions' conditions alone must keep the table consistent. The window between racers is
# one DynamoDB round trip, much tighter than a use case's, so this is where a backend that
# does not apply a transaction atomically would show it.


def stored(project_id: str, url: str) -> StoredConnection:
    now = datetime.now(UTC)
    return stored_connection(
        now, id=str(uuid.uuid4()), project_id=project_id, repository_url=url, last_sync_at=now
    )


def saving(
    store: ConnectionStore, new: StoredConnection, replacing: StoredConnection | None = None
) -> Callable[[], str]:
    def call() -> str:
        store.save(new, replacing=replacing)
        return "saved"

    return call


def test_transactions_let_one_of_many_first_saves_of_a_project_commit(backend: Backend) -> None:
    # given twenty first connections of one project to different repositories
    racers = [
        saving(backend.store, stored("p1", f"https://github.com/acme/store-{n}"))
        for n in range(RACERS)
    ]
    # when they are saved at once
    outcomes = race(racers)
    report(backend, "store: first saves of one project", outcomes)
    # then exactly one commits; the pointer condition turns the others away
    assert sorted(outcomes) == ["409 concurrent_modification"] * (RACERS - 1) + ["saved"]
    assert len(consistent_table(backend).connections) == 1


def test_transactions_let_one_of_many_projects_own_a_repository(backend: Backend) -> None:
    # given twenty projects saving a connection to the same repository
    url = "https://github.com/acme/store-contested"
    racers = [saving(backend.store, stored(f"p{n}", url)) for n in range(RACERS)]
    # when they are saved at once
    outcomes = race(racers)
    report(backend, "store: one repository, twenty projects", outcomes)
    # then exactly one commits; the item condition (or a transaction conflict) stops the rest
    assert sorted(outcomes)[-1] == "saved"
    assert set(sorted(outcomes)[:-1]) <= {
        "409 repository_already_connected",
        "409 concurrent_modification",
    }
    state = consistent_table(backend)
    assert list(state.connections) == [url]


def test_transactions_let_one_of_many_replaces_commit(backend: Backend) -> None:
    # given a project on repository A and twenty replaces of A by different repositories
    current = stored("p1", "https://github.com/acme/store-current")
    backend.store.save(current, replacing=None)
    racers = [
        saving(backend.store, stored("p1", f"https://github.com/acme/store-next-{n}"), current)
        for n in range(RACERS)
    ]
    # when they are saved at once
    outcomes = race(racers)
    report(backend, "store: replaces of one connection", outcomes)
    # then exactly one commits, and A's item went with it in the same transaction
    assert sorted(outcomes) == ["409 concurrent_modification"] * (RACERS - 1) + ["saved"]
    [url] = consistent_table(backend).connections
    assert url.startswith("https://github.com/acme/store-next-")


def test_one_of_many_requests_for_a_project_lease_gets_it(backend: Backend) -> None:
    # given twenty requests for the same project's lease
    now = datetime.now(UTC)

    def acquiring(owner: str) -> Callable[[], str]:
        def call() -> str:
            taken = backend.leases.acquire_lease(
                "p1", owner, at=now, expires_at=now + timedelta(seconds=60)
            )
            return owner if taken else "refused"

        return call

    # when they ask at once
    outcomes = race([acquiring(f"owner-{n}") for n in range(RACERS)])
    report(backend, "store: one project lease", outcomes)
    # then exactly one holds it, until it gives it back
    [holder] = [outcome for outcome in outcomes if outcome != "refused"]
    assert outcomes.count("refused") == RACERS - 1
    assert not backend.leases.acquire_lease("p1", "late", at=now, expires_at=now)
    backend.leases.release_lease("p1", holder)
    assert backend.leases.acquire_lease("p1", "late", at=now, expires_at=now)
