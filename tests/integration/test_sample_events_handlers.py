"""The events/ samples, fed to the real handlers (moto + the provider simulator), are answered
as such requests would be in AWS: the samples are usable with `sam local invoke` as they are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.integration.conftest import EventBusTap
from tests.support.api import Api
from tests.support.handlers import HttpResult, invoke, invoke_http

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _sample(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def _invoke(function: str, sample: str) -> Any:
    """``events/<sample>`` to the function's handler; its raw result."""
    return invoke(function, _sample(sample))


def _call(function: str, sample: str) -> HttpResult:
    """``events/<sample>`` (an API Gateway event) to the function's handler; its answer."""
    return invoke_http(function, _sample(sample))


def test_the_read_samples_find_no_connection_yet(api: Api) -> None:
    # when
    exists = _call("connection_exists", "connection_exists.json")
    found = _call("get_connection", "get_connection.json")
    listed = _call("list_deliveries", "list_deliveries.json")

    # then
    assert (exists.status, exists.json()) == (200, {"exists": False})
    assert (found.status, found.json()["code"]) == (404, "connection_not_found")
    assert (listed.status, listed.json()["code"]) == (404, "connection_not_found")


def test_the_upsert_sample_connects_its_repository_and_disconnect_removes_it(api: Api) -> None:
    # when
    created = _call("upsert_connection", "upsert_connection.json")
    read = _call("get_connection", "get_connection.json")
    listed = _call("list_deliveries", "list_deliveries.json")
    removed = _call("disconnect_connection", "disconnect_connection.json")

    # then
    assert created.status == 201
    assert created.json()["repositoryUrl"] == "https://github.com/acme/widgets"
    assert read.json()["id"] == created.json()["id"]
    assert read.json()["lastDeliveryAt"] is None
    assert (listed.status, listed.json()) == (200, {"deliveries": [], "nextCursor": None})
    assert (removed.status, removed.json()["deleted"]) == (200, True)


def test_the_webhook_sample_for_an_unknown_connection_is_rejected_without_publishing(
    api: Api, event_bus: EventBusTap
) -> None:
    # when
    response = _call("receive_webhook", "receive_webhook.json")

    # then
    assert (response.status, response.json()["code"]) == (401, "invalid_signature")
    assert event_bus.events() == []


def test_the_scheduled_sample_runs_one_health_pass_over_an_empty_table(api: Api) -> None:
    # when
    report = _invoke("health_check", "health_check.json")

    # then
    assert report["healthy"] == report["failed"] == report["errors"] == 0


def test_the_relay_sample_for_an_unknown_connection_publishes_nothing(
    api: Api, event_bus: EventBusTap
) -> None:
    # when the relay gets a delivery record whose connection does not exist
    answer = _invoke("publish_deliveries", "publish_deliveries.json")

    # then the batch is done (nothing to retry) and nothing reached the bus
    assert answer == {"batchItemFailures": []}
    assert event_bus.events() == []


def test_the_operator_sample_runs_one_reencryption_pass_over_an_empty_table(api: Api) -> None:
    # when
    report = _invoke("reencrypt_connections", "reencrypt_connections.json")

    # then
    assert report == {
        "scanned": 0,
        "reencrypted": 0,
        "already_current": 0,
        "current_after_a_concurrent_write": 0,
        "deleted_meanwhile": 0,
        "unreadable": 0,
        "completed": True,
    }
