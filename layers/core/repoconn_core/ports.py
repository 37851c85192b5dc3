"""The ports: what the use cases need from storage, the cipher, the provider layer and the bus.

Protocols only. The use cases name these; the adapters (``repoconn_core.storage``,
``repoconn_core.cipher``, ``repoconn_core.publisher``, ``repoconn_providers``) implement them,
and only the composition roots (``repoconn_core.wiring``, ``repoconn_providers.wiring``)
put the two together. Tests pass fakes or the real adapters on moto / DynamoDB Local.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from pydantic import SecretStr

from repoconn_core.delivery_events import DeliveryEvent
from repoconn_core.delivery_history import DeliveryEntry, DeliveryLogView
from repoconn_core.providers import (
    DeliveryAttempt,
    DeliveryHistory,
    Hook,
    ProviderEndpoint,
    RepositoryRef,
)
from repoconn_core.records import (
    ConnectionSummary,
    DeliveryOutcome,
    PendingSecret,
    StoredConnection,
    WebhookConnection,
)

# Connections ---------------------------------------------------------------------------------


class SummaryReader(Protocol):
    def summary_for_project(self, project_id: str) -> ConnectionSummary | None: ...

    def exists_for_project(self, project_id: str) -> bool: ...


class PendingSecrets(Protocol):
    """Where a new webhook secret waits while the provider is given it (records.PendingSecret)."""

    def stage_secret(self, pending: PendingSecret) -> None: ...

    def drop_pending_secret(self, pending: PendingSecret) -> None: ...


class ConnectionWriter(PendingSecrets, Protocol):
    def get(self, repository_url: str) -> StoredConnection | None: ...

    def current_for_project(self, project_id: str) -> StoredConnection | None: ...

    def save(self, new: StoredConnection, *, replacing: StoredConnection | None) -> None: ...


class ConnectionDeleter(ConnectionWriter, Protocol):
    def delete(self, stored: StoredConnection) -> bool: ...


class ConnectionById(Protocol):
    def get_by_id(self, connection_id: str) -> WebhookConnection | None: ...

    def pending_secret(self, connection_id: str, now: datetime) -> PendingSecret | None: ...


class HealthStore(PendingSecrets, Protocol):
    def scan_connections(self, page_size: int = ...) -> Iterator[StoredConnection]: ...

    def get(self, repository_url: str) -> StoredConnection | None: ...

    def record_health(
        self, stored: StoredConnection, *, status: str, reason: str, at: datetime
    ) -> bool: ...

    def replace_webhook(self, stored: StoredConnection, repaired: StoredConnection) -> bool: ...


class RelayStore(Protocol):
    def connections_at(self, repository_urls: Iterable[str]) -> dict[str, StoredConnection]: ...

    def touch_last_sync(self, repository_url: str, connection_id: str, at: datetime) -> bool: ...


# Deliveries and leases -----------------------------------------------------------------------


class DeliveryRecorder(Protocol):
    def record_delivery(
        self,
        stored: WebhookConnection,
        delivery_id: str,
        event: DeliveryEvent,
        expires_at: datetime,
        *,
        replay_key: str,
    ) -> DeliveryOutcome:
        """Record once per ``replay_key`` (receive.py: the body's digest) within the window."""


class DeliveryHistoryWriter(Protocol):
    """Appends to a connection's delivery log (delivery_history.py); never reads it."""

    def append_deliveries(
        self, connection_id: str, entries: Sequence[DeliveryEntry], *, at: datetime
    ) -> None:
        """Append ``entries`` in order, keeping the log bounded; the log expires ``at`` plus
        the retention. Raises DependencyUnavailable when DynamoDB cannot take it."""


class DeliveryHistoryReader(Protocol):
    def delivery_log(self, connection_id: str, now: datetime) -> DeliveryLogView: ...

    def last_delivery_at(self, connection_id: str, now: datetime) -> datetime | None: ...


class EventPublisher(Protocol):
    def publish(self, events: Sequence[DeliveryEvent]) -> int:
        """How many events, from the first, were accepted."""


class LeaseStore(Protocol):
    def acquire_lease(
        self, project_id: str, owner: str, *, at: datetime, expires_at: datetime
    ) -> bool: ...

    def release_lease(self, project_id: str, owner: str) -> None: ...


class ProjectLock(Protocol):
    def hold(self, project_id: str) -> AbstractContextManager[None]:
        """Raises ConcurrentModification while another change to the project runs."""


# Secrets -------------------------------------------------------------------------------------


class FieldCipher(Protocol):
    def encrypt_fields(
        self,
        *,
        project_id: str,
        repository_url: str,
        fields: Mapping[str, SecretStr],
        bindings: Mapping[str, str] | None = None,
    ) -> dict[str, bytes]: ...

    def decrypt_fields(
        self,
        blobs: Mapping[str, bytes],
        *,
        project_id: str,
        repository_url: str,
        bindings: Mapping[str, str] | None = None,
    ) -> dict[str, SecretStr]: ...


class CurrentFormat(Protocol):
    """What re-encryption asks the cipher besides opening and sealing."""

    def is_current(self, blob: bytes) -> bool: ...


class ReencryptingCipher(FieldCipher, CurrentFormat, Protocol):
    pass


class ReconcileStore(Protocol):
    """What the reconciliation (reconcile.py) reads: it writes nothing."""

    def scan_connections(self, page_size: int = ...) -> Iterator[StoredConnection]: ...


class ReencryptStore(Protocol):
    """What re-encryption (reencrypt.py) reads and writes."""

    def scan_connections(self, page_size: int = ...) -> Iterator[StoredConnection]: ...

    def get(self, repository_url: str) -> StoredConnection | None: ...

    def replace_secrets(self, stored: StoredConnection, resealed: StoredConnection) -> bool: ...


# Providers -----------------------------------------------------------------------------------


class WebhookClient(Protocol):
    """One provider's REST API, as far as connections need it.

    Every method raises the typed errors of ``repoconn_core.errors`` (InvalidToken,
    InsufficientPermissions, RepositoryNotFound, ProviderUnavailable, ProviderRateLimited).
    """

    def preflight(self, repo: RepositoryRef, token: SecretStr) -> None:
        """Token valid, repository visible, token may manage hooks."""

    def create_hook(
        self, repo: RepositoryRef, token: SecretStr, callback_url: str, secret: SecretStr
    ) -> Hook: ...

    def update_hook(
        self,
        repo: RepositoryRef,
        token: SecretStr,
        hook_id: str,
        callback_url: str,
        secret: SecretStr,
    ) -> Hook:
        """Raises HookNotFound when the hook no longer exists."""

    def get_hook(self, repo: RepositoryRef, token: SecretStr, hook_id: str) -> Hook | None: ...

    def find_hook(self, repo: RepositoryRef, token: SecretStr, callback_url: str) -> Hook | None:
        """The first hook whose URL equals callback_url, across all pages."""

    def delete_hook(self, repo: RepositoryRef, token: SecretStr, hook_id: str) -> bool:
        """True when deleted, False when it was already gone (provider 404)."""

    # Reconciliation (reconcile.py) -----------------------------------------------------------

    def reenable_hook(self, repo: RepositoryRef, token: SecretStr, hook_id: str) -> bool:
        """Re-enable the hook if the provider disabled it after failed deliveries (GitLab);
        True when it was disabled and is enabled again. A provider that never disables hooks
        by itself does nothing and answers False; a hook someone deactivated by hand is theirs
        to turn back on."""

    def delivery_history(
        self,
        repo: RepositoryRef,
        token: SecretStr,
        hook_id: str,
        since: datetime,
        *,
        max_pages: int,
    ) -> DeliveryHistory | None:
        """The hook's delivery attempts since ``since``, newest first, reading at most
        ``max_pages`` pages; None when the provider's API exposes no delivery log (Bitbucket
        Cloud shows it in its UI only)."""

    def redeliver(
        self, repo: RepositoryRef, token: SecretStr, hook_id: str, attempt: DeliveryAttempt
    ) -> None:
        """Ask the provider to deliver ``attempt``'s event again (the same body; raises
        HookNotFound when the hook or the delivery is gone)."""


ClientFor = Callable[[ProviderEndpoint], WebhookClient]
