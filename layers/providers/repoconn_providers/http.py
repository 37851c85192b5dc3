"""The one HTTP transport the provider clients share.

``ProviderHttp`` owns everything that is about *talking* to a provider rather than about what
is said: one pooled ``requests.Session`` per client, explicit (connect, read) timeouts, retries
with exponential backoff and full jitter for idempotent calls only, rate-limit headers, and the
mapping of transport failures to the typed errors in ``repoconn_core.errors``. What a 401, 403
or 404 *means* differs per provider and per call, so those responses are handed back to the
client module to interpret.

Retry policy (see ``RetryPolicy``):

* Retried: connection errors, timeouts, and 500/502/503/504 — only for idempotent calls.
  GET, HEAD, PUT and DELETE are idempotent by method. PATCH is not in general (RFC 5789), so
  it is retried only when the caller says so: our one PATCH (GitHub's hook update) sends the
  complete desired hook state, so applying it twice leaves the same hook. POST is never
  retried: a POST that timed out may have created a hook, and a second one would duplicate
  it (the use case's find-then-create makes a re-run of the whole connect safe instead).
* 429, and GitHub's 403 with ``X-RateLimit-Remaining: 0`` or a secondary-rate-limit message,
  are rate limits. A short wait (at most ``max_rate_limit_wait`` seconds) is slept through for
  idempotent calls; anything longer surfaces as ``ProviderRateLimited(retry_after)`` so the
  API answers 503 with ``Retry-After`` instead of holding a Lambda open.
* Every attempt shares one time budget, so retries cannot outlast API Gateway's 30-second
  integration timeout.

Addresses (SSRF): every connection — to the base URL and to each hop of a followed GET
redirect — is opened by ``address_guard.PinnedAddressAdapter``: the host is resolved once,
every address checked against ``repoconn_core.network_policy`` (no loopback, private,
link-local, metadata, ... addresses; loopback only in local runs), and the socket connected to
the checked address, so nothing is sent to a refused address and a changed DNS answer cannot
slip in between check and use. A refusal is ``ProviderAddressRefused`` and is never retried.

Redirects: a GET follows up to three (requests drops the token on a hop to another host). Any
other method follows a 307 or 308 — which keep method and body — at most twice and only on the
API's own origin; GitHub answers 307 to writes on a renamed repository's old path. A 301/302
to a write is not followed (requests would replay it as a GET); the driver sees the status.

Secrets: tokens arrive as ``SecretStr`` and are unwrapped only while building the request's
``Authorization`` header. No exception message or log line carries a header, a request or
response body, or a URL's credentials (``redact_url``).
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from pydantic import SecretStr
from repoconn_core.errors import ProviderAddressRefused, ProviderRateLimited, ProviderUnavailable

from repoconn_providers.address_guard import (
    AddressGuard,
    AddressRefused,
    Connector,
    PinnedAddressAdapter,
    Resolver,
    system_connector,
    system_resolver,
)

logger = logging.getLogger(__name__)

USER_AGENT = "repoconn/0.1 (+repository-connections)"

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})
# Redirects that keep the method and body (RFC 9110 15.4.8, 15.4.9): GitHub answers 307 to a
# non-GET call on a renamed or transferred repository's old path and documents that clients
# follow it. requests follows redirects for GETs only here (see ``_send``).
METHOD_KEEPING_REDIRECTS = frozenset({307, 308})
MAX_METHOD_REDIRECTS = 2
# A provider whose pagination never ends must not keep a Lambda busy until it times out.
MAX_PAGES = 100

_SENSITIVE_QUERY_KEYS = ("token", "secret", "password", "key", "signature", "auth", "code")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call tries before it gives up."""

    max_retries: int = 2  # retries after the first attempt
    backoff_base: float = 0.25  # seconds; attempt n waits up to base * 2**n (full jitter)
    backoff_cap: float = 2.0
    # Longest Retry-After / rate-limit reset slept through inside one call; longer waits are
    # surfaced as ProviderRateLimited so the caller can answer 503 + Retry-After.
    max_rate_limit_wait: float = 2.0
    # GitHub: "otherwise, wait for at least one minute" when a rate limit gives no header;
    # Bitbucket's 429 carries no Retry-After at all (rolling one-hour window).
    default_rate_limit_wait: int = 60
    # Wall-clock budget for all attempts of one call (API Gateway HTTP API stops at 30 s).
    total_budget: float = 25.0


