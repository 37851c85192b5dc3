"""The scheduled health check on moto and the provider simulator: status per connection,
repair of a deleted hook, rate limits, bounded concurrency, races with connects, and the
handler's report plus the health fields on GET."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
from pydantic import SecretStr
from repoconn_core.connection_secrets import (
    ACCESS_TOKEN,
    WEBHOOK_SECRET,
    ConnectionSecrets,
    binding,
)
from repoconn_core.health import HealthCheck, HealthReport
from repoconn_core.hooks import ProviderAccess
from repoconn_core.models import ConnectRequest
from repoconn_core.providers import ServiceType
from repoconn_core.records import StoredConnection
from repoconn_core.settings import Settings
from repoconn_local.cli.health_check import scheduled_event
from repoconn_local.lambda_host.context import LocalLambdaContext

from tests.integration.conftest import WEBHOOK_BASE_URL
from tests.support.api import Api, given_connected
from tests.support.deliveries import listed_secret
from tests.support.records import stored_connection
from tests.support.simulator_control import SimulatorControl
from tests.support.use_cases import UseCases, admin_principal, registry_clients

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
GOOD_TOKEN = "tok-good"
PROVIDERS = ("github", "gitlab", "bitbucket")
HOSTS = {"github": "github.com", "gitlab": "gitlab.com", "bitbucket": "bitbucket.org"}
NAMES = {"github": "GitHub", "gitlab": "GitLab", "bitbucket": "Bitbucket"}

HEALTHY_REASON = "access token accepted and webhook active"
REPAIRED_REASON = "webhook was missing and has been re-created"
DISABLED_REASON = "webhook is disabled at the provider"
REJECTED_REASON = "access token rejected by the provider"
RATE_LIMITED_REASON = "provider rate-limited the health check; checked again next run"


def repo_url(provider: str, name: str = "api") -> str:
    # GitLab with a nested group: the canonical path then has three segments.
    path = f"acme/platform/{name}" if provider == "gitlab" else f"acme/{name}"
    return f"https://{HOSTS[provider]}/{path}"


def connect(
    store: Any, cipher: Any, settings: Settings, url: str, project: str = "p1"
) -> StoredConnection:
    """Connect through the real use case; the stored connection it wrote."""
    UseCases(settings, store, cipher).connect()(
        admin_principal(project),
        project,
        ConnectRequest(repositoryUrl=url, accessToken=SecretStr(GOOD_TOKEN)),
    )
    stored = store.get(url)
    assert stored is not None
    return stored


def with_token(store: Any, cipher: Any, stored: StoredConnection, token: str) -> StoredConnection:
    """The same connection with another stored access token (how a revoked token looks)."""
    blob = cipher.encrypt_fields(
        project_id=stored.project_id,
        repository_url=stored.repository_url,
        fields={ACCESS_TOKEN: SecretStr(token)},
        bindings={ACCESS_TOKEN: binding(stored.secret_generation)},
    )[ACCESS_TOKEN]
    changed = replace(stored, access_token=blob)
    store.save(changed, replacing=stored)
    return changed


def health_check(store: Any, cipher: Any, settings: Settings, **options: Any) -> HealthCheck:
    return HealthCheck(
        store=store,
        cipher=cipher,
        providers=ProviderAccess(
            options.pop("client_for", registry_clients(settings)),
            settings.provider_endpoints(),
            WEBHOOK_BASE_URL,
        ),
        clock=lambda: NOW,
        **options,
    )


def health_of(store: Any, url: str) -> tuple[str | None, str | None, datetime | None]:
    stored = store.get(url)
    assert stored is not None
    return stored.health_status, stored.health_reason, stored.last_health_check_at


def without_health(stored: StoredConnection) -> StoredConnection:
    return replace(stored, health_status=None, health_reason=None, last_health_check_at=None)


def decrypt(cipher: Any, stored: StoredConnection) -> dict[str, str]:
    secrets = ConnectionSecrets(cipher)
    return {
        ACCESS_TOKEN: secrets.token(stored).get_secret_value(),
        WEBHOOK_SECRET: secrets.webhook_secret(stored).get_secret_value(),
    }


# Status per connection ------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_working_token_and_active_hook_is_recorded_healthy_with_one_kms_call(
    sim_control: SimulatorControl,
    store,
    cipher,
    app_settings: Settings,
    kms_calls: list[str],
    provider: str,
) -> None:
    # given a freshly connected repository
    before = connect(store, cipher, app_settings, repo_url(provider))
    hooks_before = sim_control.hooks()
    kms_calls.clear()
    # when the health check runs
    report = health_check(store, cipher, app_settings).run()
    # then it is healthy, decrypting the token took one KMS call, and nothing else changed
    assert report == HealthReport(healthy=1)
    assert health_of(store, before.repository_url) == ("healthy", HEALTHY_REASON, NOW)
    assert kms_calls == ["Decrypt"]
    assert sim_control.hooks() == hooks_before
    assert without_health(store.get(before.repository_url)) == before


# A stored token the provider refuses, or an outage: (token, report, status, reason).
REFUSALS = {
    "revoked-token": ("bad-revoked", HealthReport(failed=1), "failed", REJECTED_REASON),
    "outage": (
        "down-x",
        HealthReport(degraded=1),
        "degraded",
        "provider unavailable ({name} answered 503); checked again next run",
    ),
}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("refusal", sorted(REFUSALS))
def test_a_refused_token_or_an_outage_is_recorded_with_its_reason_and_changes_nothing_else(
    sim_control: SimulatorControl,
    store,
    cipher,
    app_settings: Settings,
    provider: str,
    refusal: str,
) -> None:
    token, expected_report, status, reason = REFUSALS[refusal]
    # given a connection whose token the provider no longer accepts, or whose provider answers
    # with an outage page
    stored = with_token(
        store, cipher, connect(store, cipher, app_settings, repo_url(provider)), token
    )
    hooks_before = sim_control.hooks()
    # when the health check runs
    report = health_check(store, cipher, app_settings).run()
    # then the connection is failed (revoked) or degraded (outage), saying why, and neither
    # the item nor the hook changed
    assert report == expected_report
    assert health_of(store, stored.repository_url) == (
        status,
        reason.format(name=NAMES[provider]),
        NOW,
    )
    assert without_health(store.get(stored.repository_url)) == stored
    assert sim_control.hooks() == hooks_before


def test_a_token_that_lost_its_hook_rights_fails_and_names_what_is_missing(
    sim, store, cipher, app_settings: Settings
) -> None:
    # given a GitHub connection whose token became read-only
    stored = with_token(
        store, cipher, connect(store, cipher, app_settings, repo_url("github")), "ro-token"
    )
    # when the health check runs
    report = health_check(store, cipher, app_settings).run()
    # then it is failed, and the reason says which permission is missing
    assert report == HealthReport(failed=1)
    assert health_of(store, stored.repository_url) == (
        "failed",
        "insufficient permissions: The token lacks admin permission on the repository "
        "(and the admin:repo_hook / repo scope for classic tokens)",
        NOW,
    )


def test_a_repository_gone_at_the_provider_fails_the_connection(
    sim_control: SimulatorControl, store, cipher, app_settings: Settings
) -> None:
    # given a stored connection to a repository the provider does not (any more) have
    url = "https://github.com/acme/missing"
    blobs = cipher.encrypt_fields(
        project_id="p1",
        repository_url=url,
        fields={ACCESS_TOKEN: SecretStr(GOOD_TOKEN), WEBHOOK_SECRET: SecretStr("s" * 43)},
        bindings={ACCESS_TOKEN: binding(0), WEBHOOK_SECRET: binding(0)},
    )
    missing = stored_connection(
        NOW,
        id=str(uuid.uuid4()),
        repository_url=url,
        access_token=blobs[ACCESS_TOKEN],
        webhook_secret=blobs[WEBHOOK_SECRET],
        webhook_id="490000999",
    )
    store.save(missing, replacing=None)
    # when the health check runs
    report = health_check(store, cipher, app_settings).run()
    # then it is failed, and no hook was created for it
    assert report == HealthReport(failed=1)
    assert health_of(store, url) == (
        "failed",
        "repository not found at the provider or not visible to the token",
        NOW,
    )
    assert sim_control.hooks() == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_hook_disabled_at_the_provider_degrades_the_connection(
    sim_control: SimulatorControl, store, cipher, app_settings: Settings, provider: str
) -> None:
    # given a connection whose hook the provider deactivated
    stored = connect(store, cipher, app_settings, repo_url(provider))
    sim_control.hook_action(provider, stored.webhook_id, "deactivate")
    # when the health check runs
    report = health_check(store, cipher, app_settings).run()
    # then it is degraded with the reason; the hook is neither replaced nor re-enabled
    assert report == HealthReport(degraded=1)
    assert health_of(store, stored.repository_url) == ("degraded", DISABLED_REASON, NOW)
    assert [(hook["id"], hook["active"]) for hook in sim_control.hooks()] == [
        (stored.webhook_id, False)
    ]
    assert without_health(store.get(stored.repository_url)) == stored


def test_stored_secrets_that_no_longer_decrypt_fail_the_connection(
    sim, store, cipher, app_settings: Settings
) -> None:
    # given a connection whose token blob was tampered with
    stored = connect(store, cipher, app_settings, repo_url("github"))
    tampered = replace(stored, access_token=stored.access_token[:-1] + b"\x00")
    store.save(tampered, replacing=stored)
    # when the health check runs
    report = health_check(store, cipher, app_settings).run()
    # then it is failed: only a reconnect can fix it
    assert report == HealthReport(failed=1)
    assert health_of(store, stored.repository_url) == (
        "failed",
        "stored credentials could not be decrypted; reconnect the repository",
        NOW,
    )


def test_inactive_connections_are_not_checked(
    sim_control: SimulatorControl, store, cipher, app_settings: Settings, kms_calls: list[str]
) -> None:
    # given an inactive connection
    stored = connect(store, cipher, app_settings, repo_url("github"))
    store.save(replace(stored, is_active=False), replacing=stored)
    kms_calls.clear()
    sim_control.clear_requests()
    # when the health check runs
    report = health_check(store, cipher, app_settings).run()
    # then it was not touched at all
    assert report == HealthReport()
    assert health_of(store, stored.repository_url) == (None, None, None)
    assert kms_calls == []
    assert sim_control.requests() == []


# Repair ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_hook_deleted_at_the_provider_is_recreated_with_a_new_secret(
    sim_control: SimulatorControl,
    store,
    cipher,
    app_settings: Settings,
    kms_calls: list[str],
    provider: str,
) -> None:
    # given a connection whose hook was deleted at the provider
    before = connect(store, cipher, app_settings, repo_url(provider))
    [old_hook] = sim_control.hooks()
    sim_control.hook_action(provider, before.webhook_id, "delete")
    kms_calls.clear()
    # when the health check runs
    report = health_check(store, cipher, app_settings).run()
    kms_used = list(kms_calls)
    # then one new hook calls the same callback URL with a new secret, and the item stores it
    assert report == HealthReport(healthy=1, repaired=1)
    [new_hook] = sim_control.hooks()
    after = store.get(before.repository_url)
    assert new_hook["url"] == old_hook["url"] == f"{WEBHOOK_BASE_URL}/webhooks/{before.id}"
    assert new_hook["id"] == after.webhook_id != before.webhook_id
    assert new_hook["secret"] != old_hook["secret"]
    opened = decrypt(cipher, after)
    assert opened[ACCESS_TOKEN] == GOOD_TOKEN
    assert listed_secret(provider, opened[WEBHOOK_SECRET]) == new_hook["secret"]
    # the old secret stays readable for the grace window, sealed again as the previous one
    # with its expiry; each field under its own data key: the token is opened for the check,
    # the old secret to keep it, then three fields sealed
    assert after.previous_secret_expires_at == NOW + timedelta(hours=1)
    previous = ConnectionSecrets(cipher).webhook_secrets(after, NOW).previous
    assert previous is not None
    assert listed_secret(provider, previous.get_secret_value()) == old_hook["secret"]
    assert after.secret_generation == before.secret_generation + 1
    assert kms_used == [
        "Decrypt",
        "Decrypt",
        "GenerateDataKey",
        "GenerateDataKey",
        "GenerateDataKey",
    ]
    assert health_of(store, before.repository_url) == ("healthy", REPAIRED_REASON, NOW)


def test_a_connection_without_a_stored_hook_id_adopts_the_hook_pointing_at_it(
    sim_control: SimulatorControl, store, cipher, app_settings: Settings
) -> None:
    # given a connection that lost its hook id while its hook still exists
    before = connect(store, cipher, app_settings, repo_url("github"))
    [hook] = sim_control.hooks()
    store.save(replace(before, webhook_id=None), replacing=before)
    # when the health check runs
    report = health_check(store, cipher, app_settings).run()
    # then the existing hook is adopted with a fresh secret; no second hook appears
    assert report == HealthReport(healthy=1, repaired=1)
    [adopted] = sim_control.hooks()
    after = store.get(before.repository_url)
    assert adopted["id"] == hook["id"] == after.webhook_id
    assert adopted["secret"] != hook["secret"]
    assert decrypt(cipher, after)[WEBHOOK_SECRET] == adopted["secret"]


class RacingStore:
    """The real store, with ``before_replace`` run just before a repair's conditional write —
    where a connect or disconnect could slip in."""

    def __init__(self, store: Any, before_replace: Any) -> None:
        self._store = store
        self._before_replace = before_replace
        self.replace_results: list[bool] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def replace_webhook(self, stored: StoredConnection, repaired: StoredConnection) -> bool:
        self._before_replace(stored)
        result = self._store.replace_webhook(stored, repaired)
        self.replace_results.append(result)
        return bool(result)


def test_a_connect_racing_the_repair_wins_and_the_hook_the_repair_created_is_deleted(
    sim_control: SimulatorControl, store, cipher, app_settings: Settings
) -> None:
    # given a deleted hook, and a connect that writes the item while the repair runs
    before = connect(store, cipher, app_settings, repo_url("github"))
    sim_control.hook_action("github", before.webhook_id, "delete")
    racer = replace(before, updated_at=before.updated_at + timedelta(seconds=1))

    def a_connect_writes(stored: StoredConnection) -> None:
        store.save(racer, replacing=stored)

    racing = RacingStore(store, a_connect_writes)
    # when the health check runs
    report = health_check(racing, cipher, app_settings).run()
    # then the repair's write lost, its hook is gone again, and the racer's item is untouched
    assert racing.replace_results == [False]
    assert report == HealthReport(superseded=1)
    assert sim_control.hooks() == []
    assert store.get(before.repository_url) == racer


def test_a_reconnect_that_adopted_the_repaired_hook_keeps_it(
    sim_control: SimulatorControl, store, cipher, app_settings: Settings
) -> None:
    # given a deleted hook, and a reconnect running while the repair runs: it finds the hook
    # the repair just created (by callback URL) and stores it as its own
    before = connect(store, cipher, app_settings, repo_url("github"))
    sim_control.hook_action("github", before.webhook_id, "delete")

    def a_reconnect_runs(stored: StoredConnection) -> None:
        connect(store, cipher, app_settings, stored.repository_url)

    racing = RacingStore(store, a_reconnect_runs)
    # when the health check runs
    report = health_check(racing, cipher, app_settings).run()
    # then the repair's write lost but the hook survives, stored by the reconnect
    assert racing.replace_results == [False]
    assert report == HealthReport(superseded=1)
    [hook] = sim_control.hooks()
    after = store.get(before.repository_url)
    assert after.webhook_id == hook["id"] != before.webhook_id
    assert decrypt(cipher, after)[WEBHOOK_SECRET] == hook["secret"]
    assert health_of(store, before.repository_url) == (None, None, None)


def test_a_disconnect_racing_the_repair_leaves_no_hook_behind(
    sim_control: SimulatorControl, store, cipher, app_settings: Settings
) -> None:
    # given a deleted hook, and a disconnect that removes the connection during the repair
    before = connect(store, cipher, app_settings, repo_url("github"))
    sim_control.hook_action("github", before.webhook_id, "delete")
    racing = RacingStore(store, lambda stored: store.delete(stored))
    # when the health check runs
    report = health_check(racing, cipher, app_settings).run()
    # then the hook the repair created is deleted again and nothing was re-created
    assert report == HealthReport(superseded=1)
    assert sim_control.hooks() == []
    assert store.get(before.repository_url) is None


# Rate limits, concurrency, failures ----------------------------------------------------------


class OrderedScanStore:
    """The real store, scanning in a chosen order (DynamoDB's follows key hashes)."""

    def __init__(self, store: Any, order: list[str]) -> None:
        self._store = store
        self._order = order

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def scan_connections(self, page_size: int = 100) -> Iterator[StoredConnection]:
        found = {stored.repository_url: stored for stored in self._store.scan_connections()}
        for url in self._order:
            yield found[url]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_rate_limited_token_skips_only_the_connections_holding_that_token(
    sim_control: SimulatorControl, store, cipher, app_settings: Settings, provider: str
) -> None:
    # given, on one provider, a connection whose token gets rate-limited, another holding the
    # same token, and one with a token of its own; and a connection on another provider
    other = "gitlab" if provider == "github" else "github"
    limited, same_token = (
        with_token(
            store,
            cipher,
            connect(store, cipher, app_settings, repo_url(provider, name), project),
            "limited-x",
        )
        for name, project in (("one", "p1"), ("two", "p2"))
    )
    own_token = connect(store, cipher, app_settings, repo_url(provider, "three"), "p3")
    elsewhere = connect(store, cipher, app_settings, repo_url(other, "four"), "p4")
    order = [limited, same_token, own_token, elsewhere]
    sim_control.clear_requests()
    # when the health check runs, one check at a time in that order
    ordered = OrderedScanStore(store, [stored.repository_url for stored in order])
    report = health_check(ordered, cipher, app_settings, max_workers=1).run()
    # then the limited one is degraded, the one sharing its token is skipped (not even asked),
    # and every other tenant — same provider or not — is checked as usual (issue 16: one
    # tenant's limited token used to skip the whole provider)
    assert report == HealthReport(healthy=2, degraded=1, skipped=1)
    assert health_of(store, limited.repository_url) == ("degraded", RATE_LIMITED_REASON, NOW)
    assert health_of(store, same_token.repository_url) == (None, None, None)
    assert without_health(store.get(same_token.repository_url)) == same_token
    assert health_of(store, own_token.repository_url) == ("healthy", HEALTHY_REASON, NOW)
    assert health_of(store, elsewhere.repository_url) == ("healthy", HEALTHY_REASON, NOW)
    asked = [unquote(entry["path"]) for entry in sim_control.requests(provider)]
    assert len([path for path in asked if "/one" in path]) == 1
    assert not [path for path in asked if "/two" in path]


class InFlightCounter:
    """Wraps the real clients; every preflight waits at a barrier until ``parties`` checks
    are in flight together, so the peak is reached deterministically (no sleeps)."""

    def __init__(self, settings: Settings, parties: int) -> None:
        self._settings = settings
        self._barrier = threading.Barrier(parties, timeout=10)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0

    def client_for(self, endpoint: Any) -> Any:
        counter, real = self, registry_clients(self._settings)(endpoint)

        class Counted:
            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            def preflight(self, repo: Any, token: Any) -> None:
                with counter._lock:
                    counter.in_flight += 1
                    counter.peak = max(counter.peak, counter.in_flight)
                try:
                    counter._barrier.wait()
                    real.preflight(repo, token)
                finally:
                    with counter._lock:
                        counter.in_flight -= 1

        return Counted()


def test_checks_run_concurrently_but_never_more_than_max_workers_at_once(
    sim, store, cipher, app_settings: Settings
) -> None:
    # given six connections
    for number in range(6):
        connect(store, cipher, app_settings, repo_url("github", f"r{number}"), f"p{number}")
    counter = InFlightCounter(app_settings, parties=3)
    # when the health check runs with three workers
    report = health_check(
        store, cipher, app_settings, max_workers=3, client_for=counter.client_for
    ).run()
    # then all were checked, three at a time at most (and at the barrier, exactly three)
    assert report == HealthReport(healthy=6)
    assert counter.peak == 3


def test_the_scan_is_read_page_by_page(
    sim, store, cipher, app_settings: Settings, dynamodb_calls: list[str]
) -> None:
    # given five connections
    for number in range(5):
        connect(store, cipher, app_settings, repo_url("github", f"r{number}"), f"p{number}")
    dynamodb_calls.clear()
    # when the health check runs with pages of two
    report = health_check(store, cipher, app_settings, page_size=2).run()
    # then only connection items were read, two per page: the project index (which holds
    # connections only — not the 10 pointers, nor delivery records) gave the keys in three
    # Scans, one BatchGetItem per page the items. A table Scan took 8 calls over 15 items.
    assert report == HealthReport(healthy=5)
    assert dynamodb_calls.count("Scan") == 3
    assert dynamodb_calls.count("BatchGetItem") == 3


def test_an_unexpected_error_on_one_connection_does_not_stop_the_run(
    sim, store, cipher, app_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # given a GitHub client that breaks, and a GitLab connection that works
    broken = connect(store, cipher, app_settings, repo_url("github"), "p1")
    working = connect(store, cipher, app_settings, repo_url("gitlab"), "p2")

    def clients(endpoint: Any) -> Any:
        real = registry_clients(app_settings)(endpoint)
        if endpoint.service_type is not ServiceType.GITHUB:
            return real

        class Broken:
            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            def preflight(self, repo: Any, token: Any) -> None:
                raise RuntimeError("client bug")

        return Broken()

    # when the health check runs
    report = health_check(store, cipher, app_settings, client_for=clients).run()
    # then the error is counted and logged with the connection's ids, never its token, and
    # the other connection is still checked
    assert report == HealthReport(healthy=1, errors=1)
    assert health_of(store, broken.repository_url) == (None, None, None)
    assert health_of(store, working.repository_url) == ("healthy", HEALTHY_REASON, NOW)
    failures = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [(r.getMessage(), r.connectionId) for r in failures] == [
        ("health check of a connection failed unexpectedly", broken.id)
    ]
    assert GOOD_TOKEN not in caplog.text


def test_the_run_stops_starting_checks_when_the_function_is_about_to_time_out(
    sim, store, cipher, app_settings: Settings
) -> None:
    # given a connection, and a function with 10 s left (less than the 30 s margin)
    stored = connect(store, cipher, app_settings, repo_url("github"))
    # when the health check runs
    report = health_check(store, cipher, app_settings).run(time_left_ms=lambda: 10_000)
    # then it stops before checking anything, and says so
    assert report == HealthReport(completed=False)
    assert health_of(store, stored.repository_url) == (None, None, None)


# Through the handler ------------------------------------------------------------------------


def test_the_scheduled_handler_repairs_reports_and_get_shows_the_health_fields(
    api: Api, sim_control: SimulatorControl, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a connection made through the API whose hook was then deleted at the provider
    given_connected(api, repo_url("github"), token=GOOD_TOKEN)
    [hook] = sim_control.hooks()
    sim_control.hook_action("github", hook["id"], "delete")
    started = datetime.now(UTC)
    capsys.readouterr()
    # when the scheduled function runs (imported here, as at a cold start: its Logger and
    # Metrics read the environment the api fixture has just set)
    from functions.health_check import app

    result = app.lambda_handler(
        scheduled_event(),
        LocalLambdaContext(function_name="HealthCheckFunction", timeout_seconds=300),
    )
    # then it reports the repair, publishes the counts, and GET shows the health fields
    assert result == {
        "checked": 1,
        "healthy": 1,
        "degraded": 0,
        "failed": 0,
        "repaired": 1,
        "skipped": 0,
        "superseded": 0,
        "errors": 0,
        "completed": True,
    }
    output = capsys.readouterr().out
    [emf] = [json.loads(line) for line in output.splitlines() if '"_aws"' in line]
    assert {name: emf[name] for name in ("Healthy", "Repaired", "Failed", "Errors")} == {
        "Healthy": [1.0],
        "Repaired": [1.0],
        "Failed": [0.0],
        "Errors": [0.0],
    }
    [new_hook] = sim_control.hooks()
    assert GOOD_TOKEN not in output
    assert new_hook["secret"] not in output
    body = api.read("p1").json()
    assert (body["healthStatus"], body["healthReason"]) == ("healthy", REPAIRED_REASON)
    checked_at = datetime.fromisoformat(body["lastHealthCheckAt"].replace("Z", "+00:00"))
    assert started - timedelta(milliseconds=1) <= checked_at <= datetime.now(UTC)
    assert "webhookSecret" not in body and "accessToken" not in body
