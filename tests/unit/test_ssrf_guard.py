"""SSRF: provider requests never reach loopback, private, link-local, metadata, unspecified,
multicast or reserved addresses — not by IP literal, not by a DNS name that resolves there, not
by a redirect — and the socket connects to the address that was checked (DNS pinning).

No test here uses real DNS or leaves loopback: names are resolved by ``FakeNetwork``, whose
connector records every connection attempt and refuses (without touching the network) any
address that is not loopback. "Passes the check" is therefore shown as "the connector was asked
for exactly that address", never by connecting to it.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr, ValidationError
from repoconn_core.errors import ProviderAddressRefused, ProviderUnavailable
from repoconn_core.network_policy import Refusal, api_url_refusal, ip_literal, refusal_reason
from repoconn_core.providers import ServiceType
from repoconn_core.settings import SelfHostedProvider, Settings
from repoconn_providers.address_guard import (
    AddressGuard,
    AddressRefused,
    PinnedAddressAdapter,
    system_connector,
)
from repoconn_providers.http import ProviderHttp, RetryPolicy

from tests.support.loopback import LoopbackServer, Reply
from tests.unit.scripted_http import ScriptedServer, Step

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = SecretStr("glpat-ssrf-test-token-0123456789")
SELF_HOSTED = "git.example.test"
PUBLIC_V4 = "140.82.112.3"
PUBLIC_V6 = "2606:4700:4700::1111"
UNSPECIFIED_V4 = "0.0.0.0"  # noqa: S104 - an address under test, not a bind


@dataclass
class FakeNetwork:
    """An injected resolver and connector that record every call and never leave loopback."""

    answers: Mapping[str, Sequence[str]] = field(default_factory=dict)
    resolved: list[tuple[str, int]] = field(default_factory=list)
    connected: list[tuple[str, int]] = field(default_factory=list)

    def resolve(self, host: str, port: int) -> list[str]:
        self.resolved.append((host, port))
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown test name")
        return list(self.answers[host])

    def connect(
        self, address: tuple[str, int], timeout: Any, source: Any, options: Any
    ) -> socket.socket:
        self.connected.append(address)
        if not ip_address(address[0]).is_loopback:
            raise ConnectionRefusedError("test network: only loopback is reachable")
        return system_connector(address, timeout, source, options)

    def guard(self, *, allow_loopback: bool = False) -> AddressGuard:
        return AddressGuard(allow_loopback, self.resolve, self.connect)

    def provider_http(
        self, base_url: str, *, allow_loopback: bool = False, max_retries: int = 0
    ) -> ProviderHttp:
        return ProviderHttp(
            "GitLab",
            base_url,
            connect_timeout=1.0,
            read_timeout=2.0,
            retry=RetryPolicy(max_retries=max_retries),
            allow_plain_http_loopback=allow_loopback,
            sleep=lambda _: None,
            jitter=lambda: 0.0,
            resolver=self.resolve,
            connector=self.connect,
        )


@dataclass
class RebindingNetwork(FakeNetwork):
    """Answers ``answers`` to the first lookup of a name and ``rebound`` to every later one."""

    rebound: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def resolve(self, host: str, port: int) -> list[str]:
        first = (host, port) not in self.resolved
        answer = super().resolve(host, port)
        return answer if first else list(self.rebound[host])


# -- 1. the address rule ----------------------------------------------------------------------

CLASSIFIED: list[tuple[str, Refusal | None]] = [
    ("127.0.0.1", Refusal.LOOPBACK),
    ("127.255.255.254", Refusal.LOOPBACK),
    ("::1", Refusal.LOOPBACK),
    ("10.0.0.1", Refusal.PRIVATE),
    ("172.16.0.1", Refusal.PRIVATE),
    ("172.31.255.254", Refusal.PRIVATE),
    ("192.168.1.1", Refusal.PRIVATE),
    ("fc00::1", Refusal.PRIVATE),
    ("fd12:3456:789a::1", Refusal.PRIVATE),
    ("100.64.0.1", Refusal.SHARED),
    ("100.127.255.254", Refusal.SHARED),
    ("169.254.0.1", Refusal.LINK_LOCAL),
    ("fe80::1", Refusal.LINK_LOCAL),
    ("fe80::1%eth0", Refusal.LINK_LOCAL),
    ("169.254.169.254", Refusal.METADATA),
    ("169.254.170.2", Refusal.METADATA),
    ("100.100.100.200", Refusal.METADATA),
    ("fd00:ec2::254", Refusal.METADATA),
    (UNSPECIFIED_V4, Refusal.UNSPECIFIED),
    ("0.1.2.3", Refusal.UNSPECIFIED),
    ("::", Refusal.UNSPECIFIED),
    ("224.0.0.1", Refusal.MULTICAST),
    ("239.255.255.250", Refusal.MULTICAST),
    ("ff02::1", Refusal.MULTICAST),
    ("255.255.255.255", Refusal.RESERVED),
    ("240.0.0.1", Refusal.RESERVED),
    ("192.0.0.8", Refusal.RESERVED),
    ("192.0.2.10", Refusal.RESERVED),
    ("198.18.0.1", Refusal.RESERVED),
    ("203.0.113.5", Refusal.RESERVED),
    ("2001:db8::1", Refusal.RESERVED),
    ("2001::1", Refusal.RESERVED),  # Teredo
    ("fec0::1", Refusal.RESERVED),
    ("100::1", Refusal.RESERVED),
    ("::7f00:1", Refusal.RESERVED),  # deprecated IPv4-compatible form of 127.0.0.1
    # IPv6 spellings of IPv4 addresses are judged by the IPv4 address they reach.
    ("::ffff:127.0.0.1", Refusal.LOOPBACK),
    ("::ffff:10.0.0.1", Refusal.PRIVATE),
    ("::ffff:169.254.169.254", Refusal.METADATA),
    ("64:ff9b::a9fe:a9fe", Refusal.METADATA),  # NAT64 of 169.254.169.254
    ("2002:a9fe:a9fe::1", Refusal.METADATA),  # 6to4 of 169.254.169.254
    ("2002:0a00:0001::1", Refusal.PRIVATE),  # 6to4 of 10.0.0.1
    # Public unicast passes.
    (PUBLIC_V4, None),
    ("8.8.8.8", None),
    ("172.32.0.1", None),  # just past 172.16.0.0/12
    ("100.128.0.1", None),  # just past 100.64.0.0/10
    ("169.255.0.1", None),  # just past link-local
    (PUBLIC_V6, None),
    ("::ffff:140.82.112.3", None),
    ("64:ff9b::8c52:7003", None),  # NAT64 of a public address (IPv6-only VPC + DNS64)
]


@pytest.mark.parametrize(("address", "expected"), CLASSIFIED, ids=[a for a, _ in CLASSIFIED])
def test_each_address_is_classified_by_the_range_it_reaches(
    address: str, expected: Refusal | None
) -> None:
    assert refusal_reason(ip_address(address)) == expected


LOCAL_MODE: list[tuple[str, Refusal | None]] = [
    ("127.0.0.1", None),
    ("127.0.0.53", None),
    ("::1", None),
    ("::ffff:127.0.0.1", None),
    ("10.0.0.1", Refusal.PRIVATE),
    ("169.254.169.254", Refusal.METADATA),
    (UNSPECIFIED_V4, Refusal.UNSPECIFIED),
    ("fe80::1", Refusal.LINK_LOCAL),
]


@pytest.mark.parametrize(("address", "expected"), LOCAL_MODE, ids=[a for a, _ in LOCAL_MODE])
def test_local_mode_allows_loopback_and_nothing_else(
    address: str, expected: Refusal | None
) -> None:
    assert refusal_reason(ip_address(address), allow_loopback=True) == expected


LITERALS: list[tuple[str, str | None]] = [
    ("127.0.0.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("0251.0376.0251.0376", "169.254.169.254"),
    ("[::1]", "::1"),
    ("[::ffff:a9fe:a9fe]", "::ffff:169.254.169.254"),
    ("git.example.test", None),
    ("1.2.3.4.5", None),
    ("0xgit", None),
]


@pytest.mark.parametrize(("host", "expected"), LITERALS, ids=[h for h, _ in LITERALS])
def test_every_spelling_of_an_ip_literal_is_read_as_the_address_it_means(
    host: str, expected: str | None
) -> None:
    literal = ip_literal(host)
    assert (None if literal is None else ip_address(literal)) == (
        None if expected is None else ip_address(expected)
    )


# -- 2. resolve, then check every answer -------------------------------------------------------

RESOLVED: list[tuple[str, list[str], Refusal]] = [
    ("private-10", ["10.1.2.3"], Refusal.PRIVATE),
    ("private-172", ["172.20.0.5"], Refusal.PRIVATE),
    ("private-192", ["192.168.0.10"], Refusal.PRIVATE),
    ("cgnat", ["100.64.10.1"], Refusal.SHARED),
    ("ula", ["fd12::10"], Refusal.PRIVATE),
    ("loopback", ["127.0.0.1"], Refusal.LOOPBACK),
    ("loopback-v6", ["::1"], Refusal.LOOPBACK),
    ("link-local", ["169.254.10.10"], Refusal.LINK_LOCAL),
    ("link-local-v6", ["fe80::abcd"], Refusal.LINK_LOCAL),
    ("aws-metadata", ["169.254.169.254"], Refusal.METADATA),
    ("aws-metadata-v6", ["fd00:ec2::254"], Refusal.METADATA),
    ("ecs-credentials", ["169.254.170.2"], Refusal.METADATA),
    ("mapped-metadata", ["::ffff:169.254.169.254"], Refusal.METADATA),
    ("unspecified", [UNSPECIFIED_V4], Refusal.UNSPECIFIED),
    ("multicast", ["224.0.0.251"], Refusal.MULTICAST),
    ("broadcast", ["255.255.255.255"], Refusal.RESERVED),
    ("documentation", ["192.0.2.1"], Refusal.RESERVED),
    ("public-then-private", [PUBLIC_V4, "10.0.0.1"], Refusal.PRIVATE),
    ("private-then-public", ["10.0.0.1", PUBLIC_V4], Refusal.PRIVATE),
    ("public-v6-then-metadata", [PUBLIC_V6, "169.254.169.254"], Refusal.METADATA),
    ("public-v4-then-link-local-v6", [PUBLIC_V4, PUBLIC_V6, "fe80::1"], Refusal.LINK_LOCAL),
    ("not-an-address", ["git.internal"], Refusal.UNPARSEABLE),
]


@pytest.mark.parametrize(
    ("case", "answers", "reason"), RESOLVED, ids=[case for case, _, _ in RESOLVED]
)
def test_a_name_is_refused_when_any_address_it_resolves_to_is_not_public(
    case: str, answers: list[str], reason: Refusal
) -> None:
    # given a self-hosted name whose DNS answer includes a refused address
    network = FakeNetwork({SELF_HOSTED: answers})
    # when a connection to it is opened
    with pytest.raises(AddressRefused) as refused:
        network.guard().open(SELF_HOSTED, 443, 1.0, tls=True)
    # then it is refused for that reason, after one lookup and before any connection attempt
    assert refused.value.reason is reason
    assert network.resolved == [(SELF_HOSTED, 443)]
    assert network.connected == []


@pytest.mark.parametrize(
    ("answers", "allow_loopback"),
    [
        ([PUBLIC_V4], False),
        ([PUBLIC_V6], False),
        ([PUBLIC_V4, PUBLIC_V6, PUBLIC_V4], False),
        (["::ffff:140.82.112.3"], False),
        (["127.0.0.1"], True),
        (["::1", "127.0.0.1"], True),
    ],
)
def test_public_answers_pass_the_check_in_resolver_order_without_duplicates(
    answers: list[str], allow_loopback: bool
) -> None:
    network = FakeNetwork({SELF_HOSTED: answers})

    checked = network.guard(allow_loopback=allow_loopback).checked_addresses(SELF_HOSTED, 443)

    assert checked == list(dict.fromkeys(ip_address(a) for a in answers))
    assert network.connected == []


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("10.0.0.1", Refusal.PRIVATE),
        ("169.254.169.254", Refusal.METADATA),
        ("0251.0376.0251.0376", Refusal.METADATA),
        ("2130706433", Refusal.LOOPBACK),
        ("0x7f.1", Refusal.LOOPBACK),
        ("::ffff:a9fe:a9fe", Refusal.METADATA),
        ("fd00:ec2::254", Refusal.METADATA),
        ("100.64.0.1", Refusal.SHARED),
    ],
)
def test_an_ip_literal_host_is_checked_without_asking_the_resolver(
    host: str, reason: Refusal
) -> None:
    network = FakeNetwork()

    with pytest.raises(AddressRefused) as refused:
        network.guard().open(host, 443, 1.0, tls=True)

    assert refused.value.reason is reason
    assert network.resolved == []
    assert network.connected == []


def test_plain_http_is_refused_to_a_public_address_even_in_local_mode() -> None:
    network = FakeNetwork({SELF_HOSTED: [PUBLIC_V4]})

    with pytest.raises(AddressRefused) as refused:
        network.guard(allow_loopback=True).open(SELF_HOSTED, 80, 1.0, tls=False)

    assert refused.value.reason is Refusal.PLAIN_HTTP
    assert network.connected == []


# -- 3. through ProviderHttp: refused before sending, pinned when allowed ---------------------


def test_a_self_hosted_api_resolving_to_metadata_is_refused_before_anything_is_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a self-hosted GitLab whose name resolves to the instance metadata service
    network = FakeNetwork({SELF_HOSTED: ["169.254.169.254"]})
    http = network.provider_http(f"https://{SELF_HOSTED}/api/v4", max_retries=2)
    # when the client calls its API
    with pytest.raises(ProviderAddressRefused) as refused:
        http.request("GET", "/projects/acme%2Fapi", token=TOKEN)
    # then: 502 provider_unavailable with the fixed detail, no retry, no connection attempt,
    # and the reason logged without the token
    assert (refused.value.status, refused.value.code) == (502, "provider_unavailable")
    assert refused.value.detail == "GitLab: provider address not allowed"
    assert isinstance(refused.value, ProviderUnavailable)
    assert network.resolved == [(SELF_HOSTED, 443)]
    assert network.connected == []
    [record] = [r for r in caplog.records if r.getMessage() == "provider address refused"]
    assert record.__dict__["reason"] == "metadata"
    assert TOKEN.get_secret_value() not in caplog.text


def test_an_allowed_address_is_connected_to_exactly_as_checked_without_a_second_lookup() -> None:
    # given a name with two public addresses
    network = FakeNetwork({SELF_HOSTED: [PUBLIC_V4, PUBLIC_V6]})
    http = network.provider_http(f"https://{SELF_HOSTED}/api/v4")
    # when the client calls (the test network refuses every non-loopback connection)
    with pytest.raises(ProviderUnavailable) as failed:
        http.request("GET", "/projects/acme%2Fapi", token=TOKEN)
    # then it resolved once and tried the checked addresses, in order, on the API's port
    assert not isinstance(failed.value, ProviderAddressRefused)
    assert network.resolved == [(SELF_HOSTED, 443)]
    assert network.connected == [(PUBLIC_V4, 443), (PUBLIC_V6, 443)]


def test_dns_rebinding_between_attempts_is_caught_on_the_next_connection() -> None:
    # given a name that answers public first and the metadata address afterwards
    network = RebindingNetwork(
        {SELF_HOSTED: [PUBLIC_V4]}, rebound={SELF_HOSTED: ["169.254.169.254"]}
    )
    http = network.provider_http(f"https://{SELF_HOSTED}/api/v4", max_retries=1)
    # when the first connection fails and the idempotent call is retried
    with pytest.raises(ProviderAddressRefused):
        http.request("GET", "/projects/acme%2Fapi", token=TOKEN)
    # then each connection resolved and checked afresh: the rebound answer was never connected
    assert network.resolved == [(SELF_HOSTED, 443), (SELF_HOSTED, 443)]
    assert network.connected == [(PUBLIC_V4, 443)]


def test_both_schemes_are_served_by_the_pinned_adapter_and_proxies_are_refused() -> None:
    http = FakeNetwork().provider_http(f"https://{SELF_HOSTED}/api/v4")
    session = http._session

    adapters = {session.get_adapter(f"{scheme}://x.example") for scheme in ("http", "https")}

    assert len(adapters) == 1
    adapter = adapters.pop()
    assert isinstance(adapter, PinnedAddressAdapter)
    with pytest.raises(ValueError, match="never use a proxy"):
        adapter.proxy_manager_for("http://proxy.example:3128")


# -- 4. redirects: no redirects for writes, every GET hop re-checked ---------------------------


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer().start()
    yield srv
    srv.stop()


def _loopback(server: ScriptedServer) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


REDIRECT_TARGETS: list[tuple[str, dict[str, list[str]], Refusal, list[str]]] = [
    # (Location, what the fake DNS answers, expected refusal, names looked up on the way)
    ("http://169.254.169.254/latest/meta-data/", {}, Refusal.METADATA, []),
    ("http://[fd00:ec2::254]/latest/meta-data/", {}, Refusal.METADATA, []),
    ("http://10.0.0.1:8080/admin", {}, Refusal.PRIVATE, []),
    ("http://2852039166/latest/meta-data/", {}, Refusal.METADATA, []),
    (
        "http://metadata.attacker.test/latest/meta-data/",
        {"metadata.attacker.test": ["169.254.169.254"]},
        Refusal.METADATA,
        ["metadata.attacker.test"],
    ),
    (
        "https://internal.attacker.test/",
        {"internal.attacker.test": [PUBLIC_V4, "192.168.0.1"]},
        Refusal.PRIVATE,
        ["internal.attacker.test"],
    ),
    (
        "http://public.attacker.test/",
        {"public.attacker.test": [PUBLIC_V4]},
        Refusal.PLAIN_HTTP,
        ["public.attacker.test"],
    ),
]


@pytest.mark.parametrize(
    ("location", "answers", "reason", "looked_up"),
    REDIRECT_TARGETS,
    ids=[target[0] for target in REDIRECT_TARGETS],
)
def test_a_get_redirect_to_a_refused_address_is_not_followed(
    server: ScriptedServer,
    caplog: pytest.LogCaptureFixture,
    location: str,
    answers: dict[str, list[str]],
    reason: Refusal,
    looked_up: list[str],
) -> None:
    # given the provider (the simulator's stand-in on loopback) answers 302 to another address
    server.route("GET", "/api/v4/projects/1", Step(302, headers={"Location": location}))
    network = FakeNetwork(answers)
    http = network.provider_http(server.url + "/api/v4", allow_loopback=True)
    # when the client GETs
    with pytest.raises(ProviderAddressRefused):
        http.request("GET", "/projects/1", token=TOKEN)
    # then only the provider itself was connected to; the hop was checked and refused
    assert network.connected == [_loopback(server)]
    assert [host for host, _ in network.resolved] == looked_up
    refusals = [r for r in caplog.records if r.getMessage() == "provider address refused"]
    assert [r.__dict__["reason"] for r in refusals] == [reason.value]
    assert [seen.path for seen in server.seen] == ["/api/v4/projects/1"]


def test_a_get_redirect_within_loopback_is_followed_in_local_mode(server: ScriptedServer) -> None:
    host, port = _loopback(server)
    server.route(
        "GET",
        "/api/v4/projects/1",
        Step(301, headers={"Location": f"http://{host}:{port}/api/v4/projects/2"}),
    )
    server.route("GET", "/api/v4/projects/2", Step(200, body={"id": 2}))
    network = FakeNetwork()
    http = network.provider_http(server.url + "/api/v4", allow_loopback=True)

    response = http.request("GET", "/projects/1", token=TOKEN)

    assert response.json() == {"id": 2}
    assert [seen.path for seen in server.seen] == ["/api/v4/projects/1", "/api/v4/projects/2"]
    assert set(network.connected) == {(host, port)}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_write_is_never_redirected_off_the_api_origin(
    server: ScriptedServer, method: str
) -> None:
    # given a provider that answers a write with a redirect to the metadata service
    server.route(
        method,
        "/api/v4/projects/1/hooks",
        Step(307, headers={"Location": "http://169.254.169.254/"}),
    )
    network = FakeNetwork()
    http = network.provider_http(server.url + "/api/v4", allow_loopback=True)
    # when the client sends the write
    with pytest.raises(ProviderUnavailable) as caught:
        http.request(method, "/projects/1/hooks", token=TOKEN, json={"url": "x"})
    # then it is refused (a 307 is followed only on the API's own origin, issue 17), and
    # nothing else was contacted or even resolved
    assert caught.value.detail == "GitLab redirected the request to another host; not following it"
    assert network.connected == [_loopback(server)]
    assert network.resolved == []


# -- 5. pinned sockets still speak TLS to the host name ----------------------------------------


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A throwaway CA and a server certificate for SELF_HOSTED only (no IP SAN)."""
    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "repoconn test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SELF_HOSTED)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SELF_HOSTED)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


