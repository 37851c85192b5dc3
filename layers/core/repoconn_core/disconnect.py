"""Disconnect a project from its repository: remove the provider hook, then the connection.

The connection is removed even when the hook cannot be: a project admin who wants out must
get out. A hook left behind is logged with its id for clean-up, and the answer says so
(`webhookRemoved: false`). A provider 404 means the hook is already gone, which counts as
removed. Retrying a DELETE that failed on DynamoDB is safe: the hook is then already gone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from aws_lambda_powertools import Logger

from repoconn_core.connect import ACCESS_TOKEN, ConnectionWriter, FieldCipher, ProjectLock, hold
from repoconn_core.errors import ConcurrentModification, ConnectionNotFound, DomainError
from repoconn_core.identity import Principal, require_project_admin
from repoconn_core.providers import ProviderEndpoint, WebhookClient
from repoconn_core.repository_url import parse_repository_url
from repoconn_core.store import StoredConnection

log = Logger(child=True)


class ConnectionDeleter(ConnectionWriter, Protocol):
    def delete(self, stored: StoredConnection) -> bool: ...


@dataclass(frozen=True)
class DisconnectResult:
    webhook_removed: bool


class DisconnectRepository:
    def __init__(
        self,
        *,
        store: ConnectionDeleter,
        cipher: FieldCipher,
        client_for: Callable[[ProviderEndpoint], WebhookClient],
        endpoints: Mapping[str, ProviderEndpoint],
        leases: ProjectLock | None = None,
    ) -> None:
        """``leases``: as for ConnectRepository; wiring always passes them."""
        self._store = store
        self._leases = leases
        self._cipher = cipher
        self._client_for = client_for
        self._endpoints = endpoints

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
        if not stored.webhook_id:
            return True
        try:
            repo = parse_repository_url(stored.repository_url, self._endpoints)
            token = self._cipher.decrypt_fields(
                {ACCESS_TOKEN: stored.access_token},
                project_id=stored.project_id,
                repository_url=stored.repository_url,
            )[ACCESS_TOKEN]
            # delete_hook answers False for a provider 404: already gone counts as removed.
            self._client_for(repo.endpoint).delete_hook(repo, token, stored.webhook_id)
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
