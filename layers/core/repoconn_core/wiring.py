"""The core layer's composition root: builds each part once per container from the settings.

Handlers call these; tests build use cases from their own parts (``<UseCase>.from_settings``
takes the parts as arguments) instead. The provider layer has a composition root of its own
(``repoconn_providers.wiring``) for the use cases that talk to providers; this module never
names that layer. AWS SDK and storage imports happen inside the builders so a read function
never loads the write path's modules (cryptography, requests) — that keeps its cold start small.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

from repoconn_core.settings import settings

if TYPE_CHECKING:
    from repoconn_core.cipher import SecretCipher
    from repoconn_core.leases import ProjectLeases
    from repoconn_core.queries import ConnectionQueries
    from repoconn_core.reencrypt import ReencryptConnections
    from repoconn_core.relay import PublishDeliveries
    from repoconn_core.storage.connection_store import ConnectionStore
    from repoconn_core.storage.delivery_history import DeliveryHistory

_cached: list[Callable[..., object]] = []


def per_container[Part](builder: Callable[[], Part]) -> Callable[[], Part]:
    """Build once per container (Lambda reuses it between invocations); ``reset`` forgets."""
    cached = cache(builder)
    _cached.append(cached)
    return cached


def reset() -> None:
    """Forget every cached part, of every layer (tests and the local gateway call this after
    changing the environment)."""
    settings.cache_clear()
    for builder in _cached:
        builder.cache_clear()  # type: ignore[attr-defined]


def table() -> tuple[str, str, str | None]:
    """The connections table's name, region and endpoint: what every storage adapter takes."""
    config = settings()
    return config.table_name, config.aws_region, config.aws_endpoint_url


@per_container
def connection_store() -> ConnectionStore:
    from repoconn_core.storage.connection_store import ConnectionStore

    return ConnectionStore(*table())


@per_container
def delivery_history() -> DeliveryHistory:
    """Connections' delivery logs: read by the API, appended by the relay, the receiver and
    the reconciliation."""
    from repoconn_core.storage.delivery_history import DeliveryHistory

    return DeliveryHistory(*table())


@per_container
def connection_queries() -> ConnectionQueries:
    from repoconn_core.queries import ConnectionQueries

    return ConnectionQueries(connection_store(), delivery_history())


@per_container
def secret_cipher() -> SecretCipher:
    import boto3

    from repoconn_core import cipher

    config = settings()
    kms = boto3.client("kms", region_name=config.aws_region, endpoint_url=config.aws_endpoint_url)
    return cipher.SecretCipher(kms, config.kms_key_id)


@per_container
def project_leases() -> ProjectLeases:
    from repoconn_core.leases import ProjectLeases
    from repoconn_core.storage.lease_table import LeaseTable

    return ProjectLeases(LeaseTable(*table()))


@per_container
def publish_deliveries() -> PublishDeliveries:
    import boto3
    from botocore.config import Config

    from repoconn_core.publisher import EventBridgePublisher
    from repoconn_core.relay import PublishDeliveries

    config = settings()
    events = boto3.client(
        "events",
        region_name=config.aws_region,
        endpoint_url=config.aws_endpoint_url,
        config=Config(
            connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"}
        ),
    )
    return PublishDeliveries(
        store=connection_store(),
        publisher=EventBridgePublisher(events, config.event_bus_name),
        history=delivery_history(),
    )


def reencrypt_connections() -> ReencryptConnections:
    """The re-encryption pass (``repoconn reencrypt``): not per container, an operator's run."""
    from repoconn_core.reencrypt import ReencryptConnections

    return ReencryptConnections(store=connection_store(), cipher=secret_cipher())
