"""The write use cases built from a ``Settings`` and the parts a test picks (a store, a cipher,
provider clients, leases), as ``repoconn_core.wiring`` builds them from the environment - for
tests that need a part the handlers cannot be given (a failing store, a racer's own clients).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from repoconn_core.connect import ConnectRepository
from repoconn_core.disconnect import DisconnectRepository
from repoconn_core.identity import Principal, principal_from_claims
from repoconn_core.providers import ProviderEndpoint, WebhookClient
from repoconn_core.settings import Settings
from repoconn_providers.registry import client_for

from tests.support.api import admin

ClientFor = Callable[[ProviderEndpoint], WebhookClient]


def admin_principal(*projects: str) -> Principal:
    """An admin of ``projects``, as the handlers read one from the authorizer's claims."""
    return principal_from_claims(
        admin(*projects),
        groups_claim="cognito:groups",
        projects_claim="custom:projects",
        admin_group="Admin",
    )


def registry_clients(settings: Settings) -> ClientFor:
    """The provider clients a container keeps (one per endpoint), configured by ``settings``."""
    return lambda endpoint: client_for(endpoint, settings)


def connect_repository(
    settings: Settings,
    *,
    store: Any,
    cipher: Any,
    clients: ClientFor | None = None,
    leases: Any = None,
) -> ConnectRepository:
    return ConnectRepository(
        store=store,
        cipher=cipher,
        client_for=clients or registry_clients(settings),
        endpoints=settings.provider_endpoints(),
        webhook_base_url=settings.webhook_base_url,
        leases=leases,
    )


def disconnect_repository(
    settings: Settings,
    *,
    store: Any,
    cipher: Any,
    clients: ClientFor | None = None,
    leases: Any = None,
) -> DisconnectRepository:
    return DisconnectRepository(
        store=store,
        cipher=cipher,
        client_for=clients or registry_clients(settings),
        endpoints=settings.provider_endpoints(),
        leases=leases,
    )