def redact_url(url: str) -> str:
    """The URL with any user-info and credential-looking query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = [
            (key, "***" if any(s in key.lower() for s in _SENSITIVE_QUERY_KEYS) else value)
            for key, value in parse_qsl(query, keep_blank_values=True)
        ]
        query = urlencode(pairs, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default_port = {"https": 443, "http": 80}.get(parts.scheme)
    return (parts.scheme, (parts.hostname or "").lower(), parts.port or default_port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


class ProviderHttp:
    """A pooled, timed, retrying HTTP session bound to one provider API base URL."""

    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        retry: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
        allow_plain_http_loopback: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        pool_maxsize: int = 10,
        resolver: Resolver = system_resolver,
        connector: Connector = system_connector,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                f"{service} API base URL must not embed credentials: {redact_url(base_url)}"
            )
        if parts.scheme == "http":
            # Plain HTTP only for the local provider simulator; anything else needs TLS.
            if not (allow_plain_http_loopback and _is_loopback(parts.hostname or "")):
                raise ValueError(f"{service} API base URL must use https: {redact_url(base_url)}")
        elif parts.scheme != "https":
            raise ValueError(f"{service} API base URL must use https: {redact_url(base_url)}")

        self.service = service
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._jitter = jitter
        self._clock = clock
        self._monotonic = monotonic
        self._origin = _origin(self.base_url)

        session = requests.Session()
        # No proxies, .netrc credentials or CA bundle from the environment: what this talks to
        # and how is decided here, and verification uses certifi's bundle.
        session.trust_env = False
        session.verify = True
        session.max_redirects = 3
        # Every socket is opened by the address guard: resolve once, check, connect to the
        # checked address (tests inject the resolver and connector; nothing else does).
        guard = AddressGuard(allow_plain_http_loopback, resolver, connector)
        # urllib3-level retries off: the retry policy above is the only one.
        adapter = PinnedAddressAdapter(
            guard, pool_connections=1, pool_maxsize=pool_maxsize, max_retries=0
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        if default_headers:
            session.headers.update(default_headers)
        self._session = session

    def __repr__(self) -> str:
        return f"ProviderHttp(service={self.service!r}, base_url={redact_url(self.base_url)!r})"

    def close(self) -> None:
        self._session.close()

    # -- URLs -------------------------------------------------------------------------------

    def url(self, path_or_url: str) -> str:
        """An absolute URL for an API path, or a provider-given absolute URL (pagination
        links) after checking it points at the same origin, so the token is never sent to a
        host the provider named in a response body or header."""
        if path_or_url.startswith(("http://", "https://")):
            if _origin(path_or_url) != self._origin:
                raise ProviderUnavailable(
                    f"{self.service} returned a link to another host; not following it"
                )
            return path_or_url
        return self.base_url + "/" + path_or_url.lstrip("/")

    # -- requests ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        token: SecretStr,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> requests.Response:
        """Send one logical call; return the provider's response unless it is a transport
        failure, a 5xx or a rate limit, which raise ProviderUnavailable / ProviderRateLimited.

        ``idempotent`` overrides the by-method default (PATCH callers that send a complete
        replacement pass True). POST is never retried.
        """
        method = method.upper()
        url = self.url(path_or_url)
        retryable = (method in IDEMPOTENT_METHODS) if idempotent is None else idempotent
        if method == "POST":
            retryable = False
        policy = self.retry
        deadline = self._monotonic() + policy.total_budget
        shown = redact_url(url)

        attempt = 0
        redirects = 0
        while True:
            remaining = deadline - self._monotonic()
            connect_timeout, read_timeout = self.timeout
            timeout = (connect_timeout, min(read_timeout, max(0.5, remaining)))
            try:
                response = self._send(method, url, token, json, params, headers, timeout)
            except AddressRefused as refused:
                # Not retried: the next resolution would be judged the same way, and the host
                # must not get another chance to answer differently. Logged with the host and
                # reason; the caller's detail names neither.
                self._log(
                    logging.WARNING,
                    "provider address refused",
                    method,
                    host=refused.host,
                    address=refused.address,
                    reason=refused.reason.value,
                )
                raise ProviderAddressRefused(self.service) from None
            except requests.exceptions.SSLError:
                # A certificate problem will not fix itself on retry.
                self._log(logging.WARNING, "provider TLS failure", method, url=shown)
                raise ProviderUnavailable(
                    f"{self.service} could not be reached: TLS verification failed"
                ) from None
            except requests.exceptions.RequestException as exc:
                what = "timed out" if isinstance(exc, requests.Timeout) else "could not be reached"
                if retryable and self._may_retry(attempt, deadline):
                    self._back_off(attempt, None, method, shown, type(exc).__name__)
                    attempt += 1
                    continue
                self._log(
                    logging.WARNING,
                    "provider request failed",
                    method,
                    url=shown,
                    error=type(exc).__name__,
                    attempts=attempt + 1,
                )
                # ``from None``: the requests exception's text names pool internals and URLs;
                # the type name above is what an operator needs.
                raise ProviderUnavailable(f"{self.service} {what}") from None

            status = response.status_code
            if self._is_rate_limited(response):
                wait = self._rate_limit_wait(response)
                if (
                    retryable
                    and wait <= policy.max_rate_limit_wait
                    and self._may_retry(attempt, deadline, wait)
                ):
                    self._back_off(attempt, wait, method, shown, str(status))
                    attempt += 1
                    continue
                raise self._rate_limited(method, shown, status, wait)

            if status >= 500:
                if retryable and status in RETRY_STATUSES and self._may_retry(attempt, deadline):
                    hinted = self._retry_after(response)
                    honoured = (
                        hinted if hinted is not None and hinted <= policy.backoff_cap else None
                    )
                    self._back_off(attempt, honoured, method, shown, str(status))
                    attempt += 1
                    continue
                raise self._server_error(method, shown, status, attempt + 1)

            if method != "GET" and status in METHOD_KEEPING_REDIRECTS:
                # The provider did not act on the request and asks for it again, verbatim, at
                # Location: not a retry (nothing happened), so POST follows it too - on the
                # API's own origin only, where the token may go, and a bounded number of times.
                url = self._redirect_target(response, method, url, redirects)
                shown = redact_url(url)
                params = None  # the Location carries the query it wants
                redirects += 1
                self._log(logging.INFO, "provider redirect followed", method, url=shown)
                continue

            return response

    def _redirect_target(
        self, response: requests.Response, method: str, url: str, redirects: int
    ) -> str:
        """The absolute URL a 307/308 answer to ``url`` points at, once it is known to be one
        this client may follow; otherwise ProviderUnavailable."""
        if redirects >= MAX_METHOD_REDIRECTS:
            raise ProviderUnavailable(
                f"{self.service} redirected the request more than {MAX_METHOD_REDIRECTS} times"
            )
        location = response.headers.get("Location", "").strip()
        target = urljoin(url, location) if location else ""
        if not target or _origin(target) != self._origin:
            self._log(
                logging.WARNING,
                "provider redirect refused",
                method,
                url=redact_url(url),
                location=redact_url(target) if target else None,
            )
            raise ProviderUnavailable(
                f"{self.service} redirected the request to another host; not following it"
            )
        return target

    def _send(
        self,
        method: str,
        url: str,
        token: SecretStr,
        json: Any,
        params: Mapping[str, str | int] | None,
        extra_headers: Mapping[str, str] | None,
        timeout: tuple[float, float],
    ) -> requests.Response:
        headers = dict(extra_headers or {})
        # The only place a token is unwrapped. ``Authorization`` (not GitLab's PRIVATE-TOKEN)
        # because requests strips exactly that header when a redirect leaves the host.
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        return self._session.request(
            method,
            url,
            headers=headers,
            json=json,
            params=params,
            timeout=timeout,
            verify=True,
            # A redirected POST/PUT/PATCH would be replayed as a GET by requests (301/302);
            # only GETs follow redirects here (GitHub answers 301 for renamed repositories),
            # and ``request`` follows a 307/308 for the other methods itself.
            allow_redirects=method == "GET",
        )

    # -- giving up --------------------------------------------------------------------------

    def _rate_limited(
        self, method: str, shown: str, status: int, wait: float
    ) -> ProviderRateLimited:
        """The error for a rate limit not waited out here, logged."""
        self._log(
            logging.WARNING,
            "provider rate limit",
            method,
            url=shown,
            status=status,
            retry_after=wait,
        )
        return ProviderRateLimited(
            f"{self.service} rate-limited the request; retry in {math.ceil(wait)} s",
            retry_after=math.ceil(wait),
        )

    def _server_error(
        self, method: str, shown: str, status: int, attempts: int
    ) -> ProviderUnavailable:
        """The error for a 5xx answer not retried (again), logged."""
        self._log(
            logging.WARNING,
            "provider server error",
            method,
            url=shown,
            status=status,
            attempts=attempts,
        )
        return ProviderUnavailable(f"{self.service} answered {status}")

    # -- retry helpers ----------------------------------------------------------------------

    def _may_retry(self, attempt: int, deadline: float, wait: float = 0.0) -> bool:
        if attempt >= self.retry.max_retries:
            return False
        # Leave room for at least a connect and a short read after the wait.
        return self._monotonic() + wait + self.timeout[0] + 0.5 < deadline

    def _back_off(
        self, attempt: int, wait: float | None, method: str, shown: str, reason: str
    ) -> None:
        if wait is None:
            # Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").
            ceiling = min(self.retry.backoff_cap, self.retry.backoff_base * (2**attempt))
            wait = self._jitter() * ceiling
        self._log(
            logging.INFO,
            "provider request retry",
            method,
            url=shown,
            reason=reason,
            attempt=attempt + 1,
            delay=round(wait, 3),
        )
        self._sleep(wait)

    def _log(self, level: int, message: str, method: str, **fields: Any) -> None:
        # stacklevel 2: the record names the step that logged, not this helper.
        logger.log(
            level,
            message,
            extra={"service": self.service, "method": method, **fields},
            stacklevel=2,
        )

    # -- rate limits ------------------------------------------------------------------------

    def _is_rate_limited(self, response: requests.Response) -> bool:
        if response.status_code == 429:
            return True
        if response.status_code != 403:
            return False
        # GitHub answers a primary rate limit with 403 (or 429) and X-RateLimit-Remaining: 0,
        # and a secondary one with 403 plus Retry-After or a "secondary rate limit" message.
        # docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api#rate-limit-errors
        headers = response.headers
        if headers.get("X-RateLimit-Remaining") == "0":
            return True
        if "Retry-After" in headers:
            return True
        return "secondary rate limit" in response.text[:2000].lower()

    def _rate_limit_wait(self, response: requests.Response) -> float:
        hinted = self._retry_after(response)
        if hinted is not None:
            return max(1.0, hinted)
        # GitHub: X-RateLimit-Reset; GitLab: RateLimit-Reset. Both are UTC epoch seconds.
        for name in ("X-RateLimit-Reset", "RateLimit-Reset"):
            value = response.headers.get(name)
            if value is None:
                continue
            try:
                return max(1.0, float(value) - self._clock())
            except ValueError:
                continue
        return float(self.retry.default_rate_limit_wait)

    def _retry_after(self, response: requests.Response) -> float | None:
        """Retry-After as seconds; RFC 9110 allows delta-seconds or an HTTP-date."""
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - self._clock())
