"""Connections in DynamoDB: the only module that knows attribute names and pynamodb.

The rest of the code sees two frozen dataclasses, ``StoredConnection`` (everything, secrets
as ciphertext) and ``ConnectionSummary`` (what the ``projectId-index`` projects: no
secrets), and the ``ConnectionStore`` methods.

Table layout (one table, see ConnectionsTable in template.yaml):

- a *connection item* per repository, keyed by its canonical ``repositoryUrl``. The key
  makes a repository belong to at most one project.
- a *project pointer* per project, keyed ``project#<projectId>`` in the same key attribute,
  holding ``currentRepositoryUrl`` and ``connectionId``. It has no ``projectId`` attribute,
  so it never appears in the GSI; canonical URLs start with ``https://``, so the two kinds
  of key never collide.
- a *connection pointer* per connection, keyed ``connection#<connectionId>``, holding
  ``currentRepositoryUrl``: the webhook receiver only knows the id from its callback URL.
  Written and deleted in the same transactions as the item.
- a *delivery record* per accepted webhook delivery, keyed ``delivery#<connectionId>#<id>``
  with ``expiresAt`` (epoch seconds, the table's TTL attribute). Replay protection reads
  ``expiresAt`` in its condition, so correctness never waits for TTL's lazy deletion. The
  record also carries the delivery's event (``detailType``, ``detail``): the table's stream
  is the outbox the relay publishes from (relay.py). No ``projectId``, so never in the GSI.
- a *project lease* while a connect or disconnect runs, keyed ``lease#<projectId>``, with
  the holder's ``owner`` token and ``expiresAt`` (see leases.py for why; like a delivery
  record, its condition reads ``expiresAt`` and TTL only tidies up).

Why a project has at most one connection, even when two requests race
------------------------------------------------------------------------
A GSI cannot enforce uniqueness (it is eventually consistent and has no conditions), and
the item key only makes the *repository* unique. The pointer makes the *project* unique:
every ``save`` writes the connection item and the project's pointer in ONE
``TransactWriteItems`` call, with conditions on both:

- item: ``attribute_not_exists(repositoryUrl) OR projectId = :project`` - the repository is
  free or already ours, so another project's item is never overwritten;
- pointer: absent when the caller saw no connection (``replacing=None``), otherwise still
  pointing at the connection the caller read (``replacing``) - optimistic locking on the
  project;
- when the project moves to another repository, the old item is deleted in the same
  transaction (condition: it is still this project's connection).

DynamoDB applies all of it or none of it. Of two racing first connects for one project,
both condition on an absent pointer, so exactly one commits and the other fails with
``ConcurrentModification``; of two projects racing for one repository, the item condition
lets exactly one in and the other gets ``RepositoryAlreadyConnected``. A racing reconnect
and delete conflict on the pointer the same way. Transaction cancellation reasons come back
in request order, which is how a failure is attributed to the item, the pointer or the old
item (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import (
    DeleteError,
    DoesNotExist,
    PutError,
    PynamoDBException,
    TransactWriteError,
    UpdateError,
)
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from repoconn_core.delivery_events import DeliveryEvent, RecordedDelivery
from repoconn_core.errors import (
    ConcurrentModification,
    DependencyUnavailable,
    DomainError,
    RepositoryAlreadyConnected,
)
from repoconn_core.providers import ServiceType

PROJECT_INDEX_NAME = "projectId-index"
POINTER_KEY_PREFIX = "project#"
CONNECTION_KEY_PREFIX = "connection#"
DELIVERY_KEY_PREFIX = "delivery#"
LEASE_KEY_PREFIX = "lease#"
_RESERVED_PREFIXES = (
    POINTER_KEY_PREFIX,
    CONNECTION_KEY_PREFIX,
    DELIVERY_KEY_PREFIX,
    LEASE_KEY_PREFIX,
)
# Must equal NonKeyAttributes of projectId-index in template.yaml (a test compares them).
SUMMARY_ATTRIBUTES = (
    "id",
    "serviceType",
    "isActive",
    "lastSyncAt",
    "createdAt",
    "updatedAt",
    "healthStatus",
    "healthReason",
    "lastHealthCheckAt",
)
# A Lambda behind API Gateway has 30 s in total; fail fast instead of pynamodb's 15 s / 30 s.
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0
MAX_RETRY_ATTEMPTS = 2
THROTTLED_RETRY_AFTER = 2
# Connection ids whose repository URL a store remembers (see get_by_id); ~100 bytes each.
KNOWN_CONNECTION_IDS = 4096
UNAVAILABLE_RETRY_AFTER = 10
# A delivery id is new, or its record expired (correctness never waits for TTL's deletion).
_UNSEEN_OR_EXPIRED = "attribute_not_exists(#key) OR #expires < :now"
_THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingError",  # the code inside transaction cancellation reasons
    }
)


@dataclass(frozen=True)
class StoredConnection:
    """A connection as stored; secrets are the cipher's blobs, never plaintext."""

    id: str
    project_id: str
    repository_url: str
    service_type: ServiceType
    access_token: bytes
    webhook_secret: bytes
    webhook_id: str | None
    is_active: bool
    last_sync_at: datetime | None
    created_at: datetime
    updated_at: datetime
    previous_webhook_secret: bytes | None = None
    previous_secret_expires_at: datetime | None = None
    health_status: str | None = None
    health_reason: str | None = None
    last_health_check_at: datetime | None = None

    def summary(self) -> ConnectionSummary:
        """The non-secret part, as a GSI read would return it."""
        return ConnectionSummary(
            id=self.id,
            project_id=self.project_id,
            repository_url=self.repository_url,
            service_type=self.service_type,
            is_active=self.is_active,
            last_sync_at=self.last_sync_at,
            created_at=self.created_at,
            updated_at=self.updated_at,
            health_status=self.health_status,
            health_reason=self.health_reason,
            last_health_check_at=self.last_health_check_at,
        )

    def __repr__(self) -> str:
        # Ciphertext is not secret, but there is no reason to print it either.
        return (
            f"StoredConnection(id={self.id!r}, project_id={self.project_id!r}, "
            f"repository_url={self.repository_url!r}, service_type={self.service_type!r})"
        )


