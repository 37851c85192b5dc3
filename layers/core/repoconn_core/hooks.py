"""Provider webhooks as connect, disconnect and the health check manage them: the callback URL
and secret of a connection's hook, adopting or creating exactly one hook, and removing one.

The rules every caller shares: never a second hook for one callback URL (an existing one is
adopted, including one whose create answer was lost); a hook a failed change created is
deleted again, best effort, and a leftover is logged with its id for clean-up.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger
from pydantic import SecretStr

from repoconn_core.connection_secrets import ConnectionSecrets
from repoconn_core.errors import HookNotFound, ProviderUnavailable
from repoconn_core.ports import ClientFor, PendingSecrets, WebhookClient
from repoconn_core.providers import Hook, ProviderEndpoint, RepositoryRef, ServiceType
from repoconn_core.records import PendingSecret, SealedSecrets, StoredConnection
from repoconn_core.repository_url import parse_repository_url
from repoconn_core.settings import Settings

# A child of the handler's Logger: same JSON format and correlation id, no second config.
log = Logger(child=True)
# How long a staged secret verifies deliveries: past any connect or repair (API Gateway ends a
# request after 30 s), with room for the provider's in-flight deliveries after a failed one.
PENDING_SECRET_TTL = timedelta(minutes=10)


def new_webhook_secret() -> SecretStr:
    """32 random bytes, URL-safe (DESIGN.md "Provider clients")."""
    return SecretStr(secrets.token_urlsafe(32))


def callback_url_for(webhook_base_url: str, connection_id: str) -> str:
    """The URL a connection's hook delivers to."""
    return f"{webhook_base_url.rstrip('/')}/webhooks/{connection_id}"


@dataclass(frozen=True)
class ProviderAccess:
    """How the service reaches a repository's provider and what its hooks look like: the
    endpoints the URL rules accept, a client per endpoint, where hooks deliver to, a fresh
    secret per hook, and how long a secret rotated out stays accepted."""

    client_for: ClientFor
    endpoints: Mapping[str, ProviderEndpoint]
    webhook_base_url: str = ""
    secret_grace: timedelta = timedelta(hours=1)
    new_secret: Callable[[], SecretStr] = new_webhook_secret

    @classmethod
    def from_settings(cls, config: Settings, client_for: ClientFor) -> ProviderAccess:
        return cls(
            client_for,
            config.provider_endpoints(),
            config.webhook_base_url,
            timedelta(seconds=config.webhook_secret_grace_seconds),
        )

    def repository(self, url: str) -> RepositoryRef:
        """The repository a URL names, by the URL rules (raises InvalidRepositoryUrl)."""
        return parse_repository_url(url, self.endpoints)

    def client(self, repo: RepositoryRef) -> WebhookClient:
        return self.client_for(repo.endpoint)

    def callback_url(self, connection_id: str) -> str:
        return callback_url_for(self.webhook_base_url, connection_id)


def stage_pending_secret(
    store: PendingSecrets,
    *,
    connection_id: str,
    project_id: str,
    repository_url: str,
    service_type: ServiceType,
    sealed: SealedSecrets,
    now: datetime,
) -> PendingSecret:
    """Store the webhook secret of ``sealed`` before any provider is given it, so that what the
    provider signs with it at once (GitHub pings a hook it creates; a rotated hook signs with
    the new secret from the moment it is updated) verifies before the connection is written."""
    pending = PendingSecret(
        connection_id=connection_id,
        project_id=project_id,
        repository_url=repository_url,
        service_type=service_type,
        webhook_secret=sealed.webhook_secret,
        secret_generation=sealed.generation,
        staged_at=now,
        expires_at=now + PENDING_SECRET_TTL,
    )
    store.stage_secret(pending)
    return pending


def drop_pending_quietly(store: PendingSecrets, pending: PendingSecret) -> None:
    """Best effort: the staged secret is written into the connection (or its hook is gone);
    a leftover stops verifying at its expiry. Only this stage's item is deleted, not one a
    concurrent change staged since."""
    try:
        store.drop_pending_secret(pending)
    except Exception:
        log.warning(
            "could not delete a staged webhook secret; it expires by itself",
            extra={"connectionId": pending.connection_id},
        )


@dataclass(frozen=True)
class EnsuredHook:
    hook: Hook
    created: bool


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


def delete_stored_hook(
    stored: StoredConnection, secrets: ConnectionSecrets, providers: ProviderAccess
) -> None:
    """Delete the hook a stored connection names, with its stored token (one KMS Decrypt).
    A provider 404 counts as deleted; any other failure raises, and the caller decides what
    a hook left behind means."""
    if not stored.webhook_id:
        return
    repo = providers.repository(stored.repository_url)
    token = secrets.token(stored)
    providers.client(repo).delete_hook(repo, token, stored.webhook_id)
