"""Connections in DynamoDB: the reads (GSI summaries, consistent reads by URL, project and
id, the health check's scan, the relay's batch read) and single-item conditional updates, on
top of the transactional ``save`` and ``delete`` of ``ConnectionWrites`` (connection_writes.py).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

from pynamodb.constants import NONE
from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from repoconn_core.providers import ServiceType
from repoconn_core.records import (
    HOOK_FIELDS,
    RESEALED_FIELDS,
    ConnectionSummary,
    PendingSecret,
    StoredConnection,
    WebhookConnection,
)
from repoconn_core.storage.connection_writes import ConnectionWrites
from repoconn_core.storage.failures import condition_failed, dynamodb_failures, unavailable
from repoconn_core.storage.schema import (
    CONNECTION_ATTRIBUTES,
    CONNECTION_POINTER_ATTRIBUTES,
    PENDING_SECRET_ATTRIBUTES,
    WEBHOOK_ITEM_ATTRIBUTES,
    connection_key,
    pending_key,
    pointer_key,
    require_aware,
    require_repository_key,
    to_stored,
    to_summary,
    to_webhook,
)

# Connection ids whose repository URL a store remembers (see get_by_id); ~100 bytes each.
KNOWN_CONNECTION_IDS = 4096


class ConnectionStore(ConnectionWrites):
    def __init__(self, table_name: str, region: str, host: str | None = None) -> None:
        super().__init__(table_name, region, host)
        # Connection id -> the repository URL keying its item, learnt from consistent pointer
        # reads. A connection keeps one repository for life (another repository is a new
        # connection with a new id), so the mapping never goes stale; only the item can go.
        self._repository_by_id: OrderedDict[str, str] = OrderedDict()
        self._repository_by_id_lock = threading.Lock()

    # Reads ------------------------------------------------------------------------------

    def summary_for_project(self, project_id: str) -> ConnectionSummary | None:
        """The project's connection from the GSI (one Query, eventually consistent)."""
        with dynamodb_failures():
            found = next(iter(self._models.item.project_index.query(project_id, limit=1)), None)
        return None if found is None else to_summary(found)

    def exists_for_project(self, project_id: str) -> bool:
        """Whether the project has a connection, from the GSI (one Query)."""
        with dynamodb_failures():
            results = self._models.item.project_index.query(
                project_id, limit=1, attributes_to_get=["id"]
            )
            return next(iter(results), None) is not None

    def get(self, repository_url: str) -> StoredConnection | None:
        """The connection stored under a canonical repository URL (consistent read)."""
        require_repository_key(repository_url)
        item = self._get_item(repository_url)
        return None if item is None else to_stored(item)

    def current_for_project(self, project_id: str) -> StoredConnection | None:
        """The project's connection, read consistently: pointer first, then the item."""
        with dynamodb_failures():
            try:
                pointer = self._models.pointer.get(pointer_key(project_id), consistent_read=True)
            except DoesNotExist:
                return None
        item = self._get_item(pointer.currentRepositoryUrl)
        # Transactions keep pointer and item in step; a mismatch means no usable connection.
        if item is None or item.projectId != project_id or item.id != pointer.connectionId:
            return None
        return to_stored(item)

    def get_by_id(self, connection_id: str) -> WebhookConnection | None:
        """What the webhook receiver reads of the connection with this id (consistent): its
        pointer, then the item — both projected, so the access token is never read
        (WEBHOOK_ITEM_ATTRIBUTES; IAM allows the receiver no other attribute).

        The receiver's hot path: once an id's pointer has been read, later calls read only
        the item (one consistent GetItem instead of two) and check that it still carries this
        id; if it does not (deleted, replaced), the pointer is read again as the first time,
        so the answer is the same as without the shortcut.
        """
        with self._repository_by_id_lock:
            known = self._repository_by_id.get(connection_id)
        if known is not None:
            item = self._get_item(known, WEBHOOK_ITEM_ATTRIBUTES)
            if item is not None and item.id == connection_id:
                return to_webhook(item)
            with self._repository_by_id_lock:
                self._repository_by_id.pop(connection_id, None)
        with dynamodb_failures():
            try:
                pointer = self._models.connection_pointer.get(
                    connection_key(connection_id),
                    consistent_read=True,
                    attributes_to_get=list(CONNECTION_POINTER_ATTRIBUTES),
                )
            except DoesNotExist:
                return None
        item = self._get_item(pointer.currentRepositoryUrl, WEBHOOK_ITEM_ATTRIBUTES)
        if item is None or item.id != connection_id:
            return None
        with self._repository_by_id_lock:
            self._repository_by_id[connection_id] = pointer.currentRepositoryUrl
            while len(self._repository_by_id) > KNOWN_CONNECTION_IDS:
                self._repository_by_id.popitem(last=False)
        return to_webhook(item)

    def scan_connections(self, page_size: int = 100) -> Iterator[StoredConnection]:
        """Every connection item, page by page, never reading anything else.

        The keys come from a Scan of the project index, which holds connection items only
        (pointers, leases and delivery records have no ``projectId``); each page's items from
        one consistent BatchGetItem. A table Scan would read — and pay for — a week of delivery
        records to skip them. The index is eventually consistent: a connection written in the
        last moment may be missed, and is picked up by the next pass; one deleted meanwhile is
        left out.
        """
        index = self._models.item.project_index
        keys: list[str] = []
        with dynamodb_failures():
            for entry in index.scan(page_size=page_size, attributes_to_get=["repositoryUrl"]):
                keys.append(entry.repositoryUrl)
                if len(keys) == page_size:
                    yield from self._in_order(keys)
                    keys = []
            if keys:
                yield from self._in_order(keys)

    def _in_order(self, keys: list[str]) -> Iterator[StoredConnection]:
        found = self.connections_at(keys)
        return (found[key] for key in keys if key in found)

    def connections_at(self, repository_urls: Iterable[str]) -> dict[str, StoredConnection]:
        """The connection items at these keys (consistent BatchGetItem), by repository URL;
        keys without an item are left out."""
        keys = sorted(set(repository_urls))
        if not keys:
            return {}
        with dynamodb_failures():
            items = self._models.item.batch_get(keys, consistent_read=True)
            return {item.repositoryUrl: to_stored(item) for item in items}

    # Pending secrets (records.PendingSecret) ----------------------------------------------

    def stage_secret(self, pending: PendingSecret) -> None:
        """Store the secret about to be installed at the provider (one PutItem, replacing an
        earlier one of this connection)."""
        require_aware(pending.staged_at, pending.expires_at)
        item = self._models.pending(
            pending_key(pending.connection_id),
            pendingProjectId=pending.project_id,
            currentRepositoryUrl=pending.repository_url,
            serviceType=pending.service_type.value,
            webhookSecret=pending.webhook_secret,
            secretGeneration=pending.secret_generation,
            updatedAt=pending.staged_at,
            expiresAt=int(pending.expires_at.timestamp()),
        )
        with dynamodb_failures():
            item.save()

    def pending_secret(self, connection_id: str, now: datetime) -> PendingSecret | None:
        """The connection's staged secret (consistent, projected: the receiver's read); None
        when there is none or it expired (TTL deletes lazily, so the expiry is checked here)."""
        with dynamodb_failures():
            try:
                item = self._models.pending.get(
                    pending_key(connection_id),
                    consistent_read=True,
                    attributes_to_get=list(PENDING_SECRET_ATTRIBUTES),
                )
            except DoesNotExist:
                return None
        if item.expiresAt <= now.timestamp():
            return None
        return PendingSecret(
            connection_id=connection_id,
            project_id=item.pendingProjectId,
            repository_url=item.currentRepositoryUrl,
            service_type=ServiceType(item.serviceType),
            webhook_secret=item.webhookSecret,
            secret_generation=int(item.secretGeneration),
            staged_at=item.updatedAt,
            expires_at=datetime.fromtimestamp(item.expiresAt, UTC),
        )

    def drop_pending_secret(self, pending: PendingSecret) -> None:
        """Delete this staged secret (one DeleteItem). Gone already, or replaced by a later
        stage (another ``updatedAt``), is fine: that one is not ours to delete."""
        model = self._models.pending
        try:
            model(pending_key(pending.connection_id)).delete(
                condition=model.updatedAt == pending.staged_at
            )
        except DeleteError as error:
            if not condition_failed(error):
                raise unavailable(error) from error

    # Single-item updates ----------------------------------------------------------------

    def touch_last_sync(self, repository_url: str, connection_id: str, at: datetime) -> bool:
        """Advance lastSyncAt to ``at`` (one UpdateItem; updatedAt is left alone).

        False when the connection is gone or replaced, or a later sync is already recorded,
        so out-of-order deliveries never move lastSyncAt backwards. The stored format
        (fixed-width UTC ISO 8601) sorts as text, which makes the ``<`` condition correct.
        """
        require_aware(at)
        item_model = self._models.item
        condition = (item_model.id == connection_id) & (
            item_model.lastSyncAt.does_not_exist() | (item_model.lastSyncAt < at)
        )
        return self._update(repository_url, [item_model.lastSyncAt.set(at)], condition)

    def record_health(
        self, stored: StoredConnection, *, status: str, reason: str, at: datetime
    ) -> bool:
        """Set the health fields; False when the connection is gone or was replaced."""
        require_aware(at)
        item_model = self._models.item
        actions = [
            item_model.healthStatus.set(status),
            item_model.healthReason.set(reason),
            item_model.lastHealthCheckAt.set(at),
        ]
        return self._update(stored.repository_url, actions, item_model.id == stored.id)

    def replace_webhook(self, stored: StoredConnection, repaired: StoredConnection) -> bool:
        """Store a re-created hook (health repair): ``repaired``'s secrets, hook id, whether it
        signs, grace window and updatedAt, only if nobody changed the connection since
        ``stored`` was read (updatedAt is the version)."""
        return self._replace(stored, repaired, HOOK_FIELDS)

    def replace_secrets(self, stored: StoredConnection, resealed: StoredConnection) -> bool:
        """Store resealed secrets (re-encryption): as ``replace_webhook``, without touching how
        the hook signs (its role may not write that)."""
        return self._replace(stored, resealed, RESEALED_FIELDS)

    def _replace(
        self, stored: StoredConnection, new: StoredConnection, names: Sequence[str]
    ) -> bool:
        require_aware(new.updated_at, new.previous_secret_expires_at)
        item_model = self._models.item
        actions = [
            getattr(item_model, CONNECTION_ATTRIBUTES[name]).set(getattr(new, name))
            for name in names
        ]
        unchanged = (item_model.id == stored.id) & (item_model.updatedAt == stored.updated_at)
        return self._update(stored.repository_url, actions, unchanged)

    def _update(self, repository_url: str, actions: Sequence[Action], condition: Condition) -> bool:
        """One conditional UpdateItem; False when its condition failed.

        Through the table connection, not ``Model.update``: that asks for ``ReturnValues:
        ALL_NEW`` — the whole item back, ciphertext included — which the functions' IAM
        conditions refuse (``dynamodb:ReturnValues``, docs/security.md) and nothing here reads.
        """
        try:
            self._models.item._get_connection().update_item(
                repository_url, actions=list(actions), condition=condition, return_values=NONE
            )
        except UpdateError as error:
            if condition_failed(error):
                return False
            raise unavailable(error) from error
        return True
