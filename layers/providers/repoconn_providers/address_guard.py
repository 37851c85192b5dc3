"""Resolve, check, then connect to the checked address: the provider clients' SSRF guard.

Every connection a ``ProviderHttp`` session opens — to the API base URL and to each hop of a
followed redirect — goes through ``AddressGuard.open``:

1. the host is resolved once (an IP literal, in any spelling, is not resolved at all);
2. every address in the answer is checked with ``repoconn_core.network_policy``: if *any* of
   them is loopback, private, link-local, metadata, unspecified, multicast or reserved, the
   connection is refused before a packet is sent — a name that answers with one good and one
   bad address is treated as bad, since which one a client would use is not ours to choose;
3. plain ``http`` is refused unless the local-run flag is on and every address is loopback;
4. the socket is connected to one of the *checked* addresses. Nothing resolves the name a
   second time, so a DNS answer that changes between check and use (DNS rebinding) cannot
   redirect the connection.

TLS still speaks to the *name*: the urllib3 connection keeps the host name, so SNI, the
``Host`` header and certificate verification use it; only the socket underneath is pinned.
This is wired into requests by ``PinnedAddressAdapter``, whose pools build
``PinnedHTTPConnection`` / ``PinnedHTTPSConnection`` (urllib3's own classes with ``_new_conn``
replaced).

A refusal raises ``AddressRefused``, which is deliberately not an ``OSError``: urllib3 and
requests pass it through untouched instead of retrying or wrapping it, and ``ProviderHttp``
maps it to ``ProviderAddressRefused`` (502 ``provider_unavailable``).
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from ipaddress import ip_address
from typing import Any

from repoconn_core.network_policy import IPAddress, Refusal, ip_literal, refusal_reason
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.poolmanager import ProxyManager
from urllib3.util import connection as urllib3_connection

# (host, port) -> the addresses the name resolves to, as strings.
Resolver = Callable[[str, int], Iterable[str]]
# (address, timeout, source_address, socket_options) -> a connected socket; urllib3's
# create_connection has this shape and, given an IP literal, does no DNS lookup.
Connector = Callable[[tuple[str, int], Any, Any, Any], socket.socket]


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``getaddrinfo`` gives for a TCP connection to ``host:port``."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(sockaddr[0]) for *_, sockaddr in answers]


def system_connector(
    address: tuple[str, int], timeout: Any, source_address: Any, socket_options: Any
) -> socket.socket:
    """A TCP connection to an IP-literal ``address`` (urllib3's, with its socket options)."""
    return urllib3_connection.create_connection(
        address, timeout, source_address=source_address, socket_options=socket_options
    )


class AddressRefused(Exception):
    """A provider host resolved (or redirected) to an address the service never contacts.

    The message names the host and the reason, for logs; it carries no URL path or query.
    """

    def __init__(self, host: str, address: str | None, reason: Refusal) -> None:
        self.host = host
        self.address = address
        self.reason = reason
        where = f" ({address})" if address is not None else ""
        super().__init__(f"{host}{where}: {reason.value} address not allowed")


@dataclass(frozen=True)
class AddressGuard:
    """The resolve → check → connect policy of one provider session."""

    allow_loopback: bool = False
    resolver: Resolver = field(default=system_resolver)
    connector: Connector = field(default=system_connector)

    def checked_addresses(self, host: str, port: int) -> list[IPAddress]:
        """Every address ``host`` resolves to, each one allowed; else ``AddressRefused``.

        Raises ``socket.gaierror`` when the name does not resolve (a transport failure,
        reported like any unreachable provider).
        """
        literal = ip_literal(host)
        if literal is not None:
            candidates: Sequence[IPAddress] = [literal]
        else:
            candidates = self._resolve(host, port)
        for address in candidates:
            reason = refusal_reason(address, allow_loopback=self.allow_loopback)
            if reason is not None:
                raise AddressRefused(host, str(address), reason)
        return list(candidates)

    def open(
        self,
        host: str,
        port: int,
        timeout: Any,
        source_address: Any = None,
        socket_options: Any = None,
        *,
        tls: bool,
    ) -> socket.socket:
        """A socket connected to a checked address of ``host`` (tried in resolver order)."""
        addresses = self.checked_addresses(host, port)
        if not tls:
            # Plain HTTP exists only for the local provider simulator on loopback.
            for address in addresses:
                if not (self.allow_loopback and address.is_loopback):
                    raise AddressRefused(host, str(address), Refusal.PLAIN_HTTP)
        last_error: OSError | None = None
        for address in addresses:
            try:
                return self.connector((str(address), port), timeout, source_address, socket_options)
            except OSError as error:
                last_error = error
        assert last_error is not None  # checked_addresses never returns an empty list
        raise last_error

    def _resolve(self, host: str, port: int) -> list[IPAddress]:
        found: list[IPAddress] = []
        for answer in self.resolver(host, port):
            try:
                address = ip_address(answer)
            except ValueError:
                raise AddressRefused(host, None, Refusal.UNPARSEABLE) from None
            if address not in found:
                found.append(address)
        if not found:
            raise socket.gaierror(socket.EAI_NONAME, "the name resolved to no address")
        return found


# -- urllib3 / requests wiring ---------------------------------------------------------------


class PinnedHTTPConnection(HTTPConnection):
    """urllib3's connection, opening its socket through an ``AddressGuard``."""

    _tls = False

    def __init__(self, *args: Any, guard: AddressGuard, **kwargs: Any) -> None:
        self._guard = guard
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        # Mirrors urllib3's HTTPConnection._new_conn, with the guard in place of its
        # create_connection (which would resolve the name again, unchecked).
        try:
            sock = self._guard.open(
                self._dns_host,
                self.port,
                self.timeout,
                self.source_address,
                self.socket_options,
                tls=self._tls,
            )
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error
        except TimeoutError as error:  # socket.timeout
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            ) from error
        except OSError as error:
            raise NewConnectionError(
                self, f"Failed to establish a new connection: {error}"
            ) from error
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock


class PinnedHTTPSConnection(PinnedHTTPConnection, HTTPSConnection):
    """The TLS connection: socket pinned by the guard, SNI and verification by host name."""

    _tls = True


class _PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = PinnedHTTPConnection


class _PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = PinnedHTTPSConnection


class PinnedAddressAdapter(HTTPAdapter):
    """A requests adapter whose every connection is opened through ``guard``.

    The pools receive the guard as a connection keyword (urllib3 hands unknown pool keywords
    to each connection it builds); proxies are refused, since a proxy would resolve and
    connect on our behalf and bypass the check.
    """

    def __init__(self, guard: AddressGuard, **kwargs: Any) -> None:
        self.guard = guard  # before super().__init__, which builds the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": partial(_PinnedHTTPConnectionPool, guard=self.guard),
            "https": partial(_PinnedHTTPSConnectionPool, guard=self.guard),
        }

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> ProxyManager:
        raise ValueError("provider requests never use a proxy: it would bypass the address check")
