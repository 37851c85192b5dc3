"""Plumbing the provider simulator's modules share: one request and one response shape, the
token conventions, pagination, and the base class that runs every provider call through the
same order of checks (outage, credentials, rate limit, then the route itself).

Nothing here knows a provider's paths or JSON; see github.py, gitlab.py and bitbucket.py.
"""

from __future__ import annotations

import hashlib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

if TYPE_CHECKING:
    from repoconn_local.simulator.state import SimState, StoredHook

PROVIDERS = ("github", "gitlab", "bitbucket")

# Query parameters some providers accept as credentials (GitLab `private_token`/`access_token`,
# Bitbucket `access_token`). They are cut out of every logged path.
SECRET_QUERY_PARAMS = frozenset({"private_token", "access_token", "token", "job_token"})


class TokenKind(Enum):
    """What a token may do, by the simulator's prefix convention (see server.py)."""

    MISSING = "missing"
    BAD = "bad"
    DOWN = "down"
    LIMITED = "limited"
    SLOW = "slow"
    READ_ONLY = "read_only"
    # Bitbucket: `webhook` scope but not `pullrequest` (full rights elsewhere).
    NO_PULLREQUEST = "no_pullrequest"
    # GitLab: a Maintainer's token with the `read_api` scope only (full rights elsewhere).
    READ_API = "read_api"
    # GitLab: an OAuth token, which `GET /personal_access_tokens/self` does not describe.
    OAUTH = "oauth"
    # GitHub App installation tokens (`ghs_`): no `permissions.admin`, hooks by the app's
    # "Webhooks" repository permission - granted, or not (full rights elsewhere).
    INSTALLATION = "installation"
    INSTALLATION_NO_HOOKS = "installation_no_hooks"
    FULL = "full"

    @property
    def authenticated(self) -> bool:
        return self not in (TokenKind.MISSING, TokenKind.BAD)

    @property
    def may_admin(self) -> bool:
        """May manage webhooks (admin rights / Maintainer role / `webhook` scope), as far as
        the provider-neutral conventions go; each provider refines the kinds that are its own
        (an installation token is no repository admin on GitHub, a `read_api` token may only
        read on GitLab, a token without `pullrequest` cannot subscribe to its events)."""
        return self in (
            TokenKind.FULL,
            TokenKind.SLOW,
            TokenKind.NO_PULLREQUEST,
            TokenKind.READ_API,
            TokenKind.OAUTH,
            TokenKind.INSTALLATION,
        )

    @property
    def installation(self) -> bool:
        """A GitHub App installation token (`ghs_`)."""
        return self in (TokenKind.INSTALLATION, TokenKind.INSTALLATION_NO_HOOKS)


def classify_token(token: str | None) -> TokenKind:
    if token is None:
        return TokenKind.MISSING
    if not token.strip():
        return TokenKind.BAD
    for prefix, kind in (
        ("bad-", TokenKind.BAD),
        ("down-", TokenKind.DOWN),
        ("limited-", TokenKind.LIMITED),
        ("slow-", TokenKind.SLOW),
        ("ro-", TokenKind.READ_ONLY),
        ("nopr-", TokenKind.NO_PULLREQUEST),
        ("readapi-", TokenKind.READ_API),
        ("oauth-", TokenKind.OAUTH),
        # The longer prefix first: `ghs_nohooks` is an installation token too.
        ("ghs_nohooks", TokenKind.INSTALLATION_NO_HOOKS),
        ("ghs_", TokenKind.INSTALLATION),
    ):
        if token.startswith(prefix):
            return kind
    return TokenKind.FULL


def token_fingerprint(token: str | None) -> str:
    """A short one-way digest, so per-token counters never hold the token itself."""
    if not token:
        return "anonymous"
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def iso_seconds(moment: datetime) -> str:
    """GitHub style: 2024-05-01T12:00:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(moment: datetime) -> str:
    """GitLab style: 2024-05-01T12:00:00.123Z."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text[:-3] + "Z"


