"""The connections table's layout (ConnectionsTable in template.yaml): one table, seven kinds
of item in one key attribute, ``repositoryUrl``.

- a *connection item* per repository, keyed by its canonical ``repositoryUrl``. The key
  makes a repository belong to at most one project.
- a *project pointer* per project, keyed ``project#<projectId>``, holding
  ``currentRepositoryUrl`` and ``connectionId``. It has no ``projectId`` attribute, so it
  never appears in the GSI; canonical URLs start with ``https://``, so the kinds of key
  never collide.
- a *connection pointer* per connection, keyed ``connection#<connectionId>``, holding
  ``currentRepositoryUrl``: the webhook receiver only knows the id from its callback URL.
  Written and deleted in the same transactions as the item.
- a *delivery record* per accepted webhook delivery, keyed ``delivery#<connectionId>#<replay
  key>`` (the SHA-256 of the body: receive.py)
  with ``expiresAt`` (epoch seconds, the table's TTL attribute) and the delivery's event: the
  table's stream is the outbox the relay publishes from (delivery_log.py). No ``projectId``,
  so never in the GSI.
- a *project lease* while a connect or disconnect runs, keyed ``lease#<projectId>``, with
  the holder's ``owner`` token and ``expiresAt`` (lease_table.py).
- a *pending secret* while a connect or hook repair installs a new webhook secret, keyed
  ``pending#<connectionId>`` (records.PendingSecret), with ``expiresAt``. Its project is
  ``pendingProjectId``, never ``projectId``: it must stay out of the GSI.
- a *delivery log* per connection that received deliveries, keyed ``deliveries#<connectionId>``
  (delivery_history.py): a bounded list of ``entries`` (delivery id, event kind, received at,
  outcome — never a payload), ``lastDeliveryAt`` and ``expiresAt`` (the last write plus the
  replay window). No ``projectId``: never in the GSI. Its key does not start with
  ``delivery#``, so neither the relay's stream filter nor the receiver's PutItem grant (both
  ``delivery#``) covers it.

A connection item's attributes are the camelCase names of ``StoredConnection``'s fields
(``project_id`` ↔ ``projectId``): ``CONNECTION_ATTRIBUTES`` below is the one field table, and
``to_item`` / ``to_stored`` / ``to_summary`` map through it both ways. The GSI projects the
summary's fields (``SUMMARY_ATTRIBUTES``), which a test compares with template.yaml.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from repoconn_core.providers import ServiceType
from repoconn_core.records import (
    CONNECTION_FIELDS,
    SUMMARY_FIELDS,
    WEBHOOK_FIELDS,
    ConnectionSummary,
    StoredConnection,
    WebhookConnection,
)

PROJECT_INDEX_NAME = "projectId-index"
POINTER_KEY_PREFIX = "project#"
CONNECTION_KEY_PREFIX = "connection#"
DELIVERY_KEY_PREFIX = "delivery#"
LEASE_KEY_PREFIX = "lease#"
PENDING_KEY_PREFIX = "pending#"
DELIVERY_LOG_KEY_PREFIX = "deliveries#"
_RESERVED_PREFIXES = (
    DELIVERY_LOG_KEY_PREFIX,
    POINTER_KEY_PREFIX,
    CONNECTION_KEY_PREFIX,
    DELIVERY_KEY_PREFIX,
    LEASE_KEY_PREFIX,
    PENDING_KEY_PREFIX,
)
# A Lambda behind API Gateway has 30 s in total; fail fast instead of pynamodb's 15 s / 30 s.
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0
MAX_RETRY_ATTEMPTS = 2


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


# Record field → item attribute, for every field of a connection.
CONNECTION_ATTRIBUTES: dict[str, str] = {name: _camel(name) for name in CONNECTION_FIELDS}
_KEY_ATTRIBUTES = ("repositoryUrl", "projectId")  # the table's and the index's keys
# What the webhook receiver's GetItems project, and all its IAM GetItem statement allows
# (dynamodb:Attributes in template.yaml; a test compares them): a connection item's webhook
# view, a connection pointer, a pending secret, and the delivery record it reads back after a
# lost answer.
WEBHOOK_ITEM_ATTRIBUTES = tuple(CONNECTION_ATTRIBUTES[name] for name in WEBHOOK_FIELDS)
CONNECTION_POINTER_ATTRIBUTES = ("repositoryUrl", "currentRepositoryUrl")
PENDING_SECRET_ATTRIBUTES = (
    "repositoryUrl",
    "pendingProjectId",
    "currentRepositoryUrl",
    "serviceType",
    "webhookSecret",
    "secretGeneration",
    "updatedAt",
    "expiresAt",
)
DELIVERY_READBACK_ATTRIBUTES = ("repositoryUrl", "owner")
# A delivery log's attributes: what its writers' UpdateItems may name and the listing reads
# (template.yaml's conditions name the same; a test compares), and what GET connection reads.
DELIVERY_LOG_ATTRIBUTES = ("repositoryUrl", "entries", "lastDeliveryAt", "expiresAt")
LAST_DELIVERY_ATTRIBUTES = ("repositoryUrl", "lastDeliveryAt", "expiresAt")
# Must equal NonKeyAttributes of projectId-index in template.yaml (a test compares them).
SUMMARY_ATTRIBUTES = tuple(
    CONNECTION_ATTRIBUTES[name]
    for name in SUMMARY_FIELDS
    if CONNECTION_ATTRIBUTES[name] not in _KEY_ATTRIBUTES
)


class ProjectIdIndex(GlobalSecondaryIndex["ConnectionItem"]):
    class Meta:
        index_name = PROJECT_INDEX_NAME
        projection = IncludeProjection(list(SUMMARY_ATTRIBUTES))

    projectId = UnicodeAttribute(hash_key=True)


class ConnectionItem(Model):
    """Unbound schema of a connection item; use ``connection_models(...).item``. Its
    attributes are exactly ``CONNECTION_ATTRIBUTES``' values (a test checks)."""

    repositoryUrl = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute()
    projectId = UnicodeAttribute()
    serviceType = UnicodeAttribute()
    accessToken = BinaryAttribute(legacy_encoding=False)
    webhookSecret = BinaryAttribute(legacy_encoding=False)
    previousWebhookSecret = BinaryAttribute(legacy_encoding=False, null=True)
    previousSecretExpiresAt = UTCDateTimeAttribute(null=True)
    secretGeneration = NumberAttribute(null=True)  # absent on items written before issue 14
    webhookSigning = UnicodeAttribute(null=True)  # absent: the hook's token alone (issue 16)
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

    # "delivery#<connectionId>#sha256-<hex digest of the body>" (receive.py's replay key)
    repositoryUrl = UnicodeAttribute(hash_key=True)
    expiresAt = NumberAttribute()  # epoch seconds; also the table's TTL attribute
    # Which record_delivery call wrote it: tells our own write from an earlier delivery's.
    owner = UnicodeAttribute(null=True)
    connectionId = UnicodeAttribute(null=True)
    deliveryId = UnicodeAttribute(null=True)  # absent on records keyed by the id (before issue 16)
    connectionRepositoryUrl = UnicodeAttribute(null=True)
    receivedAt = UTCDateTimeAttribute(null=True)
    detailType = UnicodeAttribute(null=True)
    detail = UnicodeAttribute(null=True)


