"""Provider faults: a WebhookClient wrapper, and a TCP server that breaks connections.

``FaultyWebhookClient`` wraps a real client (over the simulator) and passes every call
through the injector as step ``provider:<method>``. At the planned call it raises a typed
error (what a client maps a refusal to), applies the call and then loses the answer, raises
an unexpected exception, or sends the call over a transport that fails for real: the same
client type, built on a ``ProviderHttp`` pointed at a ``TransportFaultServer`` - so the
failure goes through requests, urllib3 and the client's own error mapping.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Callable
from typing import Any, Literal

from pydantic import SecretStr
from repoconn_core.errors import ProviderUnavailable
from repoconn_core.ports import WebhookClient
from repoconn_core.providers import Hook, ProviderEndpoint, RepositoryRef
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

TransportMode = Literal["reset", "hang"]

# The simulator's API prefixes: a broken client keeps the path layout of the real one.
_PREFIX = {"GitHub": "/github", "GitLab": "/gitlab/api/v4", "Bitbucket": "/bitbucket/2.0"}


class TransportFaultServer:
    """A loopback TCP server that breaks every connection it accepts.

    ``reset``: reads the request, then closes with SO_LINGER 0, so the client sees a TCP RST
    (ECONNRESET) instead of an answer. ``hang``: reads the request and never answers until
    the server stops, so the client's read timeout fires.
    """

    def __init__(self, mode: TransportMode) -> None:
        self.mode = mode
        self.connections = 0
        self._stopped = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                outer.connections += 1
                sock.settimeout(2)
                try:
                    sock.recv(65536)
                except OSError:
                    return
                if outer.mode == "reset":
                    # Linger on, timeout 0: close() sends RST instead of FIN.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                outer._stopped.wait()

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            block_on_close = False
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"transport-fault-{mode}", daemon=True
        )

    @property
    def url(self) -> str:
        # Bound to 127.0.0.1 above; the port is the kernel's choice.
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> TransportFaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


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

    def preflight(self, repo: RepositoryRef, token: SecretStr) -> None:
        self._call("preflight", repo, token)

    def create_hook(
        self, repo: RepositoryRef, token: SecretStr, callback_url: str, secret: SecretStr
    ) -> Hook:
        hook: Hook = self._call("create_hook", repo, token, callback_url, secret)
        return hook

    def update_hook(
        self,
        repo: RepositoryRef,
        token: SecretStr,
        hook_id: str,
        callback_url: str,
        secret: SecretStr,
    ) -> Hook:
        hook: Hook = self._call("update_hook", repo, token, hook_id, callback_url, secret)
        return hook

    def get_hook(self, repo: RepositoryRef, token: SecretStr, hook_id: str) -> Hook | None:
        found: Hook | None = self._call("get_hook", repo, token, hook_id)
        return found

    def find_hook(self, repo: RepositoryRef, token: SecretStr, callback_url: str) -> Hook | None:
        found: Hook | None = self._call("find_hook", repo, token, callback_url)
        return found

    def delete_hook(self, repo: RepositoryRef, token: SecretStr, hook_id: str) -> bool:
        deleted: bool = self._call("delete_hook", repo, token, hook_id)
        return deleted

    def _call(self, method: str, repo: RepositoryRef, *args: Any) -> Any:
        step = f"provider:{method}"
        if self._seen_secrets is not None:
            self._seen_secrets.update(
                arg.get_secret_value() for arg in args if isinstance(arg, SecretStr)
            )
        fault = self._injector.on_step(step)
        if fault is None:
            return getattr(self._inner, method)(repo, *args)
        if isinstance(fault, ProviderError):
            raise fault.error()
        if isinstance(fault, ProviderTransport):
            return getattr(self._broken(fault.mode), method)(repo, *args)
        if isinstance(fault, LostResponse):
            getattr(self._inner, method)(repo, *args)
            # The words ProviderHttp uses for a read timeout.
            raise ProviderUnavailable(f"{repo.service_type.value} timed out")
        if isinstance(fault, Crash):
            raise InjectedCrash(f"injected crash at {step}")
        raise TypeError(f"{fault!r} is not a provider fault ({step})")
