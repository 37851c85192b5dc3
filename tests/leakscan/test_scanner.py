"""The scanner finds a secret in each encoding, wherever it sits, and nothing else."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote_plus

import pytest

from tests.leakscan.scanner import LeakScanner, needles, render

SECRET = "ghp_Leak+Canary/Token=0123456789"
OTHER = "x9Lm2Qr7Tz4Wv8Ns1Pk6Hj3Bd5Fg0Ca"


def scanner() -> LeakScanner:
    scan = LeakScanner()
    scan.add_secret("token", SECRET)
    return scan


@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"abc", b'{"x":1}'])
@pytest.mark.parametrize("urlsafe", [False, True])
def test_base64_of_text_containing_the_secret_is_found_at_every_offset(
    prefix: bytes, urlsafe: bool
) -> None:
    # given the secret embedded in a larger value that was base64-encoded as a whole
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    blob = encode(prefix + SECRET.encode() + b"-suffix").decode()
    # when scanned / then found
    assert scanner().find(f"attribute={blob}")


@pytest.mark.parametrize(
    "encoded",
    [
        SECRET,
        quote_plus(SECRET),
        SECRET.encode().hex(),
        SECRET.encode().hex().upper(),
        base64.b64encode(SECRET.encode()).decode().rstrip("="),
        json.dumps({"B": SECRET.encode().decode("latin-1")}),
        SECRET.encode(),
    ],
    ids=["raw", "url", "hex", "HEX", "b64-nopad", "json", "bytes"],
)
def test_each_encoding_is_found(encoded: object) -> None:
    assert scanner().find(encoded)


def test_an_artefact_without_the_secret_is_clean_and_counted() -> None:
    # given a scanner and artefacts holding other values (another secret's encodings too)
    scan = scanner()
    clean = [OTHER, base64.b64encode(OTHER.encode()).decode(), {"hex": OTHER.encode().hex()}]
    # when scanned
    scan.scan_all("clean", clean)
    # then nothing leaks, and each artefact counts once
    assert scan.leaks == []
    assert scan.artefacts_scanned == 3


def test_a_leak_names_the_artefact_secret_label_and_encoding_never_the_value() -> None:
    scan = scanner()
    [leak] = scan.scan("log[7]", f"token is {SECRET.encode().hex()}")
    assert (leak.artefact, leak.secret, leak.encoding) == ("log[7]", "token", "hex")
    assert SECRET not in str(leak)


def test_every_needle_is_long_enough_to_mean_something() -> None:
    assert all(len(needle) >= 12 for needle in needles(SECRET).values())
    assert render(b"\xff\x00ok") == "\xff\x00ok"
