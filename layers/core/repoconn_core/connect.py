"""Connect (upsert) a project to a repository — the whole story in one place, in order:

authorise → validate the URL → take the project's lease (409 while another change runs,
leases.py) → preflight the token with the provider → refuse a repository another project
owns (409) → encrypt a fresh secret → stage it (hooks.stage_pending_secret) → ensure exactly
one hook with it → conditional write → drop the staged secret → remove the hook of a replaced
repository → release the lease.

The order is the authorization rule (docs/security.md, "Order of checks"): a caller learns
nothing about configured hosts before they are admin of the project, and whether a repository
is connected elsewhere only once the provider accepted their token for that repository.

Failure rules: a hook this call *created* is deleted again if anything after it fails, so a
failed connect leaves nothing behind at the provider; a hook it *updated* gets the stored
secret back, so deliveries keep verifying. Encryption comes before any change at the
provider, so a KMS failure changes nothing there. The new secret is stored (staged) before
the provider has it, so a delivery signed with it verifies from the first moment: GitHub
pings a hook as it creates it, and signs with a new secret as soon as it is updated. The
write is one DynamoDB transaction (see storage/connection_store.py), so there is never a
half-written connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger
from pydantic import SecretStr

from repoconn_core.clock import utc_now
from repoconn_core.connection_secrets import ConnectionSecrets, SealedSecrets
from repoconn_core.errors import (
    HookNotFound,
    ProviderUnavailable,
    RepositoryAlreadyConnected,
)
from repoconn_core.hooks import (
    EnsuredHook,
    ProviderAccess,
    adopt_or_create_hook,
    delete_hook_quietly,
    delete_stored_hook,
    drop_pending_quietly,
    stage_pending_secret,
)
from repoconn_core.identity import Principal, require_project_admin
from repoconn_core.leases import hold
from repoconn_core.models import ConnectRequest
from repoconn_core.ports import (
    ConnectionWriter,
    DeliveryHistoryReader,
    FieldCipher,
    ProjectLock,
    WebhookClient,
)
from repoconn_core.providers import RepositoryRef, webhook_signing
from repoconn_core.records import ConnectionSummary, StoredConnection
from repoconn_core.repository_url import check_service_type

log = Logger(child=True)


@dataclass(frozen=True)
class ConnectResult:
    connection: ConnectionSummary
    created: bool
    # A reconnect keeps its connection's delivery log: the newest delivery in it, if any.
    last_delivery_at: datetime | None = None


class ConnectRepository:
    def __init__(
        self,
        *,
        store: ConnectionWriter,
        cipher: FieldCipher,
        providers: ProviderAccess,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        leases: ProjectLock | None = None,
        history: DeliveryHistoryReader | None = None,
    ) -> None:
        """``leases``: None only where one request runs at a time (tests building the use
        case for a single call); wiring always passes the project leases. ``history``: where
        a reconnect's ``lastDeliveryAt`` is read (None: not read)."""
        self._history = history
        self._store = store
        self._leases = leases
        self._secrets = ConnectionSecrets(cipher)
        self._providers = providers
        self._clock = clock
        self._new_id = new_id

    def __call__(
        self, principal: Principal, project_id: str, request: ConnectRequest
    ) -> ConnectResult:
        require_project_admin(principal, project_id)
        repo = self._providers.repository(request.repositoryUrl)
        check_service_type(repo, request.serviceType)
        with hold(self._leases, project_id):
            return self._connect(project_id, repo, request.accessToken)

    def _connect(self, project_id: str, repo: RepositoryRef, token: SecretStr) -> ConnectResult:
        client = self._providers.client(repo)
        client.preflight(repo, token)

        current = self._store.current_for_project(project_id)
        existing = self._existing_connection(repo, current)
        if existing is not None and existing.project_id != project_id:
            raise RepositoryAlreadyConnected(
                "This repository is already connected to another project."
            )

        connection_id = existing.id if existing else self._new_id()
        secret = self._providers.new_secret()
        callback_url = self._providers.callback_url(connection_id)
        now = self._clock()
        if existing is not None:
            # The provider may still sign in-flight deliveries with the secret rotated out: it
            # stays accepted for a grace window, sealed again with that window's end.
            sealed = self._secrets.rotate(
                existing,
                token=token,
                webhook_secret=secret,
                previous_expires_at=now + self._providers.secret_grace,
            )
        else:
            sealed = self._secrets.seal(
                project_id=project_id,
                repository_url=repo.canonical_url,
                token=token,
                webhook_secret=secret,
                generation=1,
            )
        pending = stage_pending_secret(
            self._store,
            connection_id=connection_id,
            project_id=project_id,
            repository_url=repo.canonical_url,
            service_type=repo.service_type,
            sealed=sealed,
            now=now,
        )
        try:
            ensured = self._ensure_hook(client, repo, token, existing, callback_url, secret)
            try:
                new = self._build_connection(
                    connection_id, project_id, repo, sealed, ensured, existing, now
                )
                self._store.save(new, replacing=current)
            except BaseException:
                if ensured.created:
                    delete_hook_quietly(
                        client, repo, token, ensured.hook, connectionId=connection_id
                    )
                elif existing is not None:
                    self._restore_secret(
                        client, repo, token, existing, ensured.hook.id, callback_url
                    )
                raise
        finally:
            # Stored in the connection, or the hook is gone or has its stored secret back.
            drop_pending_quietly(self._store, pending)

        if current is not None and current.repository_url != repo.canonical_url:
            self._remove_replaced_hook(current)
        return ConnectResult(
            connection=new.summary(),
            created=existing is None,
            last_delivery_at=None if existing is None else self._last_delivery_at(new.id, now),
        )

    def _last_delivery_at(self, connection_id: str, now: datetime) -> datetime | None:
        """Best effort (one GetItem, reconnects only): the connection is written; a log that
        cannot be read must not turn that into an error."""
        if self._history is None:
            return None
        try:
            return self._history.last_delivery_at(connection_id, now)
        except Exception:
            log.warning("lastDeliveryAt not read", extra={"connectionId": connection_id})
            return None

    def _existing_connection(
        self, repo: RepositoryRef, current: StoredConnection | None
    ) -> StoredConnection | None:
        if current is not None and current.repository_url == repo.canonical_url:
            return current
        return self._store.get(repo.canonical_url)

    def _ensure_hook(
        self,
        client: WebhookClient,
        repo: RepositoryRef,
        token: SecretStr,
        existing: StoredConnection | None,
        callback_url: str,
        secret: SecretStr,
    ) -> EnsuredHook:
        """Update the hook we know, else adopt one already pointing at us, else create one —
        so reconnecting never leaves a second hook behind."""
        if existing is not None and existing.webhook_id:
            try:
                hook = client.update_hook(repo, token, existing.webhook_id, callback_url, secret)
                return EnsuredHook(hook, created=False)
            except HookNotFound:
                log.info("stored hook is gone at the provider; looking for ours by URL")
            except ProviderUnavailable:
                # The update may have been applied with its answer lost.
                self._restore_secret(
                    client, repo, token, existing, existing.webhook_id, callback_url
                )
                raise
        return adopt_or_create_hook(client, repo, token, callback_url, secret)

    def _restore_secret(
        self,
        client: WebhookClient,
        repo: RepositoryRef,
        token: SecretStr,
        existing: StoredConnection,
        hook_id: str,
        callback_url: str,
    ) -> None:
        """Best effort: the hook gets back the secret still stored for it, so deliveries keep
        verifying after a failed reconnect. One KMS Decrypt, on failures only."""
        try:
            stored = self._secrets.webhook_secret(existing)
            client.update_hook(repo, token, hook_id, callback_url, stored)
        except Exception:
            log.warning(
                "could not give the hook its stored secret back; deliveries fail verification "
                "until the next successful connect",
                extra={
                    "connectionId": existing.id,
                    "repositoryUrl": existing.repository_url,
                    "webhookId": hook_id,
                },
            )

    def _build_connection(
        self,
        connection_id: str,
        project_id: str,
        repo: RepositoryRef,
        sealed: SealedSecrets,
        ensured: EnsuredHook,
        existing: StoredConnection | None,
        now: datetime,
    ) -> StoredConnection:
        return StoredConnection(
            id=connection_id,
            project_id=project_id,
            repository_url=repo.canonical_url,
            service_type=repo.service_type,
            access_token=sealed.access_token,
            webhook_secret=sealed.webhook_secret,
            webhook_id=ensured.hook.id,
            is_active=True,
            last_sync_at=now,
            created_at=existing.created_at if existing else now,
            updated_at=now,
            previous_webhook_secret=sealed.previous_webhook_secret,
            previous_secret_expires_at=sealed.previous_secret_expires_at,
            secret_generation=sealed.generation,
            webhook_signing=webhook_signing(ensured.hook),
        )

    def _remove_replaced_hook(self, old: StoredConnection) -> None:
        """The project moved to another repository: remove the old hook, best effort."""
        try:
            delete_stored_hook(old, self._secrets, self._providers)
        except Exception:
            log.warning(
                "could not remove the hook of the replaced repository; clean up by hand",
                extra={"repositoryUrl": old.repository_url, "webhookId": old.webhook_id},
            )
