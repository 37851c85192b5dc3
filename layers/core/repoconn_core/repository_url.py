"""Repository URL rules: which URLs name a repository, and their one canonical form.

The canonical URL is the table key, so two spellings of one repository must canonicalise to
the same string and anything that is not plainly a repository on a known host is refused.
Pure string work: no network, no DNS.

Accepted forms (scheme and host case-insensitive):

- ``https://host/owner/repo`` with optional ``.git`` and one optional trailing slash;
- ``git@host:owner/repo`` (scp-like, as providers show for cloning), optional ``.git``;
- ``ssh://git@host[:port]/owner/repo``, optional ``.git``; the user may be left out.

Canonical form: ``https://{lower-case host}/{lower-case path}``, no ``.git``, no trailing
slash, no port. Providers treat names case-insensitively, so ``Acme/Repo.git`` and
``acme/repo`` are one repository.

Decisions (see the module's tests for each one):

- GitHub and Bitbucket: exactly two path segments. Links to pages inside a repository
  (``/tree/main``, ``/src/main``, ``/pulls``) are refused as "not a repository URL" rather
  than trimmed: guessing which tail is a web page is provider- and version-specific.
- GitLab: two or more segments (nested groups). An https URL stops at GitLab's ``/-/`` web
  separator, so ``https://gitlab.com/g/sub/repo/-/tree/main`` is ``g/sub/repo``. The part
  after ``/-/`` is only subject to the whole-URL checks (no ``%``, query, fragment...).
- Segments: ASCII letters, digits, ``-``, ``_``, ``.``; never ``.`` or ``..``; at most 255
  characters (counted without a ``.git`` suffix). A leading ``.`` is allowed because real
  repositories use it (``org/.github``). ``.git`` is only a suffix of the last segment and
  is stripped once; a namespace segment or a stripped name still ending in ``.git`` is
  refused, so the canonical form is unambiguous.
- https port: ``:443`` is the default and always accepted; any other port only for a
  configured self-hosted host. ssh ports (1-65535) are accepted on every known host. The
  port never enters the canonical URL: the host's configured API base URL says where to
  connect, the repository URL only identifies the repository.
- Every character must be printable ASCII without whitespace, which refuses look-alike
  hosts (``github.com`` spelt with a Cyrillic ``i``) and pasted newlines. An ``xn--`` (punycode)
  host is accepted only when configured. ``%`` is refused anywhere, so no percent-encoded
  ``/``, ``..`` or ``@`` can hide in a path.
- IP-literal hosts (dotted, integer, hex and octal IPv4 forms; bracketed IPv6), loopback
  names (``localhost``, ``*.localhost``) and cloud metadata names are refused in every mode,
  even when configured. Whether a configured name *resolves* to a private address is a
  question for the provider client at connect time, not for this module.

Every refusal is one ``InvalidRepositoryUrl`` (422 ``invalid_repository_url``) whose
``reason`` names the rule (the ``REASONS`` below) and whose ``detail`` says it in plain
words. The detail never repeats the URL or any part of it: a URL may carry a token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, Literal

from repoconn_core.errors import InvalidRepositoryUrl, ServiceTypeMismatch, ValidationFailed
from repoconn_core.providers import ProviderEndpoint, RepositoryRef, ServiceType

MAX_URL_LENGTH: Final = 1024
MAX_SEGMENT_LENGTH: Final = 255
HTTPS_DEFAULT_PORT: Final = 443
_SSH_USER: Final = "git"
_GIT_SUFFIX: Final = ".git"
_GITLAB_WEB_SEPARATOR: Final = "-"

Reason = Literal[
    "not_a_string",
    "too_long",
    "whitespace_or_control",
    "non_ascii",
    "insecure_scheme",
    "unsupported_scheme",
    "not_a_url",
    "credentials",
    "query",
    "fragment",
    "percent_encoding",
    "invalid_host",
    "ip_literal",
    "loopback_host",
    "metadata_host",
    "idn_host",
    "unknown_host",
    "invalid_port",
    "port_not_allowed",
    "empty_segment",
    "dot_segment",
    "segment_too_long",
    "invalid_segment",
    "not_a_repository_path",
]

_DETAILS: Final[dict[Reason, str]] = {
    "not_a_string": "The repository URL must be a string.",
    "too_long": f"The repository URL is longer than {MAX_URL_LENGTH} characters.",
    "whitespace_or_control": "The repository URL contains whitespace or control characters.",
    "non_ascii": (
        "The repository URL contains non-ASCII characters; internationalised or look-alike "
        "host names are not accepted."
    ),
    "insecure_scheme": "The repository URL uses http; use https or ssh.",
    "unsupported_scheme": "The repository URL must use https or ssh.",
    "not_a_url": (
        "Not a repository URL; use https://host/owner/repo, git@host:owner/repo.git or "
        "ssh://git@host/owner/repo.git."
    ),
    "credentials": (
        "The repository URL must not contain credentials; give the access token in the "
        "accessToken field (ssh URLs may only use the user 'git')."
    ),
    "query": "The repository URL must not contain a query string.",
    "fragment": "The repository URL must not contain a fragment.",
    "percent_encoding": "The repository URL must not contain percent-encoded characters.",
    "invalid_host": "The repository URL's host is not a valid host name.",
    "ip_literal": "The repository URL's host is an IP address; use the provider's host name.",
    "loopback_host": "The repository URL's host is a loopback name.",
    "metadata_host": "The repository URL's host is a cloud metadata service name.",
    "idn_host": (
        "The repository URL's host is an internationalised (punycode) name that is not a "
        "configured provider host."
    ),
    "unknown_host": (
        "The repository URL's host is not a supported provider: github.com, gitlab.com, "
        "bitbucket.org or a configured self-hosted host."
    ),
    "invalid_port": "The repository URL's port is not a valid port number.",
    "port_not_allowed": (
        "The repository URL names a port; an https port other than 443 is only accepted for "
        "configured self-hosted hosts."
    ),
    "empty_segment": "The repository URL's path has an empty segment.",
    "dot_segment": "The repository URL's path has a '.' or '..' segment.",
    "segment_too_long": (
        f"A segment of the repository URL's path is longer than {MAX_SEGMENT_LENGTH} characters."
    ),
    "invalid_segment": (
        "A segment of the repository URL's path has characters other than letters, digits, "
        "'-', '_' and '.', or ends in '.git' where only the repository name may."
    ),
    "not_a_repository_path": "Not a repository URL.",
}

_PATH_SHAPE_DETAILS: Final[dict[ServiceType, str]] = {
    ServiceType.GITHUB: (
        "Not a repository URL: a GitHub repository URL has exactly an owner and a repository "
        "name (https://github.com/owner/repo); links to pages inside a repository are not "
        "accepted."
    ),
    ServiceType.BITBUCKET: (
        "Not a repository URL: a Bitbucket repository URL has exactly a workspace and a "
        "repository name (https://bitbucket.org/workspace/repo); links to pages inside a "
        "repository are not accepted."
    ),
    ServiceType.GITLAB: (
        "Not a repository URL: a GitLab repository URL has a group and a project "
        "(https://gitlab.com/group/project or group/subgroup/project)."
    ),
}

_SEGMENT = re.compile(r"[A-Za-z0-9_.-]+")
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# The WHATWG URL parser reads a host whose last label is a number (decimal, 0x-hex or
# 0-octal) as IPv4: 2130706433, 0x7f.1 and 127.1 all mean 127.0.0.1.
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_LOOPBACK_NAMES: Final = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
)
_METADATA_NAMES: Final = frozenset(
    {"metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"}
)
_MAX_HOST_LENGTH: Final = 253


class RepositoryUrlRejected(InvalidRepositoryUrl):
    """An ``InvalidRepositoryUrl`` that also says which rule refused the URL (``reason``).

    Same status, code and title as its parent, so the problem+json mapping is unchanged;
    ``reason`` is for tests, logs and the problem's ``errors`` entry.
    """

    def __init__(self, reason: Reason, detail: str | None = None) -> None:
        message = detail or _DETAILS[reason]
        super().__init__(
            message,
            [{"loc": ["body", "repositoryUrl"], "type": reason, "msg": message}],
        )
        self.reason: Reason = reason


def parse_repository_url(raw: str, endpoints: Mapping[str, ProviderEndpoint]) -> RepositoryRef:
    """The repository ``raw`` names on one of ``endpoints``' hosts, in canonical form.

    Raises ``RepositoryUrlRejected`` (an ``InvalidRepositoryUrl``) for anything else.
    """
    _check_characters(raw)
    scheme, authority, path = _split(raw)
    host, port = _host_and_port(authority)
    _check_host_name(host)
    endpoint = _endpoint_for(host, endpoints)
    _check_port(scheme, port, endpoint)
    segments = _repository_segments(path, endpoint.service_type, web_url=scheme == "https")
    return RepositoryRef(
        service_type=endpoint.service_type,
        host=host,
        path="/".join(segments).lower(),
        endpoint=endpoint,
    )


def check_service_type(repo: RepositoryRef, declared: str | None) -> None:
    """``declared`` (the request's optional serviceType) must match the repository's host.

    None means "infer from the host". Otherwise the value must name a service type,
    case-insensitively ("github" and "GitHub" are both fine).
    """
    if declared is None:
        return
    by_lower_name = {member.value.lower(): member for member in ServiceType}
    kind = by_lower_name.get(declared.lower())
    if kind is None:
        accepted = ", ".join(member.value for member in ServiceType)
        # The value itself is not repeated: it is free text from the request.
        detail = f"serviceType must be one of {accepted}, or left out to infer it from the host."
        raise ValidationFailed(
            detail, [{"loc": ["body", "serviceType"], "type": "enum", "msg": detail}]
        )
    if kind is not repo.service_type:
        raise ServiceTypeMismatch(
            f"serviceType is {kind.value} but the repository host {repo.host} is a "
            f"{repo.service_type.value} host."
        )


def _check_characters(raw: object) -> None:
    if not isinstance(raw, str):
        raise RepositoryUrlRejected("not_a_string")
    # Length first: everything after this is linear in a bounded string.
    if len(raw) > MAX_URL_LENGTH:
        raise RepositoryUrlRejected("too_long")
    if not raw.isascii():
        raise RepositoryUrlRejected("non_ascii")
    if any(ch.isspace() or not ch.isprintable() for ch in raw):
        raise RepositoryUrlRejected("whitespace_or_control")


def _split(raw: str) -> tuple[str, str, str]:
    """(scheme, authority, path) where scheme is "https" or "ssh" and path has no leading "/".

    scp-like ``git@host:path`` comes back as scheme "ssh".
    """
    scheme_match = _SCHEME.match(raw)
    if scheme_match is not None and raw[scheme_match.end() :].startswith("//"):
        scheme = scheme_match.group(1).lower()
        rest = raw[scheme_match.end() + 2 :]
        if scheme == "http":
            raise RepositoryUrlRejected("insecure_scheme")
        if scheme not in ("https", "ssh"):
            raise RepositoryUrlRejected("unsupported_scheme")
        # The authority ends at the first "/", "?" or "#" (RFC 3986 3.2); credentials are
        # looked for there first so that their refusal wins over any later problem.
        end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        authority, tail = rest[:end], rest[end:]
        authority = _without_userinfo(authority, ssh=scheme == "ssh")
        _check_path_characters(tail)
        return scheme, authority, tail.removeprefix("/")
    # Without "scheme://" only scp-like "git@host:path" is left; "github.com/o/r",
    # "mailto:x" or "file:x" are not repository URLs.
    return _split_scp_like(raw)


def _split_scp_like(raw: str) -> tuple[str, str, str]:
    user, at, rest = raw.partition("@")
    if not at:
        raise RepositoryUrlRejected("not_a_url")
    if ":" in user or user != _SSH_USER:
        raise RepositoryUrlRejected("credentials")
    if rest.startswith("["):
        raise RepositoryUrlRejected("ip_literal")
    host, colon, path = rest.partition(":")
    if not colon:
        raise RepositoryUrlRejected("not_a_url")
    if "@" in host:
        raise RepositoryUrlRejected("credentials")
    _check_path_characters(path)
    # scp-like syntax has no port: "git@host:22/o/r" is the path "22/o/r", as git reads it.
    return "ssh", host, path


def _without_userinfo(authority: str, *, ssh: bool) -> str:
    userinfo, at, host_port = authority.rpartition("@")
    if not at:
        return authority
    # https never carries credentials here; ssh only the conventional user "git".
    if not ssh or userinfo != _SSH_USER:
        raise RepositoryUrlRejected("credentials")
    return host_port


def _check_path_characters(tail: str) -> None:
    if "?" in tail:
        raise RepositoryUrlRejected("query")
    if "#" in tail:
        raise RepositoryUrlRejected("fragment")
    if "%" in tail:
        raise RepositoryUrlRejected("percent_encoding")


def _host_and_port(authority: str) -> tuple[str, str | None]:
    if "%" in authority:
        raise RepositoryUrlRejected("percent_encoding")
    if authority.startswith("["):
        raise RepositoryUrlRejected("ip_literal")
    host, colon, port = authority.partition(":")
    return host.lower(), (port if colon else None)


def _check_host_name(host: str) -> None:
    if not host:
        raise RepositoryUrlRejected("invalid_host")
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]) or (
        labels[-1] == "" and len(labels) > 1 and _NUMERIC_LABEL.fullmatch(labels[-2])
    ):
        raise RepositoryUrlRejected("ip_literal")
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        raise RepositoryUrlRejected("loopback_host")
    if host in _METADATA_NAMES:
        raise RepositoryUrlRejected("metadata_host")
    if len(host) > _MAX_HOST_LENGTH or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise RepositoryUrlRejected("invalid_host")


def _endpoint_for(host: str, endpoints: Mapping[str, ProviderEndpoint]) -> ProviderEndpoint:
    endpoint = {name.lower(): value for name, value in endpoints.items()}.get(host)
    if endpoint is not None:
        return endpoint
    if any(label.startswith("xn--") for label in host.split(".")):
        raise RepositoryUrlRejected("idn_host")
    raise RepositoryUrlRejected("unknown_host")


def _check_port(scheme: str, port: str | None, endpoint: ProviderEndpoint) -> None:
    if port is None:
        return
    if not (port.isdigit() and 1 <= int(port) <= 65535):
        raise RepositoryUrlRejected("invalid_port")
    if scheme == "https" and int(port) != HTTPS_DEFAULT_PORT and not endpoint.self_hosted:
        raise RepositoryUrlRejected("port_not_allowed")


def _repository_segments(path: str, kind: ServiceType, *, web_url: bool) -> list[str]:
    """The path's repository segments, ``.git`` stripped, validated, in original case."""
    segments = path.removesuffix("/").split("/") if path else []
    if web_url and kind is ServiceType.GITLAB and _GITLAB_WEB_SEPARATOR in segments:
        segments = segments[: segments.index(_GITLAB_WEB_SEPARATOR)]
    if segments and len(segments[-1]) > len(_GIT_SUFFIX):
        segments[-1] = _strip_git_suffix(segments[-1])
    for segment in segments:
        _check_segment(segment)
    if any(segment.lower().endswith(_GIT_SUFFIX) for segment in segments):
        # ".git" is only a suffix of the last segment, and that was stripped once already.
        raise RepositoryUrlRejected("invalid_segment")
    if kind is ServiceType.GITLAB and _GITLAB_WEB_SEPARATOR in segments:
        # GitLab reserves "-" as its web separator; it is only trimmed from https URLs.
        raise RepositoryUrlRejected("invalid_segment")
    two_exactly = kind in (ServiceType.GITHUB, ServiceType.BITBUCKET)
    if len(segments) < 2 or (two_exactly and len(segments) != 2):
        raise RepositoryUrlRejected("not_a_repository_path", _PATH_SHAPE_DETAILS[kind])
    return segments


def _strip_git_suffix(segment: str) -> str:
    if segment.lower().endswith(_GIT_SUFFIX):
        return segment[: -len(_GIT_SUFFIX)]
    return segment


def _check_segment(segment: str) -> None:
    if not segment:
        raise RepositoryUrlRejected("empty_segment")
    if segment in (".", ".."):
        raise RepositoryUrlRejected("dot_segment")
    if len(segment) > MAX_SEGMENT_LENGTH:
        raise RepositoryUrlRejected("segment_too_long")
    if not _SEGMENT.fullmatch(segment):
        raise RepositoryUrlRejected("invalid_segment")
