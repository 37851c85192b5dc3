"""One webhook client per provider endpoint per container.

Lambda keeps a container warm between invocations; caching the client keeps its
``requests.Session`` — and so its pooled, already TLS-handshaken connections — for the next
invocation instead of paying a new handshake per request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from repoconn_core.ports import WebhookClient
from repoconn_core.providers import ProviderEndpoint
from repoconn_core.settings import Settings

from repoconn_providers import bitbucket, github, gitlab
from repoconn_providers.driver import driver_for
from repoconn_providers.http import ProviderHttp, RetryPolicy

# Importing a driver module registers its driver (``HookDriver.__init_subclass__``); these are
# every provider ``build_client`` can be asked for.
DRIVER_MODULES = (bitbucket, github, gitlab)

_CacheKey = tuple[ProviderEndpoint, float, float, int, bool]

_lock = threading.Lock()
_clients: dict[_CacheKey, WebhookClient] = {}
_sessions: dict[_CacheKey, ProviderHttp] = {}


def build_http(
    endpoint: ProviderEndpoint,
    settings: Settings,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> ProviderHttp:
    """A new transport for ``endpoint`` configured from ``settings`` (uncached)."""
    return ProviderHttp(
        endpoint.service_type.value,
        endpoint.api_base_url,
        connect_timeout=settings.provider_connect_timeout,
        read_timeout=settings.provider_read_timeout,
        retry=RetryPolicy(max_retries=settings.provider_max_retries),
        allow_plain_http_loopback=settings.allow_loopback_provider_api,
        sleep=sleep,
    )


def build_client(endpoint: ProviderEndpoint, http: ProviderHttp) -> WebhookClient:
    """The client for ``endpoint``'s provider over ``http`` (uncached; tests use this)."""
    return driver_for(endpoint.service_type)(http)


def client_for(endpoint: ProviderEndpoint, settings: Settings) -> WebhookClient:
    """The container's cached client for ``endpoint``."""
    key: _CacheKey = (
        endpoint,
        settings.provider_connect_timeout,
        settings.provider_read_timeout,
        settings.provider_max_retries,
        settings.allow_loopback_provider_api,
    )
    with _lock:
        client = _clients.get(key)
        if client is None:
            http = build_http(endpoint, settings)
            client = build_client(endpoint, http)
            _clients[key] = client
            _sessions[key] = http
        return client


def close_clients() -> None:
    """Close every cached client's connection pool and forget the clients."""
    with _lock:
        for http in _sessions.values():
            http.close()
        _sessions.clear()
        _clients.clear()
