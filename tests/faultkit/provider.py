"""Provider faults: a WebhookClient wrapper, and a TCP server that breaks connections.

``FaultyWebhookClient`` wraps a real client (over the simulator) and passes every call
through the injector as step ``provider:<method>``. At the planned call it raises a typed
error (what a client maps a refusal to), applies the call and then loses the answer, raises
an unexpected exception, or sends the call over a transport that fails for real: the same
client type, built on a ``ProviderHttp`` pointed at a ``TransportFaultServer`` - so the
failure goes through requests, urllib3 and the client's own error mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import SecretStr
from repoconn_core.errors import ProviderUnavailable
from repoconn_core.ports import WebhookClient
from repoconn_core.providers import ProviderEndpoint, RepositoryRef
from repoconn_providers.http import ProviderHttp, RetryPolicy
from repoconn_providers.registry import build_client

from tests.faultkit.injector import (
    Crash,
    InjectedCrash,
    Injector,
    LostResponse,
    ProviderError,
    ProviderTransport,
)
from tests.support.loopback import Drop, LoopbackServer

TransportMode = Literal["reset", "hang"]

# The simulator's API prefixes: a broken client keeps the path layout of the real one.
_PREFIX = {"GitHub": "/github", "GitLab": "/gitlab/api/v4", "Bitbucket": "/bitbucket/2.0"}


class TransportFaultServer(LoopbackServer):
    """A loopback server that breaks every connection it accepts.

    ``reset``: reads the request, then closes with SO_LINGER 0, so the client sees a TCP RST
    (ECONNRESET) instead of an answer. ``hang``: reads the request and never answers until
    the server stops, so the client's read timeout fires.
    """

    def __init__(self, mode: TransportMode) -> None:
        self.mode = mode
        super().__init__(lambda _request: Drop.RESET if mode == "reset" else Drop.HANG)

    def start(self) -> TransportFaultServer:
        super().start()
        return self


def broken_client(
    endpoint: ProviderEndpoint, server: TransportFaultServer, *, read_timeout: float = 0.3
) -> WebhookClient:
    """The real client type for ``endpoint``'s provider, talking to ``server`` (no retries)."""
    service = endpoint.service_type.value
    http = ProviderHttp(
        service,
        server.url + _PREFIX[service],
        connect_timeout=1.0,
        read_timeout=read_timeout,
        retry=RetryPolicy(max_retries=0),
        allow_plain_http_loopback=True,
    )
    return build_client(endpoint, http)


# The WebhookClient protocol's calls (repoconn_core.providers), each taking the repository
# first: every one goes through the injector.
WEBHOOK_CALLS = frozenset(
    {
        "preflight",
        "create_hook",
        "update_hook",
        "get_hook",
        "find_hook",
        "delete_hook",
        "reenable_hook",
        "delivery_history",
        "redeliver",
    }
)


class FaultyWebhookClient:
    """A ``WebhookClient`` that fails where the injector says, else delegates."""

    def __init__(
        self,
        inner: WebhookClient,
        injector: Injector,
        broken: Callable[[TransportMode], WebhookClient],
        seen_secrets: set[str] | None = None,
    ) -> None:
        self._inner = inner
        self._injector = injector
        self._broken = broken
        # Every webhook secret handed to the provider (for leak scans), if given a set.
        self._seen_secrets = seen_secrets

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method not in WEBHOOK_CALLS:
            raise AttributeError(method)
        return lambda repo, *args, **kwargs: self._call(method, repo, *args, **kwargs)

    def _call(self, method: str, repo: RepositoryRef, *args: Any, **kwargs: Any) -> Any:
        step = f"provider:{method}"
        if self._seen_secrets is not None:
            self._seen_secrets.update(
                arg.get_secret_value()
                for arg in (*args, *kwargs.values())
                if isinstance(arg, SecretStr)
            )
        fault = self._injector.on_step(step)
        if fault is None:
            return getattr(self._inner, method)(repo, *args, **kwargs)
        if isinstance(fault, ProviderError):
            raise fault.error()
        if isinstance(fault, ProviderTransport):
            return getattr(self._broken(fault.mode), method)(repo, *args, **kwargs)
        if isinstance(fault, LostResponse):
            getattr(self._inner, method)(repo, *args, **kwargs)
            # The words ProviderHttp uses for a read timeout.
            raise ProviderUnavailable(f"{repo.service_type.value} timed out")
        if isinstance(fault, Crash):
            raise InjectedCrash(f"injected crash at {step}")
        raise TypeError(f"{fault!r} is not a provider fault ({step})")