@dataclass(frozen=True)
class ConnectionSummary:
    """The non-secret part of a connection: exactly what the projectId-index projects."""

    id: str
    project_id: str
    repository_url: str
    service_type: ServiceType
    is_active: bool
    last_sync_at: datetime | None
    created_at: datetime
    updated_at: datetime
    health_status: str | None = None
    health_reason: str | None = None
    last_health_check_at: datetime | None = None


class ProjectIdIndex(GlobalSecondaryIndex["ConnectionItem"]):
    class Meta:
        index_name = PROJECT_INDEX_NAME
        projection = IncludeProjection(list(SUMMARY_ATTRIBUTES))

    projectId = UnicodeAttribute(hash_key=True)


class ConnectionItem(Model):
    """Unbound schema of a connection item; use ``connection_models(...).item``."""

    repositoryUrl = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute()
    projectId = UnicodeAttribute()
    serviceType = UnicodeAttribute()
    accessToken = BinaryAttribute(legacy_encoding=False)
    webhookSecret = BinaryAttribute(legacy_encoding=False)
    previousWebhookSecret = BinaryAttribute(legacy_encoding=False, null=True)
    previousSecretExpiresAt = UTCDateTimeAttribute(null=True)
    webhookId = UnicodeAttribute(null=True)
    isActive = BooleanAttribute()
    lastSyncAt = UTCDateTimeAttribute(null=True)
    createdAt = UTCDateTimeAttribute()
    updatedAt = UTCDateTimeAttribute()
    healthStatus = UnicodeAttribute(null=True)
    healthReason = UnicodeAttribute(null=True)
    lastHealthCheckAt = UTCDateTimeAttribute(null=True)

    project_index = ProjectIdIndex()


class ProjectPointer(Model):
    """Unbound schema of a project pointer; use ``connection_models(...).pointer``.

    Deliberately without a ``projectId`` attribute: the pointer must stay out of the GSI.
    """

    repositoryUrl = UnicodeAttribute(hash_key=True)  # "project#<projectId>"
    currentRepositoryUrl = UnicodeAttribute()
    connectionId = UnicodeAttribute()


class ConnectionPointer(Model):
    """``connection#<id>`` → the repository URL keying that connection's item."""

    repositoryUrl = UnicodeAttribute(hash_key=True)  # "connection#<connectionId>"
    currentRepositoryUrl = UnicodeAttribute()


