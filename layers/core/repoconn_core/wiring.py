"""Composition root: builds each use case once per container from the settings.

Handlers call these; tests build use cases from their own parts instead. AWS SDK and provider
imports happen inside the builders so a read function never loads the write path's modules
(cryptography, requests) — that keeps its cold start small.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING

from repoconn_core.settings import settings

if TYPE_CHECKING:
    from repoconn_core.cipher import SecretCipher
    from repoconn_core.connect import ConnectRepository
    from repoconn_core.disconnect import DisconnectRepository
    from repoconn_core.leases import ProjectLeases
    from repoconn_core.queries import ConnectionQueries
    from repoconn_core.store import ConnectionStore


@cache
def connection_store() -> ConnectionStore:
    from repoconn_core.store import ConnectionStore

    config = settings()
    return ConnectionStore(config.table_name, config.aws_region, host=config.aws_endpoint_url)


@cache
def connection_queries() -> ConnectionQueries:
    from repoconn_core.queries import ConnectionQueries

    return ConnectionQueries(connection_store())


@cache
def secret_cipher() -> SecretCipher:
    import boto3

    from repoconn_core import cipher

    config = settings()
    kms = boto3.client("kms", region_name=config.aws_region, endpoint_url=config.aws_endpoint_url)
    return cipher.SecretCipher(kms, config.kms_key_id)


@cache
def project_leases() -> ProjectLeases:
    from repoconn_core.leases import ProjectLeases

    return ProjectLeases(connection_store())


@cache
def connect_repository() -> ConnectRepository:
    from repoconn_providers.registry import client_for

    from repoconn_core.connect import ConnectRepository

    config = settings()
    return ConnectRepository(
        store=connection_store(),
        cipher=secret_cipher(),
        client_for=lambda endpoint: client_for(endpoint, config),
        endpoints=config.provider_endpoints(),
        webhook_base_url=config.webhook_base_url,
        secret_grace=timedelta(seconds=config.webhook_secret_grace_seconds),
        leases=project_leases(),
    )


@cache
def disconnect_repository() -> DisconnectRepository:
    from repoconn_providers.registry import client_for

    from repoconn_core.disconnect import DisconnectRepository

    config = settings()
    return DisconnectRepository(
        store=connection_store(),
        cipher=secret_cipher(),
        client_for=lambda endpoint: client_for(endpoint, config),
        endpoints=config.provider_endpoints(),
        leases=project_leases(),
    )


def reset() -> None:
    """Forget every cached part (tests and the local gateway call this after changing env)."""
    settings.cache_clear()
    for builder in list(globals().values()):
        if callable(builder) and hasattr(builder, "cache_clear") and builder is not settings:
            builder.cache_clear()


if TYPE_CHECKING:
    from repoconn_core.receive import ReceiveWebhook


@cache
def receive_webhook() -> ReceiveWebhook:
    from repoconn_providers import signatures

    from repoconn_core.receive import ConnectionCache, ReceiveWebhook

    config = settings()
    return ReceiveWebhook(
        store=connection_store(),
        cipher=secret_cipher(),
        verify=signatures.verify_delivery,
        identify=signatures.identify,
        cache=ConnectionCache(
            timedelta(seconds=config.secret_cache_ttl_seconds),
            read_ttl=timedelta(seconds=config.connection_cache_ttl_seconds),
        ),
        max_body_bytes=config.webhook_max_body_bytes,
    )


if TYPE_CHECKING:
    from repoconn_core.relay import PublishDeliveries


@cache
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
    )


if TYPE_CHECKING:
    from repoconn_core.health import HealthCheck


@cache
def health_check() -> HealthCheck:
    from repoconn_providers.registry import client_for

    from repoconn_core.health import HealthCheck

    config = settings()
    return HealthCheck(
        store=connection_store(),
        cipher=secret_cipher(),
        client_for=lambda endpoint: client_for(endpoint, config),
        endpoints=config.provider_endpoints(),
        webhook_base_url=config.webhook_base_url,
        secret_grace=timedelta(seconds=config.webhook_secret_grace_seconds),
        max_workers=config.health_check_max_workers,
        page_size=config.health_check_page_size,
        stop_margin=timedelta(seconds=config.health_check_stop_margin_seconds),
    )
