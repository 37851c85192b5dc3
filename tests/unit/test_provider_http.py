"""ProviderHttp: retries only for idempotent calls, rate-limit mapping, timeouts and refused
connections as ProviderUnavailable, and no token in any error or log line.

Runs against a scripted stdlib HTTP server on loopback; backoff sleeps are recorded, not slept.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from pydantic import SecretStr
from repoconn_core.errors import ProviderRateLimited, ProviderUnavailable
from repoconn_providers.http import ProviderHttp, RetryPolicy, redact_url

from tests.unit.scripted_http import ScriptedServer, Step

TOKEN = SecretStr("ghp_unit-test-token-0123456789abcdef")
NOW = 1_800_000_000.0  # the injected wall clock (epoch seconds)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer().start()
    yield srv
    srv.stop()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_http(
    base_url: str,
    sleeps: Sleeps,
    *,
    max_retries: int = 2,
    read_timeout: float = 2.0,
    total_budget: float = 25.0,
) -> ProviderHttp:
    return ProviderHttp(
        "GitHub",
        base_url,
        connect_timeout=1.0,
        read_timeout=read_timeout,
        retry=RetryPolicy(max_retries=max_retries, total_budget=total_budget),
        allow_plain_http_loopback=True,
        sleep=sleeps,
        jitter=lambda: 1.0,  # the upper edge of full jitter, so delays are exact
        clock=lambda: NOW,
    )


# -- retries: idempotent only -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_idempotent_call_is_retried_after_503_and_returns_the_success(
    server: ScriptedServer, sleeps: Sleeps, method: str
) -> None:
    # given a provider that fails twice, then answers
    server.script(Step(503), Step(502), Step(200, {"ok": True}))
    http = make_http(server.url, sleeps)

    # when
    response = http.request(method, "/repos/acme/api", token=TOKEN)

    # then
    assert response.status_code == 200
    assert [seen.method for seen in server.seen] == [method] * 3
    assert sleeps == [0.25, 0.5]  # base 0.25 s doubling, full jitter at its maximum


def test_post_is_not_retried_on_503(server: ScriptedServer, sleeps: Sleeps) -> None:
    # given a provider that fails once, then would succeed
    server.script(Step(503), Step(201, {"id": 1}))
    http = make_http(server.url, sleeps)

    # when / then: a second POST could create a second hook
    with pytest.raises(ProviderUnavailable) as caught:
        http.request("POST", "/repos/acme/api/hooks", token=TOKEN, json={"name": "web"})
    assert caught.value.detail == "GitHub answered 503"
    assert len(server.seen) == 1
    assert sleeps == []


def test_post_is_not_retried_even_when_declared_idempotent(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.script(Step(503), Step(201, {"id": 1}))
    http = make_http(server.url, sleeps)

    with pytest.raises(ProviderUnavailable):
        http.request("POST", "/x", token=TOKEN, json={}, idempotent=True)
    assert len(server.seen) == 1


def test_patch_is_not_retried_unless_the_caller_declares_it_idempotent(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    # given
    server.script(Step(503), Step(200, {}))
    http = make_http(server.url, sleeps)

    # when / then: by default PATCH is not retried
    with pytest.raises(ProviderUnavailable):
        http.request("PATCH", "/repos/acme/api/hooks/1", token=TOKEN, json={})
    assert len(server.seen) == 1

    # and a full-replacement PATCH declared idempotent is
    server.script(Step(503), Step(200, {}))
    response = http.request(
        "PATCH", "/repos/acme/api/hooks/1", token=TOKEN, json={}, idempotent=True
    )
    assert response.status_code == 200
    assert len(server.seen) == 3


def test_get_gives_up_after_max_retries_with_provider_unavailable(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.script(Step(503))
    http = make_http(server.url, sleeps, max_retries=2)

    with pytest.raises(ProviderUnavailable) as caught:
        http.request("GET", "/repos/acme/api", token=TOKEN)

    assert caught.value.status == 502
    assert len(server.seen) == 3
    assert len(sleeps) == 2


def test_a_4xx_is_returned_to_the_caller_without_retry(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.script(Step(404, {"message": "Not Found"}), Step(200, {}))
    http = make_http(server.url, sleeps)

    response = http.request("GET", "/repos/acme/missing", token=TOKEN)

    assert response.status_code == 404
    assert len(server.seen) == 1


def test_a_short_retry_after_on_503_is_used_as_the_backoff(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.script(Step(503, headers={"Retry-After": "1"}), Step(200, {}))
    http = make_http(server.url, sleeps)

    assert http.request("GET", "/x", token=TOKEN).status_code == 200
    assert sleeps == [1.0]


def test_the_time_budget_stops_retries_that_could_not_finish(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    # given a budget smaller than one more connect timeout
    server.script(Step(503), Step(200, {}))
    http = make_http(server.url, sleeps, total_budget=1.0)

    with pytest.raises(ProviderUnavailable):
        http.request("GET", "/x", token=TOKEN)
    assert len(server.seen) == 1


# -- rate limits --------------------------------------------------------------------------------


def test_a_429_with_a_short_retry_after_is_slept_through_for_get(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.script(Step(429, headers={"Retry-After": "1"}), Step(200, {"ok": True}))
    http = make_http(server.url, sleeps)

    response = http.request("GET", "/projects/acme%2Fapi", token=TOKEN)

    assert response.status_code == 200
    assert sleeps == [1.0]
    assert len(server.seen) == 2


def test_a_429_with_a_long_retry_after_surfaces_rate_limited_without_sleeping(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.script(Step(429, headers={"Retry-After": "120"}))
    http = make_http(server.url, sleeps)

    with pytest.raises(ProviderRateLimited) as caught:
        http.request("GET", "/projects/acme%2Fapi", token=TOKEN)

    assert caught.value.retry_after == 120
    assert caught.value.status == 503
    assert caught.value.headers() == {"Retry-After": "120"}
    assert sleeps == []
    assert len(server.seen) == 1


def test_a_429_on_post_is_not_retried_even_when_short(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.script(Step(429, headers={"Retry-After": "1"}), Step(201, {}))
    http = make_http(server.url, sleeps)

    with pytest.raises(ProviderRateLimited) as caught:
        http.request("POST", "/hooks", token=TOKEN, json={})
    assert caught.value.retry_after == 1
    assert len(server.seen) == 1


def test_a_retry_after_http_date_is_converted_to_seconds(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    when = datetime.fromtimestamp(NOW + 90, tz=UTC)
    server.script(Step(429, headers={"Retry-After": format_datetime(when, usegmt=True)}))
    http = make_http(server.url, sleeps)

    with pytest.raises(ProviderRateLimited) as caught:
        http.request("GET", "/x", token=TOKEN)
    assert caught.value.retry_after == 90


@pytest.mark.parametrize("status", [403, 429])
def test_github_exhausted_primary_limit_maps_reset_to_retry_after(
    server: ScriptedServer, sleeps: Sleeps, status: int
) -> None:
    # given GitHub's primary rate limit: remaining 0, reset in epoch seconds
    server.script(
        Step(
            status,
            {"message": "API rate limit exceeded for user ID 1."},
            headers={
                "X-RateLimit-Limit": "5000",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(NOW) + 300),
            },
        )
    )
    http = make_http(server.url, sleeps)

    with pytest.raises(ProviderRateLimited) as caught:
        http.request("GET", "/repos/acme/api", token=TOKEN)

    assert caught.value.retry_after == 300
    assert len(server.seen) == 1


def test_gitlab_ratelimit_reset_header_is_honoured(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.script(Step(429, headers={"RateLimit-Reset": str(int(NOW) + 45)}))
    http = make_http(server.url, sleeps)

    with pytest.raises(ProviderRateLimited) as caught:
        http.request("GET", "/x", token=TOKEN)
    assert caught.value.retry_after == 45


def test_github_secondary_rate_limit_without_headers_waits_a_minute(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.script(
        Step(
            403, {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}
        )
    )
    http = make_http(server.url, sleeps)

    with pytest.raises(ProviderRateLimited) as caught:
        http.request("GET", "/repos/acme/api", token=TOKEN)
    assert caught.value.retry_after == 60


def test_a_429_without_any_header_defaults_to_a_minute(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    # Bitbucket's 429 carries no Retry-After
    server.script(Step(429, {"type": "error", "error": {"message": "Rate limit exceeded"}}))
    http = make_http(server.url, sleeps)

    with pytest.raises(ProviderRateLimited) as caught:
        http.request("GET", "/x", token=TOKEN)
    assert caught.value.retry_after == 60


def test_a_plain_403_is_a_permission_answer_not_a_rate_limit(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    server.script(
        Step(
            403,
            {"message": "Must have admin rights to Repository."},
            headers={"X-RateLimit-Remaining": "4999"},
        )
    )
    http = make_http(server.url, sleeps)

    response = http.request("GET", "/repos/acme/api/hooks", token=TOKEN)

    assert response.status_code == 403


# -- transport failures -------------------------------------------------------------------------


def test_a_read_timeout_maps_to_provider_unavailable(
    server: ScriptedServer, sleeps: Sleeps
) -> None:
    # given a provider slower than the read timeout
    server.script(Step(200, {}, delay=1.5))
    http = make_http(server.url, sleeps, max_retries=0, read_timeout=0.2)

    with pytest.raises(ProviderUnavailable) as caught:
        http.request("GET", "/repos/acme/api", token=TOKEN)

    assert caught.value.detail == "GitHub timed out"
    assert caught.value.__cause__ is None


def test_a_get_that_timed_out_is_retried(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.script(Step(200, {"slow": True}, delay=1.5), Step(200, {"slow": False}))
    http = make_http(server.url, sleeps, max_retries=1, read_timeout=0.2)

    response = http.request("GET", "/repos/acme/api", token=TOKEN)

    assert response.json() == {"slow": False}
    assert len(sleeps) == 1


def test_a_post_that_timed_out_is_not_retried(server: ScriptedServer, sleeps: Sleeps) -> None:
    # the hook may have been created; a retry could create a second one
    server.script(Step(201, {}, delay=1.5), Step(201, {}))
    http = make_http(server.url, sleeps, max_retries=2, read_timeout=0.2)

    with pytest.raises(ProviderUnavailable):
        http.request("POST", "/hooks", token=TOKEN, json={})
    assert len(server.seen) == 1


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_maps_to_provider_unavailable_after_retries(sleeps: Sleeps) -> None:
    http = make_http(f"http://127.0.0.1:{_refused_port()}", sleeps, max_retries=2)

    with pytest.raises(ProviderUnavailable) as caught:
        http.request("GET", "/repos/acme/api", token=TOKEN)

    assert caught.value.detail == "GitHub could not be reached"
    assert caught.value.__cause__ is None
    assert len(sleeps) == 2


# -- secrets ------------------------------------------------------------------------------------


def test_the_token_is_sent_as_a_bearer_header_only(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.script(Step(200, {}))
    http = make_http(server.url, sleeps)

    http.request("GET", "/repos/acme/api", token=TOKEN, params={"per_page": 1})

    seen = server.seen[0]
    assert seen.headers["authorization"] == f"Bearer {TOKEN.get_secret_value()}"
    assert TOKEN.get_secret_value() not in seen.path
    assert seen.headers["user-agent"].startswith("repoconn/")


def test_no_error_or_log_line_contains_the_token(
    server: ScriptedServer, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    # given every failure path the transport has
    caplog.set_level(logging.DEBUG)
    raw = TOKEN.get_secret_value()
    failures: list[BaseException] = []
    scenarios = [
        (server.url, Step(503)),
        (server.url, Step(429, headers={"Retry-After": "900"})),
        (server.url, Step(403, headers={"X-RateLimit-Remaining": "0"})),
        (server.url, Step(200, {}, delay=1.0)),
        (f"http://127.0.0.1:{_refused_port()}", Step(200)),
    ]
    for base_url, step in scenarios:
        server.script(step)
        http = make_http(base_url, sleeps, max_retries=1, read_timeout=0.2)
        with pytest.raises((ProviderUnavailable, ProviderRateLimited)) as caught:
            http.request("GET", "/repos/acme/api", token=TOKEN)
        failures.append(caught.value)

    # then the token is in none of them, nor in what was logged
    assert len(failures) == 5
    for failure in failures:
        assert raw not in str(failure)
        assert raw not in repr(failure)
        assert raw not in getattr(failure, "detail", "")
        assert failure.__cause__ is None
        assert failure.__context__ is None or raw not in str(failure.__context__)
    assert raw not in caplog.text
    for record in caplog.records:
        assert raw not in str(record.__dict__)


def test_a_base_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError) as caught:
        ProviderHttp(
            "GitLab",
            "https://user:hunter2@gitlab.example.com/api/v4",
            connect_timeout=1,
            read_timeout=1,
        )
    assert "hunter2" not in str(caught.value)
    assert "***@gitlab.example.com" in str(caught.value)


@pytest.mark.parametrize(
    "base_url",
    ["http://api.github.com", "http://10.0.0.5/api/v4", "ftp://127.0.0.1/x"],
)
def test_plain_http_is_refused_except_for_loopback_when_allowed(base_url: str) -> None:
    with pytest.raises(ValueError):
        ProviderHttp(
            "GitHub", base_url, connect_timeout=1, read_timeout=1, allow_plain_http_loopback=True
        )


def test_plain_http_to_loopback_needs_the_local_flag() -> None:
    with pytest.raises(ValueError):
        ProviderHttp("GitHub", "http://127.0.0.1:9000", connect_timeout=1, read_timeout=1)


def test_a_link_to_another_host_is_not_followed_with_the_token(sleeps: Sleeps) -> None:
    http = ProviderHttp("GitHub", "https://api.github.com", connect_timeout=1, read_timeout=1)

    with pytest.raises(ProviderUnavailable):
        http.url("https://evil.example.com/repositories/1/hooks?page=2")
    assert (
        http.url("https://api.github.com/repositories/1/hooks?page=2")
        == "https://api.github.com/repositories/1/hooks?page=2"
    )


def test_tls_verification_is_on_and_the_environment_is_not_trusted() -> None:
    http = ProviderHttp("GitHub", "https://api.github.com", connect_timeout=1, read_timeout=1)

    session = http._session
    assert session.verify is True
    assert session.trust_env is False
    assert "hunter2" not in repr(http)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pw@host.example/p?page=2", "https://***@host.example/p?page=2"),
        (
            "https://host.example/p?private_token=abc&page=2",
            "https://host.example/p?private_token=***&page=2",
        ),
        ("https://host.example/p?access_token=abc", "https://host.example/p?access_token=***"),
        ("https://host.example/p", "https://host.example/p"),
    ],
)
def test_redact_url_masks_credentials(url: str, expected: str) -> None:
    assert redact_url(url) == expected