class DeliveryRecord(Model):
    """One accepted webhook delivery: replay protection, and the event still to publish."""

    repositoryUrl = UnicodeAttribute(hash_key=True)  # "delivery#<connectionId>#<deliveryId>"
    expiresAt = NumberAttribute()  # epoch seconds; also the table's TTL attribute
    # Which record_delivery call wrote it: tells our own write from an earlier delivery's.
    owner = UnicodeAttribute(null=True)
    connectionId = UnicodeAttribute(null=True)
    connectionRepositoryUrl = UnicodeAttribute(null=True)
    receivedAt = UTCDateTimeAttribute(null=True)
    detailType = UnicodeAttribute(null=True)
    detail = UnicodeAttribute(null=True)


class ProjectLease(Model):
    """Who is changing a project's connection right now, until when (see leases.py)."""

    repositoryUrl = UnicodeAttribute(hash_key=True)  # "lease#<projectId>"
    owner = UnicodeAttribute()
    expiresAt = NumberAttribute()  # epoch seconds; also the table's TTL attribute


class ConnectionModels(NamedTuple):
    item: type[ConnectionItem]
    pointer: type[ProjectPointer]
    connection_pointer: type[ConnectionPointer]
    delivery: type[DeliveryRecord]
    lease: type[ProjectLease]


