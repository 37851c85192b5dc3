"""The write use cases built from a ``Settings`` and the parts a test picks (a store, a cipher,
provider clients, leases), as ``repoconn_core.wiring`` builds them from the environment - for
tests that need a part the handlers cannot be given (a failing store, a racer's own clients).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from repoconn_core.connect import ConnectRepository
from repoconn_core.disconnect import DisconnectRepository
from repoconn_core.hooks import ProviderAccess
from repoconn_core.identity import ClaimNames, Principal, principal_from_claims
from repoconn_core.ports import ClientFor
from repoconn_core.settings import Settings
from repoconn_providers.registry import client_for

from tests.support.api import admin


def admin_principal(*projects: str) -> Principal:
    """An admin of ``projects``, as the handlers read one from the authorizer's claims."""
    return principal_from_claims(admin(*projects), ClaimNames())


def registry_clients(settings: Settings) -> ClientFor:
    """The provider clients a container keeps (one per endpoint), configured by ``settings``."""
    return lambda endpoint: client_for(endpoint, settings)


@dataclass(frozen=True)
class UseCases:
    """The write use cases over these parts: ``clients`` default to the container's provider
    clients for ``settings``; no ``leases`` only where one request runs at a time."""

    settings: Settings
    store: Any
    cipher: Any
    clients: ClientFor | None = None
    leases: Any = None

    def connect(self) -> ConnectRepository:
        return ConnectRepository(**self._parts())

    def disconnect(self) -> DisconnectRepository:
        return DisconnectRepository(**self._parts())

    def _parts(self) -> dict[str, Any]:
        clients = self.clients or registry_clients(self.settings)
        return {
            "store": self.store,
            "cipher": self.cipher,
            "providers": ProviderAccess.from_settings(self.settings, clients),
            "leases": self.leases,
        }