class TlsServer(LoopbackServer):
    """HTTPS on 127.0.0.1 that records the SNI name and Host header of each request."""

    def __init__(self, files: TlsFiles) -> None:
        self.sni: list[str | None] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(files.cert, files.key)

        def record_sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            self.sni.append(name)

        context.sni_callback = record_sni
        super().__init__(lambda _request: Reply(200, b'{"ok": true}'), tls=context)

    @property
    def hosts(self) -> list[str | None]:
        return [request.headers.get("Host") for request in self.received]


@pytest.fixture
def tls_server(tls_files: TlsFiles) -> Iterator[TlsServer]:
    with TlsServer(tls_files) as server:
        yield server


def _pinned_session(network: FakeNetwork) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    adapter = PinnedAddressAdapter(network.guard(allow_loopback=True), max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def test_the_pinned_socket_keeps_sni_host_header_and_certificate_checks_on_the_name(
    tls_files: TlsFiles, tls_server: TlsServer
) -> None:
    # given the name resolves (in the fake DNS) to the loopback server holding its certificate
    network = FakeNetwork({SELF_HOSTED: ["127.0.0.1"]})
    session = _pinned_session(network)
    # when a request goes to the name
    response = session.get(
        f"https://{SELF_HOSTED}:{tls_server.port}/ping", verify=str(tls_files.ca), timeout=5
    )
    # then the socket went to the checked address, while TLS and HTTP spoke to the name
    assert response.json() == {"ok": True}
    assert network.connected == [("127.0.0.1", tls_server.port)]
    assert tls_server.sni == [SELF_HOSTED]
    assert tls_server.hosts == [f"{SELF_HOSTED}:{tls_server.port}"]


def test_the_certificate_must_match_the_name_not_the_pinned_address(
    tls_files: TlsFiles, tls_server: TlsServer
) -> None:
    # given another name resolving to the same server, whose certificate does not cover it
    network = FakeNetwork({"other.example.test": ["127.0.0.1"]})
    session = _pinned_session(network)
    # when a request goes to that name, verification fails: the address is not what is verified
    with pytest.raises(requests.exceptions.SSLError):
        session.get(
            f"https://other.example.test:{tls_server.port}/ping",
            verify=str(tls_files.ca),
            timeout=5,
        )
    assert tls_server.hosts == []


# -- 6. configuration: IP-literal API URLs are refused at cold start ---------------------------

CONFIGURED: list[tuple[str, bool, str | None]] = [
    # (apiUrl, local mode, expected refusal)
    ("https://10.0.0.5/api/v4", False, "private"),
    ("https://169.254.169.254/api/v4", False, "metadata"),
    ("https://[fd00:ec2::254]/api/v4", False, "metadata"),
    ("https://100.64.0.1/api/v4", False, "shared"),
    ("https://0x7f.1/api/v4", False, "loopback"),
    ("https://2130706433/api/v4", False, "loopback"),
    ("https://[::1]:8443/api/v4", False, "loopback"),
    ("http://127.0.0.1:9000/api/v4", False, "loopback"),
    ("https://localhost/api/v4", False, "loopback"),
    ("https://git.localhost/api/v4", False, "loopback"),
    ("https://0.0.0.0/api/v4", False, "unspecified"),
    ("https://10.0.0.5/api/v4", True, "private"),
    ("https://[fe80::1]/api/v4", True, "link_local"),
    ("http://127.0.0.1:9000/api/v4", True, None),
    ("https://localhost/api/v4", True, None),
    ("https://git.example.com/api/v4", False, None),  # a name: checked when resolved
    (f"https://{PUBLIC_V4}/api/v3", False, None),
]


@pytest.mark.parametrize(("api_url", "local", "expected"), CONFIGURED)
def test_a_self_hosted_api_url_on_a_refused_ip_literal_fails_settings_validation(
    api_url: str, local: bool, expected: str | None
) -> None:
    config = {"git.example.com": {"serviceType": "GitLab", "apiUrl": api_url}}
    env = {"SELF_HOSTED_PROVIDERS": json.dumps(config)}
    if local:
        env["ALLOW_LOOPBACK_PROVIDER_API"] = "true"

    if expected is None:
        settings = Settings.from_env(env)
        assert settings.self_hosted_providers["git.example.com"] == SelfHostedProvider(
            serviceType=ServiceType.GITLAB, apiUrl=api_url
        )
        return
    with pytest.raises(ValidationError) as refused:
        Settings.from_env(env)
    assert f"self_hosted_providers[git.example.com].apiUrl: the API host is a {expected}" in str(
        refused.value
    )
    assert api_url_refusal(api_url, allow_loopback=local) == Refusal(expected)


def test_the_public_provider_api_urls_are_held_to_the_same_rule() -> None:
    with pytest.raises(ValidationError, match="github_api_url: the API host is a metadata"):
        Settings(github_api_url="https://169.254.169.254/api/v3")


def test_the_deployed_stack_never_turns_on_the_local_loopback_exception() -> None:
    # The one switch that lets provider requests reach loopback exists for local runs only.
    assert "ALLOW_LOOPBACK_PROVIDER_API" not in (REPO_ROOT / "template.yaml").read_text()
    assert Settings().allow_loopback_provider_api is False
