"""The provider layer's composition root: the use cases that talk to providers, built once
per container from the core's parts (``repoconn_core.wiring``) and this layer's clients.

The clients' module (``registry``, which loads ``requests``) is imported inside the builders
that need it: the webhook receiver verifies signatures with the standard library only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from repoconn_core import wiring as core
from repoconn_core.settings import settings

if TYPE_CHECKING:
    from repoconn_core.connect import ConnectRepository
    from repoconn_core.disconnect import DisconnectRepository
    from repoconn_core.health import HealthCheck
    from repoconn_core.hooks import ProviderAccess
    from repoconn_core.ports import ClientFor
    from repoconn_core.receive import ReceiveWebhook
    from repoconn_core.reconcile import ReconcileDeliveries


def _client_for() -> ClientFor:
    from repoconn_providers.registry import client_for

    config = settings()
    return lambda endpoint: client_for(endpoint, config)


def _provider_access() -> ProviderAccess:
    from repoconn_core.hooks import ProviderAccess

    return ProviderAccess.from_settings(settings(), _client_for())


@core.per_container
def connect_repository() -> ConnectRepository:
    from repoconn_core.connect import ConnectRepository

    return ConnectRepository(
        store=core.connection_store(),
        cipher=core.secret_cipher(),
        providers=_provider_access(),
        leases=core.project_leases(),
        history=core.delivery_history(),
    )


@core.per_container
def disconnect_repository() -> DisconnectRepository:
    from repoconn_core.disconnect import DisconnectRepository

    return DisconnectRepository(
        store=core.connection_store(),
        cipher=core.secret_cipher(),
        providers=_provider_access(),
        leases=core.project_leases(),
    )


@core.per_container
def health_check() -> HealthCheck:
    from repoconn_core.health import HealthCheck

    return HealthCheck.from_settings(
        settings(),
        store=core.connection_store(),
        cipher=core.secret_cipher(),
        client_for=_client_for(),
    )


@core.per_container
def reconcile_deliveries() -> ReconcileDeliveries:
    from repoconn_core.reconcile import ReconcileDeliveries

    return ReconcileDeliveries.from_settings(
        settings(),
        store=core.connection_store(),
        cipher=core.secret_cipher(),
        client_for=_client_for(),
        history=core.delivery_history(),
    )


@core.per_container
def receive_webhook() -> ReceiveWebhook:
    from repoconn_core.receive import ReceiveWebhook
    from repoconn_core.storage.delivery_log import DeliveryLog

    from repoconn_providers import signatures

    return ReceiveWebhook.from_settings(
        settings(),
        connections=core.connection_store(),
        deliveries=DeliveryLog(*core.table()),
        cipher=core.secret_cipher(),
        verify=signatures.verify_delivery,
        identify=signatures.identify,
        history=core.delivery_history(),
    )
