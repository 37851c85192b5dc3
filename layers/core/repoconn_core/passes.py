"""What the scheduled passes over every connection share (health.py, reconcile.py,
reencrypt.py): stopping before the Lambda deadline, and skipping the connections of a token a
provider rate-limited in this run.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import timedelta

from pydantic import SecretStr

from repoconn_core.providers import ProviderEndpoint


class Deadline:
    """When a pass stops starting new work: less than ``stop_margin`` left of the Lambda's
    time (``time_left_ms`` is ``context.get_remaining_time_in_millis``; None: no limit). A run
    that is killed mid-way publishes no metrics at all, so it stops itself first."""

    def __init__(self, time_left_ms: Callable[[], int] | None, stop_margin: timedelta) -> None:
        self._time_left_ms = time_left_ms
        self._margin_ms = int(stop_margin.total_seconds() * 1000)

    def near(self) -> bool:
        return self._time_left_ms is not None and self._time_left_ms() < self._margin_ms


class RateLimitedTokens:
    """Tokens a provider rate-limited in this run, by API and the token's SHA-256 (never the
    token itself); shared by the worker threads. Providers limit per token (GitHub, GitLab and
    Bitbucket count a user's or token's requests), so one tenant's exhausted token skips only
    the connections holding that same token — not everyone on that provider."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limited: set[tuple[str, bytes]] = set()

    @staticmethod
    def _key(endpoint: ProviderEndpoint, token: SecretStr) -> tuple[str, bytes]:
        return endpoint.api_base_url, hashlib.sha256(token.get_secret_value().encode()).digest()

    def add(self, endpoint: ProviderEndpoint, token: SecretStr) -> None:
        with self._lock:
            self._limited.add(self._key(endpoint, token))

    def holds(self, endpoint: ProviderEndpoint, token: SecretStr) -> bool:
        with self._lock:
            return self._key(endpoint, token) in self._limited