def iso_micros(moment: datetime) -> str:
    """Bitbucket style: 2024-05-01T12:00:00.123456+00:00."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class BodyError(ValueError):
    """The request body is not what the endpoint can parse."""


@dataclass
class SimRequest:
    """One HTTP request, relative to the provider prefix it arrived under."""

    method: str
    raw_path: str  # still percent-encoded, so GitLab's `group%2Frepo` stays one segment
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    origin: str  # scheme://host[:port] as the client addressed the simulator
    prefix: str = ""  # e.g. /github, /gitlab/api/v4

    @property
    def api_base(self) -> str:
        return self.origin + self.prefix

    def segments(self) -> list[str]:
        stripped = self.raw_path.strip("/")
        return [unquote(part) for part in stripped.split("/")] if stripped else []

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def authorization(self) -> tuple[str, str] | None:
        """The Authorization header as (scheme in lower case, credentials); None without one."""
        auth = self.header("authorization")
        if auth is None:
            return None
        scheme, _, value = auth.strip().partition(" ")
        return scheme.lower(), value.strip()

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; an empty body is an empty object."""
        if not self.body.strip():
            return {}
        try:
            parsed = json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BodyError("body is not JSON") from exc
        if not isinstance(parsed, dict):
            raise BodyError("body is not a JSON object")
        return parsed

    def form_or_json(self) -> dict[str, Any]:
        """GitLab takes JSON or form-encoded parameters for the same endpoint."""
        content_type = (self.header("content-type") or "").split(";")[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            try:
                parsed = parse_qs(self.body.decode(), keep_blank_values=True)
            except UnicodeDecodeError as exc:
                raise BodyError("body is not UTF-8") from exc
            return {key: values[-1] for key, values in parsed.items()}
        return self.json_object()


@dataclass
class SimResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Work that must not hold the state lock (a delivery to a hook URL, which may call back
    # into the simulator): ``ProviderApi.handle`` runs it after releasing the lock, and its
    # answer is the one sent.
    then: Callable[[], SimResponse] | None = None


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> SimResponse:
    merged = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    return SimResponse(status, json.dumps(payload).encode(), merged)


def text_response(
    status: int,
    text: str,
    content_type: str = "text/plain; charset=utf-8",
    headers: dict[str, str] | None = None,
) -> SimResponse:
    return SimResponse(status, text.encode(), {"Content-Type": content_type, **(headers or {})})


def valid_hook_url(url: str) -> bool:
    """What all three providers accept as a hook URL: absolute http(s) with a host."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def known_hook_route(method: str, rest: list[str]) -> bool:
    """The repository routes GitLab and Bitbucket serve below a repository: the repository
    itself (GET), its hooks (GET, POST) and one hook (GET, PUT, DELETE)."""
    if not rest:
        return method == "GET"
    if rest[0] != "hooks":
        return False
    if len(rest) == 1:
        return method in ("GET", "POST")
    return len(rest) == 2 and method in ("GET", "PUT", "DELETE")


def outage_page(provider_name: str) -> SimResponse:
    # Real outages are answered by load balancers with HTML, not the API's JSON error shape;
    # clients must map the status without parsing the body.
    html = (
        "<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head>"
        f"<body><h1>{provider_name} is temporarily unavailable</h1></body></html>"
    )
    return text_response(503, html, "text/html; charset=utf-8")


@dataclass(frozen=True)
class Page:
    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def total_pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.total_pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def int_param(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def paginate(
    items: list[Any], page: str | None, per_page: str | None, *, default: int, maximum: int
) -> Page:
    size = min(max(int_param(per_page, default), 1), maximum)
    number = max(int_param(page, 1), 1)
    start = (number - 1) * size
    return Page(items[start : start + size], number, size, len(items))


def page_url(req: SimRequest, **params: int) -> str:
    """The current URL with some query parameters replaced, credentials left out."""
    query = {
        key: values[-1]
        for key, values in req.query.items()
        if key not in SECRET_QUERY_PARAMS and key not in params
    }
    query.update({key: str(value) for key, value in params.items()})
    return f"{req.api_base}{req.raw_path}?{urlencode(query)}"


def link_header(links: dict[str, str]) -> str:
    """RFC 8288 `Link`, the form GitHub and GitLab both use: <url>; rel="next", ..."""
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())


class ProviderApi(ABC):
    """One provider's REST subset. `handle` applies the checks every endpoint shares, in the
    order the real services apply them (outage, credentials, rate limit, the route, whose body
    may not parse); subclasses supply the provider's words for each. `build_delivery` sends
    every webhook the same way: compact JSON (or the provider's `delivery_body`), Content-Type
    and User-Agent, the provider's headers, then its secret headers when the hook has one."""

    name: str
    display_name: str
    prefix: str
    user_agent: str  # of the provider's webhook deliveries

    def __init__(self, state: SimState, slow_seconds: float) -> None:
        self.state = state
        self.slow_seconds = slow_seconds

    def handle(self, req: SimRequest) -> SimResponse:
        token = self.extract_token(req)
        kind = classify_token(token)
        if kind is TokenKind.SLOW:
            # Outside the state lock: a slow answer must not stall other requests.
            time.sleep(self.slow_seconds)
        if kind is TokenKind.DOWN:
            return outage_page(self.display_name)
        with self.state.lock:
            if not kind.authenticated:
                response = self.unauthorized(req)
            elif kind is TokenKind.LIMITED:
                response = self.rate_limited(req)
            else:
                try:
                    response = self.route(req, kind)
                except BodyError:
                    response = self.malformed_body(req)
            headers = self.common_headers(req, kind, token_fingerprint(token))
        if response.then is not None:
            response = response.then()
        return SimResponse(response.status, response.body, {**headers, **response.headers})

    @abstractmethod
    def extract_token(self, req: SimRequest) -> str | None:
        """The credential as sent (None when there is none)."""

    @abstractmethod
    def unauthorized(self, req: SimRequest) -> SimResponse: ...

    @abstractmethod
    def rate_limited(self, req: SimRequest) -> SimResponse: ...

    @abstractmethod
    def route(self, req: SimRequest, kind: TokenKind) -> SimResponse:
        """Called with the state lock held. A body that does not parse raises BodyError
        (SimRequest.json_object / form_or_json) before anything changes."""

    @abstractmethod
    def malformed_body(self, req: SimRequest) -> SimResponse:
        """The provider's answer to a request body it cannot parse."""

    def common_headers(self, req: SimRequest, kind: TokenKind, fingerprint: str) -> dict[str, str]:
        """Headers on every answer (rate-limit counters, scopes); called with the lock held."""
        return {}

    @abstractmethod
    def control_id(self, hook_id: str) -> str | None:
        """Normalise a hook id from a control-API path to the stored form (None if malformed)."""

    def build_delivery(
        self, hook: StoredHook, event: str, payload: Any, delivery_id: str, attempt: int
    ) -> tuple[bytes, dict[str, str]]:
        """Body and headers exactly as this provider sends a webhook delivery."""
        body, content_type = self.delivery_body(hook, json.dumps(payload, separators=(",", ":")))
        return body, self.request_headers(hook, event, body, content_type, delivery_id, attempt)

    def request_headers(
        self,
        hook: StoredHook,
        event: str,
        body: bytes,
        content_type: str,
        delivery_id: str,
        attempt: int,
    ) -> dict[str, str]:
        """The headers of a delivery of ``body`` (a redelivery's too: the same body, signed
        with the hook's secret as it is now)."""
        headers = {
            "Content-Type": content_type,
            "User-Agent": self.user_agent,
            **self.delivery_headers(hook, event, delivery_id, attempt),
        }
        if hook.secret:
            headers.update(self.secret_headers(hook.secret, body))
        return headers

    def delivery_body(self, hook: StoredHook, payload_json: str) -> tuple[bytes, str]:
        """The delivery's body and its content type: the payload as JSON unless overridden."""
        return payload_json.encode(), "application/json"

    @abstractmethod
    def delivery_headers(
        self, hook: StoredHook, event: str, delivery_id: str, attempt: int
    ) -> dict[str, str]:
        """The provider's own delivery headers (event name, delivery and hook ids)."""

    @abstractmethod
    def secret_headers(self, secret: str, body: bytes) -> dict[str, str]:
        """How the provider proves a delivery with the hook's secret (a signature, or the
        secret itself)."""

    def verifies_tls(self, hook: StoredHook) -> bool:
        return True

    def record_delivery(self, hook: StoredHook, status: int | None) -> None:  # noqa: B027
        """Remember a delivery outcome where the provider exposes it (called under the lock).
        Only GitHub shows one (`last_response`), so the default does nothing."""