class ProjectLease(Model):
    """Who is changing a project's connection right now, until when (see leases.py)."""

    repositoryUrl = UnicodeAttribute(hash_key=True)  # "lease#<projectId>"
    owner = UnicodeAttribute()
    expiresAt = NumberAttribute()  # epoch seconds; also the table's TTL attribute


class PendingSecretItem(Model):
    """A webhook secret being installed at the provider (records.PendingSecret)."""

    repositoryUrl = UnicodeAttribute(hash_key=True)  # "pending#<connectionId>"
    # Not "projectId": an item with that attribute would appear in the project index.
    pendingProjectId = UnicodeAttribute()
    currentRepositoryUrl = UnicodeAttribute()  # the connection's repository
    serviceType = UnicodeAttribute()
    webhookSecret = BinaryAttribute(legacy_encoding=False)
    secretGeneration = NumberAttribute()
    updatedAt = UTCDateTimeAttribute()  # when it was staged
    expiresAt = NumberAttribute()  # epoch seconds; also the table's TTL attribute


class DeliveryLogEntry(MapAttribute[str, str]):
    """One entry of a delivery log (delivery_history.DeliveryEntry)."""

    deliveryId = UnicodeAttribute()
    eventKind = UnicodeAttribute()
    receivedAt = UnicodeAttribute()  # delivery_history.iso_utc: fixed width, sorts as text
    outcome = UnicodeAttribute()


