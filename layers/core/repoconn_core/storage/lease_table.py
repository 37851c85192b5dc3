"""Project leases in DynamoDB (why a project has one: leases.py): a ``lease#<projectId>`` item
taken by a PutItem conditioned on "absent or expired" and given back by a DeleteItem
conditioned on the owner token. Like a delivery record's, the condition reads ``expiresAt``;
TTL only tidies up."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DeleteError, PutError, PynamoDBException

from repoconn_core.storage.failures import condition_failed, unavailable
from repoconn_core.storage.schema import connection_models, lease_key, require_aware


class LeaseTable:
    def __init__(self, table_name: str, region: str, host: str | None = None) -> None:
        self._model = connection_models(table_name, region, host).lease

    def acquire_lease(
        self, project_id: str, owner: str, *, at: datetime, expires_at: datetime
    ) -> bool:
        """Take the project's lease for ``owner`` until ``expires_at`` (one conditional
        PutItem); False while someone else holds an unexpired one."""
        require_aware(at, expires_at)
        model = self._model
        lease = model(lease_key(project_id), owner=owner, expiresAt=int(expires_at.timestamp()))
        try:
            lease.save(
                condition=model.repositoryUrl.does_not_exist()
                | (model.expiresAt < int(at.timestamp()))
            )
        except PutError as error:
            if self._owner(project_id) == owner:
                # Applied, answer lost (or the SDK's retry met our own lease): it is ours.
                # Without this check the project stayed locked (409) until the lease expired.
                return True
            if condition_failed(error):
                return False
            raise unavailable(error) from error
        return True

    def release_lease(self, project_id: str, owner: str) -> None:
        """Give the lease back (one DeleteItem), unless it expired and another owner has it."""
        try:
            self._model(lease_key(project_id)).delete(condition=self._model.owner == owner)
        except DeleteError as error:
            if condition_failed(error):
                return
            raise unavailable(error) from error

    def _owner(self, project_id: str) -> str | None:
        try:
            return str(self._model.get(lease_key(project_id), consistent_read=True).owner)
        except PynamoDBException:  # DoesNotExist included
            return None
