"""Connect (upsert) a project to a repository — the whole story in one place, in order:

validate → authorise → take the project's lease (409 while another change runs, leases.py)
→ refuse a repository another project owns (409) → preflight the token with the provider →
ensure exactly one hook with a fresh secret → encrypt → conditional write → remove the hook
of a replaced repository → release the lease.

Failure rules: a hook this call *created* is deleted again if anything after it fails, so a
failed connect leaves nothing behind at the provider; a hook it *updated* gets the stored
secret back, so deliveries keep verifying. Encryption comes before any change at the
provider, so a KMS failure changes nothing there. The write is one DynamoDB transaction
(see store.py), so there is never a half-written connection.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from aws_lambda_powertools import Logger
from pydantic import SecretStr

from repoconn_core.errors import HookNotFound, ProviderUnavailable, RepositoryAlreadyConnected
from repoconn_core.identity import Principal, require_project_admin
from repoconn_core.models import ConnectRequest
from repoconn_core.providers import Hook, ProviderEndpoint, RepositoryRef, WebhookClient
from repoconn_core.repository_url import check_service_type, parse_repository_url
from repoconn_core.store import ConnectionSummary, StoredConnection

ACCESS_TOKEN = "accessToken"  # noqa: S105 - a field name, not a secret
WEBHOOK_SECRET = "webhookSecret"  # noqa: S105 - a field name

# A child of the handler's Logger: same JSON format and correlation id, no second config.
log = Logger(child=True)


class ConnectionWriter(Protocol):
    def get(self, repository_url: str) -> StoredConnection | None: ...

    def current_for_project(self, project_id: str) -> StoredConnection | None: ...

    def save(self, new: StoredConnection, *, replacing: StoredConnection | None) -> None: ...


class ProjectLock(Protocol):
    def hold(self, project_id: str) -> AbstractContextManager[None]:
        """Raises ConcurrentModification while another change to the project runs."""


class FieldCipher(Protocol):
    def encrypt_fields(
        self, *, project_id: str, repository_url: str, fields: Mapping[str, SecretStr]
    ) -> dict[str, bytes]: ...

    def decrypt_fields(
        self, blobs: Mapping[str, bytes], *, project_id: str, repository_url: str
    ) -> dict[str, SecretStr]: ...


def new_webhook_secret() -> SecretStr:
    """32 random bytes, URL-safe (DESIGN.md "Provider clients")."""
    return SecretStr(secrets.token_urlsafe(32))


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ConnectResult:
    connection: ConnectionSummary
    created: bool


@dataclass(frozen=True)
class EnsuredHook:
    hook: Hook
    created: bool


def callback_url_for(webhook_base_url: str, connection_id: str) -> str:
    """The URL a connection's hook delivers to."""
    return f"{webhook_base_url.rstrip('/')}/webhooks/{connection_id}"


def hold(leases: ProjectLock | None, project_id: str) -> AbstractContextManager[None]:
    """The project's lease for a block, or nothing when the use case runs without leases."""
    return nullcontext() if leases is None else leases.hold(project_id)


def adopt_or_create_hook(
    client: WebhookClient,
    repo: RepositoryRef,
    token: SecretStr,
    callback_url: str,
    secret: SecretStr,
) -> EnsuredHook:
    """Adopt a hook already pointing at our callback URL (an earlier attempt that failed to
    store, or a provider that restored it), else create one — never a second hook."""
    found = client.find_hook(repo, token, callback_url)
    if found is not None:
        try:
            return EnsuredHook(
                client.update_hook(repo, token, found.id, callback_url, secret), created=False
            )
        except HookNotFound:
            # Deleted between our search and our update (by hand, at the provider): the hook
            # is gone, so create one rather than answer 404 to a PUT.
            log.info("the hook found by its callback URL is gone; creating one")
    try:
        return EnsuredHook(client.create_hook(repo, token, callback_url, secret), created=True)
    except ProviderUnavailable:
        # POST is never retried (a repeat could make a second hook), so a create whose answer
        # was lost (timeout, reset) may have made the hook all the same. Look once: adopt it,
        # or there is nothing to leave behind.
        landed = _find_quietly(client, repo, token, callback_url)
        if landed is None:
            raise
    log.info(
        "adopting a hook whose create answer was lost",
        extra={"repositoryUrl": repo.canonical_url, "webhookId": landed.id},
    )
    try:
        hook = client.update_hook(repo, token, landed.id, callback_url, secret)
    except Exception:
        delete_hook_quietly(client, repo, token, landed)
        raise
    return EnsuredHook(hook, created=True)


def _find_quietly(
    client: WebhookClient, repo: RepositoryRef, token: SecretStr, callback_url: str
) -> Hook | None:
    try:
        return client.find_hook(repo, token, callback_url)
    except Exception:
        return None