class DeliveryOutcome(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"


@cache
def connection_models(table_name: str, region: str, host: str | None = None) -> ConnectionModels:
    """Model classes bound to one table; cached so each table gets one pynamodb connection."""
    settings: dict[str, Any] = {
        "table_name": table_name,
        "region": region,
        "host": host,
        "connect_timeout_seconds": CONNECT_TIMEOUT_SECONDS,
        "read_timeout_seconds": READ_TIMEOUT_SECONDS,
        "max_retry_attempts": MAX_RETRY_ATTEMPTS,
    }

    def bind(schema: type[Any]) -> Any:
        return type(schema.__name__, (schema,), {"Meta": type("Meta", (), dict(settings))})

    return ConnectionModels(
        item=bind(ConnectionItem),
        pointer=bind(ProjectPointer),
        connection_pointer=bind(ConnectionPointer),
        delivery=bind(DeliveryRecord),
        lease=bind(ProjectLease),
    )


class ConnectionStore:
    def __init__(self, table_name: str, region: str, host: str | None = None) -> None:
        self._models = connection_models(table_name, region, host)
        self._table_name = table_name
        # Transactions span two models, so they go through a connection of their own (as does
        # record_delivery's prepared PutItem).
        self._connection = Connection(
            region=region,
            host=host,
            connect_timeout_seconds=CONNECT_TIMEOUT_SECONDS,
            read_timeout_seconds=READ_TIMEOUT_SECONDS,
            max_retry_attempts=MAX_RETRY_ATTEMPTS,
        )
        # Connection id -> the repository URL keying its item, learnt from consistent pointer
        # reads. A connection keeps one repository for life (another repository is a new
        # connection with a new id), so the mapping never goes stale; only the item can go.
        self._repository_by_id: OrderedDict[str, str] = OrderedDict()
        self._repository_by_id_lock = threading.Lock()

    # Reads ------------------------------------------------------------------------------

    def summary_for_project(self, project_id: str) -> ConnectionSummary | None:
        """The project's connection from the GSI (one Query, eventually consistent)."""
        with _dynamodb_failures():
            found = next(iter(self._models.item.project_index.query(project_id, limit=1)), None)
        return None if found is None else _summary(found)

    def exists_for_project(self, project_id: str) -> bool:
        """Whether the project has a connection, from the GSI (one Query)."""
        with _dynamodb_failures():
            results = self._models.item.project_index.query(
                project_id, limit=1, attributes_to_get=["id"]
            )
            return next(iter(results), None) is not None

    def get(self, repository_url: str) -> StoredConnection | None:
        """The connection stored under a canonical repository URL (consistent read)."""
        _require_repository_key(repository_url)
        item = self._get_item(repository_url)
        return None if item is None else _stored(item)

    def current_for_project(self, project_id: str) -> StoredConnection | None:
        """The project's connection, read consistently: pointer first, then the item."""
        with _dynamodb_failures():
            try:
                pointer = self._models.pointer.get(_pointer_key(project_id), consistent_read=True)
            except DoesNotExist:
                return None
        item = self._get_item(pointer.currentRepositoryUrl)
        # Transactions keep pointer and item in step; a mismatch means no usable connection.
        if item is None or item.projectId != project_id or item.id != pointer.connectionId:
            return None
        return _stored(item)

    def get_by_id(self, connection_id: str) -> StoredConnection | None:
        """The connection with this id (consistent): its pointer, then the item.

        The webhook receiver's hot path: once an id's pointer has been read, later calls read
        only the item (one consistent GetItem instead of two) and check that it still carries
        this id; if it does not (deleted, replaced), the pointer is read again as the first
        time, so the answer is the same as without the shortcut.
        """
        with self._repository_by_id_lock:
            known = self._repository_by_id.get(connection_id)
        if known is not None:
            item = self._get_item(known)
            if item is not None and item.id == connection_id:
                return _stored(item)
            with self._repository_by_id_lock:
                self._repository_by_id.pop(connection_id, None)
        with _dynamodb_failures():
            try:
                pointer = self._models.connection_pointer.get(
                    _connection_key(connection_id), consistent_read=True
                )
            except DoesNotExist:
                return None
        item = self._get_item(pointer.currentRepositoryUrl)
        if item is None or item.id != connection_id:
            return None
        with self._repository_by_id_lock:
            self._repository_by_id[connection_id] = pointer.currentRepositoryUrl
            while len(self._repository_by_id) > KNOWN_CONNECTION_IDS:
                self._repository_by_id.popitem(last=False)
        return _stored(item)

    def scan_connections(self, page_size: int = 100) -> Iterator[StoredConnection]:
        """Every connection item, page by page (pointers and delivery records skipped)."""
        item_model = self._models.item
        with _dynamodb_failures():
            for item in item_model.scan(
                item_model.projectId.exists(), page_size=page_size, consistent_read=True
            ):
                yield _stored(item)

    # Writes -----------------------------------------------------------------------------

    def save(self, new: StoredConnection, *, replacing: StoredConnection | None) -> None:
        """Write ``new`` as the project's connection in one transaction (see module doc).

        ``replacing`` is the connection the caller read for this project (None when it saw
        none). Raises RepositoryAlreadyConnected when the repository belongs to another
        project, ConcurrentModification when the project's connection changed meanwhile,
        DependencyUnavailable when DynamoDB throttles or fails.
        """
        _require_repository_key(new.repository_url)
        if replacing is not None and replacing.project_id != new.project_id:
            raise ValueError("replacing must be a connection of the same project")
        item_model, pointer_model = self._models.item, self._models.pointer
        item = _item(item_model, new)
        pointer = pointer_model(
            _pointer_key(new.project_id),
            currentRepositoryUrl=new.repository_url,
            connectionId=new.id,
        )
        item_condition = item_model.repositoryUrl.does_not_exist() | (
            item_model.projectId == new.project_id
        )
        pointer_condition: Condition
        if replacing is None:
            pointer_condition = pointer_model.repositoryUrl.does_not_exist()
        else:
            pointer_condition = (pointer_model.currentRepositoryUrl == replacing.repository_url) & (
                pointer_model.connectionId == replacing.id
            )
        moves = replacing is not None and replacing.repository_url != new.repository_url
        by_id = self._models.connection_pointer(
            _connection_key(new.id), currentRepositoryUrl=new.repository_url
        )

        # pynamodb sends deletes before puts; the roles list mirrors that request order, which
        # is the order of the cancellation reasons.
        roles = (
            ["old_item", "old_by_id", "item", "pointer", "by_id"]
            if moves
            else [
                "item",
                "pointer",
                "by_id",
            ]
        )
        try:
            with self._transaction() as transaction:
                if replacing is not None and moves:
                    transaction.delete(
                        item_model(replacing.repository_url),
                        condition=(item_model.projectId == replacing.project_id)
                        & (item_model.id == replacing.id),
                    )
                    transaction.delete(
                        self._models.connection_pointer(_connection_key(replacing.id))
                    )
                transaction.save(item, condition=item_condition)
                transaction.save(pointer, condition=pointer_condition)
                transaction.save(by_id)
        except TransactWriteError as error:
            if self._saved(new):
                # Applied; only the answer was lost (a read timeout, or the SDK's retry of the
                # applied transaction failing its own conditions).
                return
            failed = _failed_roles(error, roles)
            if failed.get("item") == "ConditionalCheckFailed":
                raise RepositoryAlreadyConnected(
                    "The repository is connected to another project."
                ) from error
            if _is_conflict(failed):
                raise ConcurrentModification(
                    "The project's repository connection changed meanwhile."
                ) from error
            raise _unavailable(error, failed) from error

    def delete(self, stored: StoredConnection) -> bool:
        """Delete the connection and the project's pointer in one transaction.

        False when the connection is already gone (deleted or replaced meanwhile).
        """
        item_model, pointer_model = self._models.item, self._models.pointer
        roles = ["item", "pointer", "by_id"]
        try:
            with self._transaction() as transaction:
                transaction.delete(
                    item_model(stored.repository_url),
                    condition=(item_model.id == stored.id)
                    & (item_model.projectId == stored.project_id),
                )
                transaction.delete(
                    pointer_model(_pointer_key(stored.project_id)),
                    condition=(pointer_model.currentRepositoryUrl == stored.repository_url)
                    & (pointer_model.connectionId == stored.id),
                )
                transaction.delete(self._models.connection_pointer(_connection_key(stored.id)))
        except TransactWriteError as error:
            failed = _failed_roles(error, roles)
            if not failed and self._deleted(stored):
                # No answer (a timeout) but applied. With an answer (a cancellation), "gone"
                # may be someone else's delete: that stays False, as documented above.
                return True
            if failed.get("item") == "ConditionalCheckFailed":
                return False
            if _is_conflict(failed):
                raise ConcurrentModification(
                    "The project's repository connection changed meanwhile."
                ) from error
            raise _unavailable(error, failed) from error
        return True

    def touch_last_sync(self, repository_url: str, connection_id: str, at: datetime) -> bool:
        """Advance lastSyncAt to ``at`` (one UpdateItem; updatedAt is left alone).

        False when the connection is gone or replaced, or a later sync is already recorded,
        so out-of-order deliveries never move lastSyncAt backwards. The stored format
        (fixed-width UTC ISO 8601) sorts as text, which makes the ``<`` condition correct.
        """
        _require_aware(at)
        item_model = self._models.item
        condition = (item_model.id == connection_id) & (
            item_model.lastSyncAt.does_not_exist() | (item_model.lastSyncAt < at)
        )
        try:
            item_model(repository_url).update(
                actions=[item_model.lastSyncAt.set(at)], condition=condition
            )
        except UpdateError as error:
            if _cause_code(error) == "ConditionalCheckFailedException":
                return False
            raise _unavailable(error) from error
        return True

    def record_delivery(
        self,
        stored: StoredConnection,
        delivery_id: str,
        *,
        event: DeliveryEvent,
        expires_at: datetime,
    ) -> DeliveryOutcome:
        """Accept a verified delivery once: one conditional PutItem of its record and event
        (unless an unexpired record exists). The relay publishes it from the table's stream
        and advances lastSyncAt (relay.py).

        The provider waits on this one write (docs/benchmarks.md), so it is the one write sent
        as a prepared request through the connection's ``dispatch`` (pynamodb's signals,
        retries and error types, without building a model and its expressions each time:
        about a tenth of the receiver's CPU per delivery). It is read back through
        ``DeliveryRecord`` (``recorded_delivery``, ``_recorded_by``); test_store pins that
        what is written here reads back as the same delivery.
        """
        at = event.time
        _require_aware(at)
        key = _delivery_key(stored.id, delivery_id)
        owner = str(uuid.uuid4())
        item = {
            "repositoryUrl": {"S": key},
            "expiresAt": {"N": str(int(expires_at.timestamp()))},
            "owner": {"S": owner},
            "connectionId": {"S": stored.id},
            "connectionRepositoryUrl": {"S": stored.repository_url},
            "receivedAt": {"S": DeliveryRecord.receivedAt.serialize(at)},
            "detailType": {"S": event.detail_type},
            "detail": {"S": event.detail},
        }
        try:
            self._connection.dispatch(
                "PutItem",
                {
                    "TableName": self._table_name,
                    "Item": item,
                    "ConditionExpression": _UNSEEN_OR_EXPIRED,
                    "ExpressionAttributeNames": {"#key": "repositoryUrl", "#expires": "expiresAt"},
                    "ExpressionAttributeValues": {":now": {"N": str(int(at.timestamp()))}},
                },
            )
        except (ClientError, BotoCoreError) as error:
            if self._recorded_by(key, owner):
                # Our own write landed and its answer was lost (or the SDK's retry of it met
                # our own record): recorded, not a duplicate.
                return DeliveryOutcome.RECORDED
            if _cause_code(error) == "ConditionalCheckFailedException":
                return DeliveryOutcome.DUPLICATE
            raise _unavailable(error) from error
        return DeliveryOutcome.RECORDED

    def connections_at(self, repository_urls: Iterable[str]) -> dict[str, StoredConnection]:
        """The connection items at these keys (consistent BatchGetItem), by repository URL;
        keys without an item are left out."""
        keys = sorted(set(repository_urls))
        if not keys:
            return {}
        with _dynamodb_failures():
            items = self._models.item.batch_get(keys, consistent_read=True)
            return {item.repositoryUrl: _stored(item) for item in items}

    def record_health(
        self, stored: StoredConnection, *, status: str, reason: str, at: datetime
    ) -> bool:
        """Set the health fields; False when the connection is gone or was replaced."""
        _require_aware(at)
        item_model = self._models.item
        try:
            item_model(stored.repository_url).update(
                actions=[
                    item_model.healthStatus.set(status),
                    item_model.healthReason.set(reason),
                    item_model.lastHealthCheckAt.set(at),
                ],
                condition=item_model.id == stored.id,
            )
        except UpdateError as error:
            if _cause_code(error) == "ConditionalCheckFailedException":
                return False
            raise _unavailable(error) from error
        return True

    def replace_webhook(
        self,
        stored: StoredConnection,
        *,
        access_token: bytes,
        webhook_secret: bytes,
        webhook_id: str,
        previous_secret_expires_at: datetime,
        at: datetime,
    ) -> bool:
        """Store a re-created hook and its new secret (health repair), only if nobody
        changed the connection since ``stored`` was read (updatedAt is the version)."""
        for moment in (at, previous_secret_expires_at):
            _require_aware(moment)
        item_model = self._models.item
        try:
            item_model(stored.repository_url).update(
                actions=[
                    item_model.accessToken.set(access_token),
                    item_model.webhookSecret.set(webhook_secret),
                    item_model.previousWebhookSecret.set(stored.webhook_secret),
                    item_model.previousSecretExpiresAt.set(previous_secret_expires_at),
                    item_model.webhookId.set(webhook_id),
                    item_model.updatedAt.set(at),
                ],
                condition=(item_model.id == stored.id)
                & (item_model.updatedAt == stored.updated_at),
            )
        except UpdateError as error:
            if _cause_code(error) == "ConditionalCheckFailedException":
                return False
            raise _unavailable(error) from error
        return True

    def acquire_lease(
        self, project_id: str, owner: str, *, at: datetime, expires_at: datetime
    ) -> bool:
        """Take the project's lease for ``owner`` until ``expires_at`` (one conditional
        PutItem); False while someone else holds an unexpired one."""
        for moment in (at, expires_at):
            _require_aware(moment)
        lease_model = self._models.lease
        lease = lease_model(
            _lease_key(project_id), owner=owner, expiresAt=int(expires_at.timestamp())
        )
        try:
            lease.save(
                condition=lease_model.repositoryUrl.does_not_exist()
                | (lease_model.expiresAt < int(at.timestamp()))
            )
        except PutError as error:
            if self._lease_owner(project_id) == owner:
                # Applied, answer lost (or the SDK's retry met our own lease): it is ours.
                # Without this check the project stayed locked (409) until the lease expired.
                return True
            if _cause_code(error) == "ConditionalCheckFailedException":
                return False
            raise _unavailable(error) from error
        return True

    def _lease_owner(self, project_id: str) -> str | None:
        try:
            return str(self._models.lease.get(_lease_key(project_id), consistent_read=True).owner)
        except PynamoDBException:  # DoesNotExist included
            return None

    def release_lease(self, project_id: str, owner: str) -> None:
        """Give the lease back (one DeleteItem), unless it expired and another owner has it."""
        lease_model = self._models.lease
        try:
            lease_model(_lease_key(project_id)).delete(condition=lease_model.owner == owner)
        except DeleteError as error:
            if _cause_code(error) == "ConditionalCheckFailedException":
                return
            raise _unavailable(error) from error

    def _transaction(self) -> TransactWrite:
        """A transaction with its own ClientRequestToken: when botocore retries it after a
        timeout that hid its success, DynamoDB answers the retry with that success instead
        of evaluating the conditions against the transaction's own writes (idempotent for
        10 minutes; https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
        """
        return TransactWrite(connection=self._connection, client_request_token=str(uuid.uuid4()))

    # Did a write whose answer we did not get land? One consistent read, on failures only;
    # a read that fails too means "not known to have landed" and the original error stands.

    def _saved(self, new: StoredConnection) -> bool:
        try:
            item = self._get_item(new.repository_url)
            if item is None or item.id != new.id or item.updatedAt != new.updated_at:
                return False
            pointer = self._models.pointer.get(_pointer_key(new.project_id), consistent_read=True)
        except (DomainError, PynamoDBException):
            return False
        return bool(pointer.currentRepositoryUrl == new.repository_url)

    def _deleted(self, stored: StoredConnection) -> bool:
        try:
            item = self._get_item(stored.repository_url)
            if item is not None and item.id == stored.id:
                return False
            # Gone - and the project has no connection at all (a concurrent replace that
            # removed this item leaves a pointer to the new one: not our delete).
            self._models.pointer.get(_pointer_key(stored.project_id), consistent_read=True)
        except DoesNotExist:
            return True
        except (DomainError, PynamoDBException):
            return False
        return False

    def _recorded_by(self, key: str, owner: str) -> bool:
        try:
            record = self._models.delivery.get(key, consistent_read=True)
        except PynamoDBException:  # DoesNotExist included
            return False
        return record.owner == owner

    def _get_item(self, repository_url: str) -> ConnectionItem | None:
        with _dynamodb_failures():
            try:
                return self._models.item.get(repository_url, consistent_read=True)
            except DoesNotExist:
                return None


# Mapping between dataclasses and items ---------------------------------------------------


def recorded_delivery(position: str, image: dict[str, Any]) -> RecordedDelivery | None:
    """A stream record's new image as a recorded delivery; None for any other kind of item
    (the event source mapping's filter lets only delivery records through; this is the
    check that does not depend on it)."""
    key = image.get("repositoryUrl", {}).get("S", "")
    if not key.startswith(DELIVERY_KEY_PREFIX) or "detail" not in image:
        return None
    record = DeliveryRecord.from_raw_data(image)
    if None in (record.connectionId, record.connectionRepositoryUrl, record.receivedAt):
        return None
    return RecordedDelivery(
        position=position,
        connection_id=str(record.connectionId),
        repository_url=str(record.connectionRepositoryUrl),
        delivery_id=key.removeprefix(f"{DELIVERY_KEY_PREFIX}{record.connectionId}#"),
        event=DeliveryEvent(
            detail_type=str(record.detailType),
            detail=str(record.detail),
            time=record.receivedAt,
        ),
    )


def _item(model: type[ConnectionItem], stored: StoredConnection) -> ConnectionItem:
    for moment in (
        stored.created_at,
        stored.updated_at,
        stored.last_sync_at,
        stored.previous_secret_expires_at,
        stored.last_health_check_at,
    ):
        _require_aware(moment)
    return model(
        stored.repository_url,
        id=stored.id,
        projectId=stored.project_id,
        serviceType=stored.service_type.value,
        accessToken=stored.access_token,
        webhookSecret=stored.webhook_secret,
        previousWebhookSecret=stored.previous_webhook_secret,
        previousSecretExpiresAt=stored.previous_secret_expires_at,
        webhookId=stored.webhook_id,
        isActive=stored.is_active,
        lastSyncAt=stored.last_sync_at,
        createdAt=stored.created_at,
        updatedAt=stored.updated_at,
        healthStatus=stored.health_status,
        healthReason=stored.health_reason,
        lastHealthCheckAt=stored.last_health_check_at,
    )


def _stored(item: ConnectionItem) -> StoredConnection:
    return StoredConnection(
        id=item.id,
        project_id=item.projectId,
        repository_url=item.repositoryUrl,
        service_type=ServiceType(item.serviceType),
        access_token=item.accessToken,
        webhook_secret=item.webhookSecret,
        webhook_id=item.webhookId,
        is_active=item.isActive,
        last_sync_at=item.lastSyncAt,
        created_at=item.createdAt,
        updated_at=item.updatedAt,
        previous_webhook_secret=item.previousWebhookSecret,
        previous_secret_expires_at=item.previousSecretExpiresAt,
        health_status=item.healthStatus,
        health_reason=item.healthReason,
        last_health_check_at=item.lastHealthCheckAt,
    )


def _summary(item: ConnectionItem) -> ConnectionSummary:
    # Only GSI-projected attributes are read here; the secret ones are not in the result.
    return ConnectionSummary(
        id=item.id,
        project_id=item.projectId,
        repository_url=item.repositoryUrl,
        service_type=ServiceType(item.serviceType),
        is_active=item.isActive,
        last_sync_at=item.lastSyncAt,
        created_at=item.createdAt,
        updated_at=item.updatedAt,
        health_status=item.healthStatus,
        health_reason=item.healthReason,
        last_health_check_at=item.lastHealthCheckAt,
    )


def _pointer_key(project_id: str) -> str:
    return f"{POINTER_KEY_PREFIX}{project_id}"


def _connection_key(connection_id: str) -> str:
    return f"{CONNECTION_KEY_PREFIX}{connection_id}"


def _delivery_key(connection_id: str, delivery_id: str) -> str:
    return f"{DELIVERY_KEY_PREFIX}{connection_id}#{delivery_id}"


def _lease_key(project_id: str) -> str:
    return f"{LEASE_KEY_PREFIX}{project_id}"


def _require_repository_key(repository_url: str) -> None:
    if repository_url.startswith(_RESERVED_PREFIXES):
        raise ValueError("a repository URL cannot use a reserved key prefix")


def _require_aware(moment: datetime | None) -> None:
    # A naive datetime would be silently taken as UTC by pynamodb; refuse the ambiguity.
    if moment is not None and moment.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")


# Failures --------------------------------------------------------------------------------


@contextmanager
def _dynamodb_failures() -> Iterator[None]:
    """Turn pynamodb's errors into DependencyUnavailable; DoesNotExist passes through."""
    try:
        yield
    except DoesNotExist:
        raise
    except PynamoDBException as error:
        raise _unavailable(error) from error


def _cause_code(error: PynamoDBException | ClientError | BotoCoreError) -> str | None:
    """The DynamoDB error code behind a pynamodb or botocore error; None when there was no
    answer.

    pynamodb's own ``cause_response_code`` raises AttributeError when the cause is a botocore
    ``HTTPClientError`` such as ``ReadTimeoutError``: it carries ``response = None`` where
    pynamodb expects a dict. A read timeout is an ordinary outage, not a 500.
    """
    cause = error if isinstance(error, ClientError | BotoCoreError) else error.cause
    response = getattr(cause, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return None if code is None else str(code)


def _failed_roles(error: TransactWriteError, roles: list[str]) -> dict[str, str]:
    """Role → cancellation code for each transaction item that caused the cancellation."""
    if _cause_code(error) != "TransactionCanceledException":
        return {}
    return {
        role: reason.code
        for role, reason in zip(roles, error.cancellation_reasons, strict=False)
        if reason is not None
    }


def _is_conflict(failed: dict[str, str]) -> bool:
    # TransactionConflict: another transaction was writing the same item at that moment,
    # i.e. a racing request; the caller should re-read, not back off.
    return any(
        code in {"ConditionalCheckFailed", "TransactionConflict"} for code in failed.values()
    )


def _unavailable(
    error: PynamoDBException | ClientError | BotoCoreError, failed: dict[str, str] | None = None
) -> DomainError:
    codes = {_cause_code(error), *(failed or {}).values()}
    if codes & _THROTTLING_CODES:
        return DependencyUnavailable("DynamoDB is throttling requests.", THROTTLED_RETRY_AFTER)
    return DependencyUnavailable("DynamoDB is unavailable.", UNAVAILABLE_RETRY_AFTER)
