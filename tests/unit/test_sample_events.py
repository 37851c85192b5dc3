"""events/: one sample event per function for `sam local invoke -e events/<x>.json <LogicalId>`.

Each HTTP sample must be what API Gateway would hand that function: its routeKey is one of the
template's routes, and the local gateway's route table (the same matching rules) sends its
method and rawPath to that route, with the same path parameters.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from repoconn_local import stack
from repoconn_local.aws import template_schema
from repoconn_local.gateway import routes
from repoconn_providers import signatures

EVENTS = Path(__file__).resolve().parents[2] / "events"
HTTP_SAMPLES = {
    "upsert_connection.json": "UpsertConnectionFunction",
    "get_connection.json": "GetConnectionFunction",
    "connection_exists.json": "ConnectionExistsFunction",
    "list_deliveries.json": "ListDeliveriesFunction",
    "disconnect_connection.json": "DisconnectConnectionFunction",
    "receive_webhook.json": "WebhookReceiverFunction",
}
# The least role each HTTP sample's caller needs for the route (identity.py).
ROLE_NEEDED = {
    "upsert_connection.json": "admin",
    "disconnect_connection.json": "admin",
    "get_connection.json": "member",
    "connection_exists.json": "member",
    "list_deliveries.json": "member",
}
SCHEDULED_SAMPLES = {
    "health_check.json": "HealthCheckFunction",
    "reconcile_deliveries.json": "ReconcileDeliveriesFunction",
}
STREAM_SAMPLES = {"publish_deliveries.json": "PublishDeliveriesFunction"}
# Invoked by operators (aws lambda invoke), with any event.
OPERATOR_SAMPLES = {"reencrypt_connections.json": "ReencryptConnectionsFunction"}
# The secret receive_webhook.json is signed with (README: "Invoking a function with sam local").
SAMPLE_WEBHOOK_SECRET = "example-webhook-secret"


def _load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def table() -> routes.RouteTable:
    return routes.route_table(template_schema.load_template(), stack.LOCAL_PARAMETERS)


def test_there_is_one_sample_per_function_of_the_template(template: dict[str, Any]) -> None:
    # given
    functions = {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }

    # when
    samples = {path.name for path in EVENTS.glob("*.json")}

    # then
    assert samples == (
        set(HTTP_SAMPLES) | set(SCHEDULED_SAMPLES) | set(STREAM_SAMPLES) | set(OPERATOR_SAMPLES)
    )
    assert sorted(
        [
            *HTTP_SAMPLES.values(),
            *SCHEDULED_SAMPLES.values(),
            *STREAM_SAMPLES.values(),
            *OPERATOR_SAMPLES.values(),
        ]
    ) == sorted(functions)


@pytest.mark.parametrize(
    "name", sorted([*HTTP_SAMPLES, *SCHEDULED_SAMPLES, *STREAM_SAMPLES, *OPERATOR_SAMPLES])
)
def test_each_sample_is_a_json_object(name: str) -> None:
    # when
    event = _load(name)

    # then
    assert isinstance(event, dict)


def test_every_http_route_of_the_template_has_exactly_one_sample(
    table: routes.RouteTable,
) -> None:
    # when
    sampled = sorted(_load(name)["routeKey"] for name in HTTP_SAMPLES)

    # then
    assert sampled == sorted(route.route_key for route in table.routes)


@pytest.mark.parametrize(("name", "function"), sorted(HTTP_SAMPLES.items()))
def test_the_gateway_routes_each_http_sample_to_its_function(
    table: routes.RouteTable, name: str, function: str
) -> None:
    # given
    event = _load(name)
    context = event["requestContext"]

    # when
    match = table.match(context["http"]["method"], event["rawPath"])

    # then
    assert match is not None
    assert match.route.function.logical_id == function
    assert match.route.function.module == f"functions.{Path(name).stem}.app"
    assert match.route.route_key == event["routeKey"] == context["routeKey"]
    assert match.path_parameters == event["pathParameters"]
    assert (event["version"], context["http"]["path"]) == ("2.0", event["rawPath"])


@pytest.mark.parametrize("name", sorted(HTTP_SAMPLES))
def test_only_routes_behind_the_jwt_authorizer_carry_claims(
    table: routes.RouteTable, name: str
) -> None:
    # given
    event = _load(name)
    match = table.match(event["requestContext"]["http"]["method"], event["rawPath"])
    assert match is not None

    # when
    claims = event["requestContext"].get("authorizer", {}).get("jwt", {}).get("claims")

    # then
    if match.route.authorizer is None:
        assert claims is None
    else:
        # As API Gateway hands them over: strings, arrays in the bracketed form.
        project, role = event["pathParameters"]["projectId"], ROLE_NEEDED[name]
        assert claims["project_roles"] == f"[{project}:{role}]"
        assert event["headers"]["authorization"].startswith("Bearer ")


def test_the_webhook_sample_is_a_github_push_signed_with_the_documented_secret() -> None:
    # given
    event = _load("receive_webhook.json")
    body = event["body"].encode("utf-8")

    # when
    verified = signatures.verify_delivery(
        "GitHub", event["headers"], body, [SecretStr(SAMPLE_WEBHOOK_SECRET)], datetime.now(UTC)
    )

    # then
    assert verified is True
    assert event["isBase64Encoded"] is False
    assert event["headers"]["x-github-event"] == "push"
    assert int(event["headers"]["content-length"]) == len(body)
    assert json.loads(body)["repository"]["full_name"] == "acme/widgets"


@pytest.mark.parametrize("sample", sorted(SCHEDULED_SAMPLES))
def test_a_scheduled_sample_is_the_scheduled_event_its_rule_sends(
    template: dict[str, Any], sample: str
) -> None:
    # given
    function = template["Resources"][SCHEDULED_SAMPLES[sample]]
    schedules = [event["Type"] for event in function["Properties"]["Events"].values()]

    # when
    event = _load(sample)

    # then
    assert schedules == ["Schedule"]
    assert (event["source"], event["detail-type"], event["detail"]) == (
        "aws.events",
        "Scheduled Event",
        {},
    )


def test_the_relay_sample_is_a_stream_batch_its_filter_lets_through(
    template: dict[str, Any],
) -> None:
    # given the event source mapping of the relay
    [source] = template["Resources"]["PublishDeliveriesFunction"]["Properties"]["Events"].values()
    [pattern] = [
        json.loads(f["Pattern"]) for f in source["Properties"]["FilterCriteria"]["Filters"]
    ]

    # when
    [record] = _load("publish_deliveries.json")["Records"]

    # then it is a new delivery record, as the filter selects them, with its event inside
    assert source["Type"] == "DynamoDB"
    assert record["eventName"] in pattern["eventName"]
    [prefix] = pattern["dynamodb"]["Keys"]["repositoryUrl"]["S"]
    assert record["dynamodb"]["Keys"]["repositoryUrl"]["S"].startswith(prefix["prefix"])
    image = record["dynamodb"]["NewImage"]
    assert json.loads(image["detail"]["S"])["deliveryId"] in image["repositoryUrl"]["S"]