def delete_hook_quietly(
    client: WebhookClient, repo: RepositoryRef, token: SecretStr, hook: Hook, **ids: str
) -> None:
    """Best-effort removal of a hook this process created; the original failure (or the
    winning concurrent change) is what matters. A leftover hook is logged for clean-up."""
    try:
        client.delete_hook(repo, token, hook.id)
    except Exception:
        log.warning(
            "could not delete a hook created by a failed change; clean up by hand",
            extra={**ids, "repositoryUrl": repo.canonical_url, "webhookId": hook.id},
        )


class ConnectRepository:
    def __init__(
        self,
        *,
        store: ConnectionWriter,
        cipher: FieldCipher,
        client_for: Callable[[ProviderEndpoint], WebhookClient],
        endpoints: Mapping[str, ProviderEndpoint],
        webhook_base_url: str,
        secret_grace: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        new_secret: Callable[[], SecretStr] = new_webhook_secret,
        leases: ProjectLock | None = None,
    ) -> None:
        """``leases``: None only where one request runs at a time (tests building the use
        case for a single call); wiring always passes the project leases."""
        self._store = store
        self._leases = leases
        self._cipher = cipher
        self._client_for = client_for
        self._endpoints = endpoints
        self._webhook_base_url = webhook_base_url.rstrip("/")
        self._secret_grace = secret_grace
        self._clock = clock
        self._new_id = new_id
        self._new_secret = new_secret

    def __call__(
        self, principal: Principal, project_id: str, request: ConnectRequest
    ) -> ConnectResult:
        repo = parse_repository_url(request.repositoryUrl, self._endpoints)
        check_service_type(repo, request.serviceType)
        require_project_admin(principal, project_id)
        with hold(self._leases, project_id):
            return self._connect(project_id, repo, request.accessToken)

    def _connect(self, project_id: str, repo: RepositoryRef, token: SecretStr) -> ConnectResult:
        current = self._store.current_for_project(project_id)
        existing = self._existing_connection(repo, current)
        if existing is not None and existing.project_id != project_id:
            raise RepositoryAlreadyConnected(
                "This repository is already connected to another project."
            )

        client = self._client_for(repo.endpoint)
        client.preflight(repo, token)

        connection_id = existing.id if existing else self._new_id()
        secret = self._new_secret()
        callback_url = callback_url_for(self._webhook_base_url, connection_id)
        blobs = self._cipher.encrypt_fields(
            project_id=project_id,
            repository_url=repo.canonical_url,
            fields={ACCESS_TOKEN: token, WEBHOOK_SECRET: secret},
        )
        ensured = self._ensure_hook(client, repo, token, existing, callback_url, secret)
        try:
            new = self._build_connection(connection_id, project_id, repo, blobs, ensured, existing)
            self._store.save(new, replacing=current)
        except BaseException:
            if ensured.created:
                delete_hook_quietly(client, repo, token, ensured.hook, connectionId=connection_id)
            elif existing is not None:
                self._restore_secret(client, repo, token, existing, ensured.hook.id, callback_url)
            raise

        if current is not None and current.repository_url != repo.canonical_url:
            self._remove_replaced_hook(current)
        return ConnectResult(connection=new.summary(), created=existing is None)

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
            stored = self._cipher.decrypt_fields(
                {WEBHOOK_SECRET: existing.webhook_secret},
                project_id=existing.project_id,
                repository_url=existing.repository_url,
            )[WEBHOOK_SECRET]
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
        blobs: Mapping[str, bytes],
        ensured: EnsuredHook,
        existing: StoredConnection | None,
    ) -> StoredConnection:
        now = self._clock()
        fresh = StoredConnection(
            id=connection_id,
            project_id=project_id,
            repository_url=repo.canonical_url,
            service_type=repo.service_type,
            access_token=blobs[ACCESS_TOKEN],
            webhook_secret=blobs[WEBHOOK_SECRET],
            webhook_id=ensured.hook.id,
            is_active=True,
            last_sync_at=now,
            created_at=now,
            updated_at=now,
        )
        if existing is None:
            return fresh
        # The provider may still sign in-flight deliveries with the secret just rotated out:
        # keep its ciphertext (bound to the same item and field) for a grace window.
        return replace(
            fresh,
            created_at=existing.created_at,
            previous_webhook_secret=existing.webhook_secret,
            previous_secret_expires_at=now + self._secret_grace,
        )

    def _remove_replaced_hook(self, old: StoredConnection) -> None:
        """The project moved to another repository: remove the old hook, best effort."""
        if not old.webhook_id:
            return
        try:
            repo = parse_repository_url(old.repository_url, self._endpoints)
            token = self._cipher.decrypt_fields(
                {ACCESS_TOKEN: old.access_token},
                project_id=old.project_id,
                repository_url=old.repository_url,
            )[ACCESS_TOKEN]
            self._client_for(repo.endpoint).delete_hook(repo, token, old.webhook_id)
        except Exception:
            log.warning(
                "could not remove the hook of the replaced repository; clean up by hand",
                extra={"repositoryUrl": old.repository_url, "webhookId": old.webhook_id},
            )
