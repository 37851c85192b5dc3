"""Connections in DynamoDB, the transactional half: ``save`` and ``delete`` (connect,
re-connect, replace, disconnect). ``ConnectionStore`` (connection_store.py) adds the reads
and the single-item updates.

Why a project has at most one connection, even when two requests race
------------------------------------------------------------------------
A GSI cannot enforce uniqueness (it is eventually consistent and has no conditions), and
the item key only makes the *repository* unique. The project pointer (schema.py) makes the
*project* unique: every ``save`` writes the connection item and the project's pointer in ONE
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

import uuid
from collections.abc import Sequence

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PynamoDBException, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from repoconn_core.errors import ConcurrentModification, DomainError, RepositoryAlreadyConnected
from repoconn_core.records import StoredConnection
from repoconn_core.storage.failures import (
    dynamodb_failures,
    failed_roles,
    is_conflict,
    unavailable,
)
from repoconn_core.storage.schema import (
    ConnectionItem,
    connection_key,
    connection_models,
    connection_settings,
    pointer_key,
    require_repository_key,
    to_item,
)


class ConnectionWrites:
    def __init__(self, table_name: str, region: str, host: str | None = None) -> None:
        self._models = connection_models(table_name, region, host)
        # Transactions span two models, so they go through a connection of their own.
        self._connection = Connection(**connection_settings(region, host))

    # Transactions -----------------------------------------------------------------------

    def save(self, new: StoredConnection, *, replacing: StoredConnection | None) -> None:
        """Write ``new`` as the project's connection in one transaction (see module doc).

        ``replacing`` is the connection the caller read for this project (None when it saw
        none). Raises RepositoryAlreadyConnected when the repository belongs to another
        project, ConcurrentModification when the project's connection changed meanwhile,
        DependencyUnavailable when DynamoDB throttles or fails.
        """
        require_repository_key(new.repository_url)
        if replacing is not None and replacing.project_id != new.project_id:
            raise ValueError("replacing must be a connection of the same project")
        item_model, pointer_model = self._models.item, self._models.pointer
        item = to_item(item_model, new)
        pointer = pointer_model(
            pointer_key(new.project_id),
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
            pointer_condition = self._points_at(replacing)
        moves = replacing is not None and replacing.repository_url != new.repository_url
        by_id = self._models.connection_pointer(
            connection_key(new.id), currentRepositoryUrl=new.repository_url
        )

        # pynamodb sends deletes before puts; the roles list mirrors that request order, which
        # is the order of the cancellation reasons.
        roles = ["item", "pointer", "by_id"]
        if moves:
            roles = ["old_item", "old_by_id", *roles]
        try:
            with self._transaction() as transaction:
                if replacing is not None and moves:
                    transaction.delete(
                        item_model(replacing.repository_url), condition=self._is_item(replacing)
                    )
                    transaction.delete(
                        self._models.connection_pointer(connection_key(replacing.id))
                    )
                transaction.save(item, condition=item_condition)
                transaction.save(pointer, condition=pointer_condition)
                transaction.save(by_id)
        except TransactWriteError as error:
            if self._saved(new):
                # Applied; only the answer was lost (a read timeout, or the SDK's retry of the
                # applied transaction failing its own conditions).
                return
            failed = failed_roles(error, roles)
            if failed.get("item") == "ConditionalCheckFailed":
                raise RepositoryAlreadyConnected(
                    "The repository is connected to another project."
                ) from error
            raise _conflict_or_unavailable(error, failed) from error

    def delete(self, stored: StoredConnection) -> bool:
        """Delete the connection and the project's pointer in one transaction.

        False when the connection is already gone (deleted or replaced meanwhile).
        """
        roles = ["item", "pointer", "by_id"]
        try:
            with self._transaction() as transaction:
                transaction.delete(
                    self._models.item(stored.repository_url), condition=self._is_item(stored)
                )
                transaction.delete(
                    self._models.pointer(pointer_key(stored.project_id)),
                    condition=self._points_at(stored),
                )
                transaction.delete(self._models.connection_pointer(connection_key(stored.id)))
        except TransactWriteError as error:
            failed = failed_roles(error, roles)
            if not failed and self._deleted(stored):
                # No answer (a timeout) but applied. With an answer (a cancellation), "gone"
                # may be someone else's delete: that stays False, as documented above.
                return True
            if failed.get("item") == "ConditionalCheckFailed":
                return False
            raise _conflict_or_unavailable(error, failed) from error
        return True

    def _is_item(self, stored: StoredConnection) -> Condition:
        item_model = self._models.item
        return (item_model.projectId == stored.project_id) & (item_model.id == stored.id)

    def _points_at(self, stored: StoredConnection) -> Condition:
        pointer_model = self._models.pointer
        return (pointer_model.currentRepositoryUrl == stored.repository_url) & (
            pointer_model.connectionId == stored.id
        )

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
            pointer = self._models.pointer.get(pointer_key(new.project_id), consistent_read=True)
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
            self._models.pointer.get(pointer_key(stored.project_id), consistent_read=True)
        except DoesNotExist:
            return True
        except (DomainError, PynamoDBException):
            return False
        return False

    def _get_item(
        self, repository_url: str, attributes: Sequence[str] | None = None
    ) -> ConnectionItem | None:
        """The item (consistent), with only ``attributes`` when given (a projection)."""
        with dynamodb_failures():
            try:
                # A list: pynamodb reads a tuple as one attribute path.
                return self._models.item.get(
                    repository_url,
                    consistent_read=True,
                    attributes_to_get=list(attributes) if attributes is not None else None,
                )
            except DoesNotExist:
                return None


def _conflict_or_unavailable(error: TransactWriteError, failed: dict[str, str]) -> DomainError:
    if is_conflict(failed):
        return ConcurrentModification("The project's repository connection changed meanwhile.")
    return unavailable(error, failed)
