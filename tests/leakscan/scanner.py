"""Look for secrets in artefacts, in every encoding a secret takes on its way out.

A secret can leave raw, but also inside something that was encoded as a whole: a base64
binary attribute, a hex dump, a URL's query string. ``needles(secret)`` gives the strings
that necessarily appear in such an encoding wherever the secret sits in the encoded bytes:

- raw, URL-encoded (``quote`` and ``quote_plus``);
- hex, lower and upper case;
- base64, standard and URL-safe alphabet, with and without padding - and, because base64
  works on 3-byte groups, the stable middle of the encoding at each of the three byte
  offsets the secret can start at (what a base64 of ``prefix + secret + suffix`` must
  contain, whatever the prefix and suffix are).

``LeakScanner`` counts the artefacts it scans and keeps every hit, with the artefact's name,
the secret's label (never the secret) and the encoding that matched.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

# A needle shorter than this matches too much by chance (base64 of a short secret at an odd
# offset keeps only a few stable characters).
MIN_NEEDLE = 12


def _b64_middle(raw: bytes, offset: int, *, urlsafe: bool) -> str:
    """The base64 characters determined by ``raw`` alone when it starts ``offset`` bytes
    into a 3-byte group (each character encodes 6 bits: keep those fully inside raw)."""
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    text = encode(b"\0" * offset + raw).decode("ascii").rstrip("=")
    first = -(-8 * offset // 6)  # ceil: first character with no prefix bits
    last = 8 * (offset + len(raw)) // 6  # floor: first character with suffix bits
    return text[first:last]


def needles(secret: str) -> dict[str, str]:
    """Encoding name -> the string that encoding of the secret contains."""
    raw = secret.encode("utf-8")
    found: dict[str, str] = {
        "raw": secret,
        "url-encoded": quote(secret, safe=""),
        "url-encoded (plus)": quote_plus(secret),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "base64": base64.b64encode(raw).decode("ascii"),
        "base64 (no padding)": base64.b64encode(raw).decode("ascii").rstrip("="),
        "base64url": base64.urlsafe_b64encode(raw).decode("ascii"),
        "base64url (no padding)": base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="),
    }
    for offset in (0, 1, 2):
        found[f"base64 inside (offset {offset})"] = _b64_middle(raw, offset, urlsafe=False)
        found[f"base64url inside (offset {offset})"] = _b64_middle(raw, offset, urlsafe=True)
    return {name: needle for name, needle in found.items() if len(needle) >= MIN_NEEDLE}


def render(content: Any) -> str:
    """Any artefact as text: bytes as Latin-1 (every byte kept, ASCII unchanged), structures as
    JSON with bytes rendered the same way."""
    if isinstance(content, bytes | bytearray):
        return bytes(content).decode("latin-1")
    if isinstance(content, str):
        return content

    def default(value: Any) -> Any:
        if isinstance(value, bytes | bytearray):
            return bytes(value).decode("latin-1")
        return repr(value)

    return json.dumps(content, default=default, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Leak:
    artefact: str
    secret: str  # the secret's label
    encoding: str

    def __str__(self) -> str:
        return f"{self.secret} found in {self.artefact} ({self.encoding})"


@dataclass
class LeakScanner:
    """Secrets by label; artefacts scanned in batches: every needle is looked for once in the
    batch joined by NUL (str.find is C-fast; a regex alternation of ~1,500 needles is not),
    and only a needle that hits is looked for artefact by artefact, to name the leak."""

    secrets: dict[str, str] = field(default_factory=dict)  # label -> value
    artefacts_scanned: int = 0
    leaks: list[Leak] = field(default_factory=list)
    # needle -> (secret label, encoding name) for every secret it encodes, raw first
    _owners: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def add_secret(self, label: str, value: str) -> None:
        if not value or value in self.secrets.values():
            return
        self.secrets[label] = value
        for encoding, needle in needles(value).items():
            self._owners.setdefault(needle, []).append((label, encoding))

    def add_secrets(self, labelled: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        items = labelled.items() if isinstance(labelled, Mapping) else labelled
        for label, value in items:
            self.add_secret(label, value)

    def find(self, content: Any) -> list[tuple[str, str]]:
        """(secret label, encoding) for every secret in ``content``; nothing is counted."""
        return self._hits([render(content)])[0]

    def scan(self, artefact: str, content: Any) -> list[Leak]:
        """Scan one artefact; count it and keep what it leaks."""
        self.artefacts_scanned += 1
        found = [Leak(artefact, label, encoding) for label, encoding in self.find(content)]
        self.leaks.extend(found)
        return found

    def scan_all(self, kind: str, contents: Iterable[Any]) -> None:
        """Scan many artefacts named ``kind[i]``; each counts once."""
        texts = [render(content) for content in contents]
        self.artefacts_scanned += len(texts)
        for index, hits in enumerate(self._hits(texts)):
            self.leaks.extend(Leak(f"{kind}[{index}]", label, enc) for label, enc in hits)

    def _hits(self, texts: list[str]) -> list[list[tuple[str, str]]]:
        joined = "\0".join(texts)
        present = [needle for needle in self._owners if needle in joined]
        found: list[list[tuple[str, str]]] = []
        for text in texts:
            by_label: dict[str, str] = {}
            for needle in present:
                if needle in text:
                    for label, encoding in self._owners[needle]:
                        by_label.setdefault(label, encoding)  # one encoding per secret
            found.append(list(by_label.items()))
        return found
