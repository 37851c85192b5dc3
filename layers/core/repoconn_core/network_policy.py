"""Which network addresses the service may send a provider request to: public unicast only.

The provider clients talk to hosts an operator configured (``*_API_URL``,
``SELF_HOSTED_PROVIDERS``) and, for GET, to wherever those hosts redirect. A self-hosted name
is controlled by whoever runs its DNS, and a redirect by whoever runs the server, so neither
may steer a request — with a customer's token in it — at the Lambda's own network: loopback,
private and carrier-grade NAT ranges, link-local (the cloud metadata services live there),
unspecified, multicast, broadcast and reserved space. ``refusal_reason`` is the one rule; the
provider layer applies it to every address a connection is about to use
(``repoconn_providers.address_guard``) and ``Settings`` to IP-literal API URLs at cold start.

The ranges are listed explicitly instead of leaning on ``ipaddress``'s ``is_private`` /
``is_global``, whose lists changed between Python 3.11 (tests) and 3.13 (Lambda); the
``is_global`` check stays as a last line for anything the table does not name. IPv6 forms
that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4
``2002::/16``) are judged by the IPv4 address they reach.

Pure: no sockets, no DNS. Local runs may allow loopback (``allow_loopback``), for the provider
simulator; nothing else is ever allowed.
"""

from __future__ import annotations

import re
import socket
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Final
from urllib.parse import urlsplit

IPAddress = IPv4Address | IPv6Address


class Refusal(StrEnum):
    """Why an address is not a place to send a provider request."""

    LOOPBACK = "loopback"
    PRIVATE = "private"  # RFC 1918, IPv6 unique-local fc00::/7
    SHARED = "shared"  # RFC 6598 carrier-grade NAT, 100.64.0.0/10
    LINK_LOCAL = "link_local"
    METADATA = "metadata"  # cloud instance / task metadata endpoints
    UNSPECIFIED = "unspecified"
    MULTICAST = "multicast"
    RESERVED = "reserved"  # broadcast, documentation, benchmarking, IETF, deprecated, ...
    UNPARSEABLE = "unparseable"  # a resolver answer that is not an IP address (fail closed)
    PLAIN_HTTP = "plain_http"  # unencrypted HTTP to anything but loopback in a local run


_V4 = IPv4Network
_V6 = IPv6Network

# First match wins: the metadata addresses sit inside link-local / unique-local space and are
# named first so logs say what was aimed at.
_REFUSED: Final[tuple[tuple[IPv4Network | IPv6Network, Refusal], ...]] = (
    (_V4("169.254.169.254/32"), Refusal.METADATA),  # AWS/GCP/Azure/OpenStack instance metadata
    (_V4("169.254.170.2/32"), Refusal.METADATA),  # ECS task metadata and credentials
    (_V4("100.100.100.200/32"), Refusal.METADATA),  # Alibaba Cloud metadata (inside CGNAT)
    (_V6("fd00:ec2::254/128"), Refusal.METADATA),  # AWS instance metadata over IPv6 (Nitro)
    (_V4("0.0.0.0/8"), Refusal.UNSPECIFIED),  # "this network"; 0.0.0.0 reaches the local host
    (_V6("::/128"), Refusal.UNSPECIFIED),
    (_V4("127.0.0.0/8"), Refusal.LOOPBACK),
    (_V6("::1/128"), Refusal.LOOPBACK),
    (_V4("10.0.0.0/8"), Refusal.PRIVATE),
    (_V4("172.16.0.0/12"), Refusal.PRIVATE),
    (_V4("192.168.0.0/16"), Refusal.PRIVATE),
    (_V6("fc00::/7"), Refusal.PRIVATE),
    (_V4("100.64.0.0/10"), Refusal.SHARED),
    (_V4("169.254.0.0/16"), Refusal.LINK_LOCAL),
    (_V6("fe80::/10"), Refusal.LINK_LOCAL),
    (_V4("224.0.0.0/4"), Refusal.MULTICAST),
    (_V6("ff00::/8"), Refusal.MULTICAST),
    (_V4("240.0.0.0/4"), Refusal.RESERVED),  # includes 255.255.255.255 (broadcast)
    (_V4("192.0.0.0/24"), Refusal.RESERVED),  # IETF protocol assignments
    (_V4("192.0.2.0/24"), Refusal.RESERVED),  # TEST-NET-1
    (_V4("198.51.100.0/24"), Refusal.RESERVED),  # TEST-NET-2
    (_V4("203.0.113.0/24"), Refusal.RESERVED),  # TEST-NET-3
    (_V4("198.18.0.0/15"), Refusal.RESERVED),  # benchmarking
    (_V4("192.88.99.0/24"), Refusal.RESERVED),  # deprecated 6to4 relay anycast
    (_V6("::/96"), Refusal.RESERVED),  # deprecated IPv4-compatible addresses
    (_V6("100::/64"), Refusal.RESERVED),  # discard-only
    (_V6("64:ff9b:1::/48"), Refusal.RESERVED),  # local-use NAT64
    (_V6("2001::/23"), Refusal.RESERVED),  # IETF protocol assignments, Teredo 2001::/32
    (_V6("2001:db8::/32"), Refusal.RESERVED),  # documentation
    (_V6("3fff::/20"), Refusal.RESERVED),  # documentation (RFC 9637)
    (_V6("fec0::/10"), Refusal.RESERVED),  # deprecated site-local
)

_MAPPED: Final = IPv6Network("::ffff:0:0/96")
_NAT64: Final = IPv6Network("64:ff9b::/96")

# What the C library's inet_aton (and so getaddrinfo) reads as an IPv4 address besides the
# dotted quad: 1 to 4 parts, each decimal, 0x-hex or 0-octal (127.1, 0x7f.1, 2130706433).
_INET_ATON_FORM: Final = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}$")
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})


def embedded_ipv4(address: IPAddress) -> IPv4Address | None:
    """The IPv4 address an IPv6 address actually reaches, for the forms that carry one."""
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def refusal_reason(address: IPAddress, *, allow_loopback: bool = False) -> Refusal | None:
    """Why ``address`` must not be contacted, or None for a public unicast address.

    ``allow_loopback`` (local runs only) lets 127.0.0.0/8 and ::1 through — nothing else.
    """
    target = embedded_ipv4(address) or address
    reason = _classify(target)
    if reason is Refusal.LOOPBACK and allow_loopback:
        return None
    return reason


def _classify(address: IPAddress) -> Refusal | None:
    for network, reason in _REFUSED:
        if address.version == network.version and address in network:
            return reason
    if not address.is_global:
        return Refusal.RESERVED
    return None


def ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells without DNS — dotted, bracketed IPv6, or any form
    ``inet_aton`` accepts (``0x7f.1``, ``2130706433``) — or None for a name."""
    value = host.strip().lower()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    try:
        return ip_address(value)
    except ValueError:
        pass
    if _INET_ATON_FORM.match(value):
        try:
            return IPv4Address(socket.inet_aton(value))
        except OSError:
            return None
    return None


def api_url_refusal(url: str, *, allow_loopback: bool = False) -> Refusal | None:
    """Why a provider API base URL can be refused from its text alone (IP literals and
    loopback names); a DNS name is judged when it is resolved, at connect time."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        # RFC 6761: these names always mean loopback, whatever DNS says.
        return None if allow_loopback else Refusal.LOOPBACK
    literal = ip_literal(host)
    if literal is None:
        return None
    return refusal_reason(literal, allow_loopback=allow_loopback)