class DeliveryLogItem(Model):
    """A connection's recent deliveries, without payloads (storage/delivery_history.py)."""

    repositoryUrl = UnicodeAttribute(hash_key=True)  # "deliveries#<connectionId>"
    entries = ListAttribute(of=DeliveryLogEntry, null=True)  # oldest appended first
    lastDeliveryAt = UnicodeAttribute(null=True)  # iso_utc; compared as text
    expiresAt = NumberAttribute(null=True)  # epoch seconds; also the table's TTL attribute


class ConnectionModels(NamedTuple):
    item: type[ConnectionItem]
    pointer: type[ProjectPointer]
    connection_pointer: type[ConnectionPointer]
    delivery: type[DeliveryRecord]
    lease: type[ProjectLease]
    pending: type[PendingSecretItem]
    delivery_log: type[DeliveryLogItem]


def connection_settings(region: str, host: str | None) -> dict[str, Any]:
    """Where the table is and how long to wait for it; for models and raw connections."""
    return {
        "region": region,
        "host": host,
        "connect_timeout_seconds": CONNECT_TIMEOUT_SECONDS,
        "read_timeout_seconds": READ_TIMEOUT_SECONDS,
        "max_retry_attempts": MAX_RETRY_ATTEMPTS,
    }


@cache
def connection_models(table_name: str, region: str, host: str | None = None) -> ConnectionModels:
    """Model classes bound to one table; cached so each table gets one pynamodb connection."""
    settings = {"table_name": table_name, **connection_settings(region, host)}

    def bind(schema: type[Any]) -> Any:
        return type(schema.__name__, (schema,), {"Meta": type("Meta", (), dict(settings))})

    return ConnectionModels(
        item=bind(ConnectionItem),
        pointer=bind(ProjectPointer),
        connection_pointer=bind(ConnectionPointer),
        delivery=bind(DeliveryRecord),
        lease=bind(ProjectLease),
        pending=bind(PendingSecretItem),
        delivery_log=bind(DeliveryLogItem),
    )


# Keys ----------------------------------------------------------------------------------------


def pointer_key(project_id: str) -> str:
    return f"{POINTER_KEY_PREFIX}{project_id}"


def connection_key(connection_id: str) -> str:
    return f"{CONNECTION_KEY_PREFIX}{connection_id}"


def delivery_key(connection_id: str, replay_key: str) -> str:
    return f"{DELIVERY_KEY_PREFIX}{connection_id}#{replay_key}"


def delivery_log_key(connection_id: str) -> str:
    return f"{DELIVERY_LOG_KEY_PREFIX}{connection_id}"


def lease_key(project_id: str) -> str:
    return f"{LEASE_KEY_PREFIX}{project_id}"


def pending_key(connection_id: str) -> str:
    return f"{PENDING_KEY_PREFIX}{connection_id}"


def require_repository_key(repository_url: str) -> None:
    if repository_url.startswith(_RESERVED_PREFIXES):
        raise ValueError("a repository URL cannot use a reserved key prefix")


def require_aware(*moments: datetime | None) -> None:
    # A naive datetime would be silently taken as UTC by pynamodb; refuse the ambiguity.
    if any(moment is not None and moment.utcoffset() is None for moment in moments):
        raise ValueError("timestamps must be timezone-aware")


# Records ↔ items -----------------------------------------------------------------------------


def to_item(model: type[ConnectionItem], stored: StoredConnection) -> ConnectionItem:
    values = {attribute: getattr(stored, name) for name, attribute in CONNECTION_ATTRIBUTES.items()}
    require_aware(*(value for value in values.values() if isinstance(value, datetime)))
    values["serviceType"] = stored.service_type.value
    return model(values.pop("repositoryUrl"), **values)


def to_stored(item: ConnectionItem) -> StoredConnection:
    return StoredConnection(**_fields(item, CONNECTION_FIELDS))


def to_webhook(item: ConnectionItem) -> WebhookConnection:
    """A connection item read with WEBHOOK_ITEM_ATTRIBUTES projected."""
    return WebhookConnection(**_fields(item, WEBHOOK_FIELDS))


def to_summary(item: ConnectionItem) -> ConnectionSummary:
    # Only GSI-projected attributes are read here; the secret ones are not in the result.
    return ConnectionSummary(**_fields(item, SUMMARY_FIELDS))


def _fields(item: ConnectionItem, names: tuple[str, ...]) -> dict[str, Any]:
    values = {name: getattr(item, CONNECTION_ATTRIBUTES[name]) for name in names}
    values["service_type"] = ServiceType(values["service_type"])
    if "secret_generation" in values:
        values["secret_generation"] = int(values["secret_generation"] or 0)
    return values
