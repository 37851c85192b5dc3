"""The health check's status rules: what a hook or a provider error says about a connection."""

from __future__ import annotations

import pytest
from repoconn_core.errors import (
    ConcurrentModification,
    DependencyUnavailable,
    DomainError,
    HookNotFound,
    InsufficientPermissions,
    InvalidToken,
    ProviderRateLimited,
    ProviderUnavailable,
    RepositoryNotFound,
    StoredSecretUnreadable,
)
from repoconn_core.health import (
    MAX_DETAIL_CHARS,
    HealthReport,
    HealthStatus,
    Verdict,
    verdict_for_error,
    verdict_for_hook,
)
from repoconn_core.hooks import callback_url_for
from repoconn_core.providers import Hook

HOOK_URL = "https://hooks.example.test/webhooks/c1"


@pytest.mark.parametrize(
    ("active", "repaired", "expected"),
    [
        (True, False, Verdict(HealthStatus.HEALTHY, "access token accepted and webhook active")),
        (
            True,
            True,
            Verdict(HealthStatus.HEALTHY, "webhook was missing and has been re-created"),
        ),
        (False, False, Verdict(HealthStatus.DEGRADED, "webhook is disabled at the provider")),
        (False, True, Verdict(HealthStatus.DEGRADED, "webhook is disabled at the provider")),
    ],
)
def test_a_hook_decides_between_healthy_and_degraded(
    active: bool, repaired: bool, expected: Verdict
) -> None:
    # given a hook as the provider reports it / when judged / then
    assert verdict_for_hook(Hook("1", HOOK_URL, active=active), repaired=repaired) == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            InvalidToken("GitHub rejected the access token: it is invalid, expired or revoked"),
            Verdict(HealthStatus.FAILED, "access token rejected by the provider"),
        ),
        (
            InsufficientPermissions("The token lacks admin permission on the repository"),
            Verdict(
                HealthStatus.FAILED,
                "insufficient permissions: The token lacks admin permission on the repository",
            ),
        ),
        (
            RepositoryNotFound("Repository acme/api was not found on GitHub"),
            Verdict(
                HealthStatus.FAILED,
                "repository not found at the provider or not visible to the token",
            ),
        ),
        (
            StoredSecretUnreadable("A stored secret failed its integrity check.", field="x"),
            Verdict(
                HealthStatus.FAILED,
                "stored credentials could not be decrypted; reconnect the repository",
            ),
        ),
        (
            ProviderUnavailable("GitHub answered 503"),
            Verdict(
                HealthStatus.DEGRADED,
                "provider unavailable (GitHub answered 503); checked again next run",
            ),
        ),
        (
            ProviderRateLimited("GitHub rate-limited the request; retry in 60 s", 60),
            Verdict(
                HealthStatus.DEGRADED,
                "provider rate-limited the health check; checked again next run",
            ),
        ),
    ],
)
def test_a_provider_or_cipher_error_decides_the_verdict(
    error: DomainError, expected: Verdict
) -> None:
    assert verdict_for_error(error) == expected


@pytest.mark.parametrize(
    "error",
    [
        DependencyUnavailable("KMS is throttling requests.", 2),
        DependencyUnavailable("DynamoDB is unavailable.", 10),
        HookNotFound(),
        ConcurrentModification(),
        DomainError("anything else"),
    ],
)
def test_errors_that_say_nothing_about_the_connection_give_no_verdict(error: DomainError) -> None:
    # given our own dependency failing (or a bug) / then nothing is recorded for the connection
    assert verdict_for_error(error) is None


def test_a_long_provider_detail_is_cut_to_a_bounded_reason() -> None:
    # given a provider detail far longer than a reason should be
    error = InsufficientPermissions("x" * 1000)
    # when judged
    verdict = verdict_for_error(error)
    # then the reason carries a bounded prefix of it
    assert verdict is not None
    assert verdict.reason == "insufficient permissions: " + "x" * (MAX_DETAIL_CHARS - 1) + "…"


def test_the_callback_url_is_the_one_connect_registers() -> None:
    assert callback_url_for("https://hooks.example.test/", "c1") == HOOK_URL


def test_the_report_counts_checked_connections_and_serialises_every_field() -> None:
    report = HealthReport(healthy=3, degraded=2, failed=1, repaired=1, skipped=4, errors=1)
    assert report.as_dict() == {
        "checked": 6,
        "healthy": 3,
        "degraded": 2,
        "failed": 1,
        "repaired": 1,
        "skipped": 4,
        "superseded": 0,
        "errors": 1,
        "completed": True,
    }
