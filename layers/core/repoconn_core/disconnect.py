"""Disconnect a project from its repository: remove the provider hook, then the connection.

The connection is removed even when the hook cannot be: a project admin who wants out must
get out. A hook left behind is logged with its id for clean-up, and the answer says so
(`webhookRemoved: false`). A provider 404 means the hook is already gone, which counts as
removed. Retrying a DELETE that failed on DynamoDB is safe: the hook is then already gone.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools import Logger

from repoconn_core.connection_secrets import ConnectionSecrets
from repoconn_core.errors import ConcurrentModification, ConnectionNotFound, DomainError
from repoconn_core.hooks import ProviderAccess, delete_stored_hook
from repoconn_core.identity import Principal, require_project_admin
from repoconn_core.leases import hold
from repoconn_core.ports import ConnectionDeleter, FieldCipher, ProjectLock
from repoconn_core.records import StoredConnection

log = Logger(child=True)


@dataclass(frozen=True)
class DisconnectResult:
    webhook_removed: bool


class DisconnectRepository:
    def __init__(
        self,
        *,
        store: ConnectionDeleter,
        cipher: FieldCipher,
        providers: ProviderAccess,
        leases: ProjectLock | None = None,
    ) -> None:
        """``leases``: as for ConnectRepository; wiring always passes them."""
        self._store = store
        self._leases = leases
        self._secrets = ConnectionSecrets(cipher)
        self._providers = providers

    def __call__(self, principal: Principal, project_id: str) -> DisconnectResult:
        require_project_admin(principal, project_id)
        # The same lease as connect: a reconnect must not update the hook deleted here.
        with hold(self._leases, project_id):
            return self._disconnect(project_id)

    def _disconnect(self, project_id: str) -> DisconnectResult:
        current = self._store.current_for_project(project_id)
        if current is None:
            raise ConnectionNotFound(f"Project {project_id} has no repository connection.")

        webhook_removed = self._remove_hook(current)
        if not self._store.delete(current):
            # Replaced or deleted between our read and our delete: let the caller re-read.
            raise ConcurrentModification("The project's repository connection changed meanwhile.")
        return DisconnectResult(webhook_removed=webhook_removed)

    def _remove_hook(self, stored: StoredConnection) -> bool:
        try:
            # A provider 404 (already gone) counts as removed.
            delete_stored_hook(stored, self._secrets, self._providers)
            return True
        except DomainError as error:
            log.warning(
                "webhook left at the provider; remove it by hand",
                extra={
                    "connectionId": stored.id,
                    "repositoryUrl": stored.repository_url,
                    "webhookId": stored.webhook_id,
                    "code": error.code,
                },
            )
            return False
