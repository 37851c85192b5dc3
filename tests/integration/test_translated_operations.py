"""The running shape of the stack as SAM deploys it (the translated template): the relay's
event source mapping, the scheduled functions' rules and failure handling, each function's log
group, per-API and per-route throttling, and the alarms (issue 15: none of these existed, or
none was checked where CloudFormation would see it)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.translated_template import translated_template

WITHOUT_VALUES = "--without-values"
QUEUE_DEPTH = ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
OUR_METRICS = "RepositoryConnections"
ALARMS = {
    # alarm → (namespace, metric, the resource or service its one dimension names)
    "UnencryptableEventsAlarm": (*QUEUE_DEPTH, "UnencryptableEventsQueue"),
    "UnpublishedDeliveriesAlarm": (*QUEUE_DEPTH, "UnpublishedDeliveriesQueue"),
    "FailedHealthChecksAlarm": (*QUEUE_DEPTH, "FailedHealthChecksQueue"),
    "DeliveryStreamLagAlarm": ("AWS/Lambda", "IteratorAge", "PublishDeliveriesFunction"),
    "FrontendApiErrorsAlarm": ("AWS/ApiGateway", "5xx", "HttpApi"),
    "WebhookApiErrorsAlarm": ("AWS/ApiGateway", "5xx", "WebhookApi"),
    "RejectedDeliveriesAlarm": (OUR_METRICS, "DeliveriesRejected", "repository-connections"),
    "HealthCheckErrorsAlarm": (OUR_METRICS, "Errors", "repository-connections"),
    "FailedReconciliationsAlarm": (*QUEUE_DEPTH, "FailedReconciliationsQueue"),
    "ReconcileErrorsAlarm": (OUR_METRICS, "ReconcileErrors", "repository-connections"),
    "DeliveriesAbandonedAlarm": (OUR_METRICS, "DeliveriesAbandoned", "repository-connections"),
}
# Scheduled function → (its rule's schedule, the queue keeping its failed runs).
SCHEDULED = {
    "HealthCheckFunction": ("rate(1 hour)", "FailedHealthChecksQueue"),
    "ReconcileDeliveriesFunction": ("rate(15 minutes)", "FailedReconciliationsQueue"),
}


def _resources() -> dict[str, Any]:
    resources: dict[str, Any] = translated_template(WITHOUT_VALUES)["Resources"]
    return resources


def _of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in _resources().items()
        if resource["Type"] == resource_type
    }


def _named(value: Any) -> str:
    """The resource a Ref / GetAtt names, or the literal."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return str(value)


def test_the_relay_reads_only_delivery_records_and_keeps_what_it_gives_up_on() -> None:
    [mapping] = _of_type("AWS::Lambda::EventSourceMapping").values()
    assert _named(mapping["FunctionName"]) == "PublishDeliveriesFunction"
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["ConnectionsTable", "StreamArn"]}
    [pattern] = mapping["FilterCriteria"]["Filters"]
    assert json.loads(pattern["Pattern"]) == {
        "eventName": ["INSERT", "MODIFY"],
        "dynamodb": {"Keys": {"repositoryUrl": {"S": [{"prefix": "delivery#"}]}}},
    }
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert _named(mapping["DestinationConfig"]["OnFailure"]["Destination"]) == (
        "UnpublishedDeliveriesQueue"
    )


def test_the_scheduled_functions_run_on_their_rules_never_retried_and_failures_are_kept() -> None:
    rules = {
        _named(target["Arn"]): rule["ScheduleExpression"]
        for rule in _of_type("AWS::Events::Rule").values()
        for target in rule["Targets"]
    }
    configs = {
        _named(config["FunctionName"]): config
        for config in _of_type("AWS::Lambda::EventInvokeConfig").values()
    }
    assert rules == {function: schedule for function, (schedule, _) in SCHEDULED.items()}
    assert set(configs) == set(SCHEDULED)
    for function, (_, queue) in SCHEDULED.items():
        assert configs[function]["MaximumRetryAttempts"] == 0
        assert _named(configs[function]["DestinationConfig"]["OnFailure"]["Destination"]) == queue


def test_every_function_logs_to_its_own_masked_log_group() -> None:
    functions = _of_type("AWS::Lambda::Function")
    groups = _of_type("AWS::Logs::LogGroup")
    used = {_named(f["LoggingConfig"]["LogGroup"]) for f in functions.values()}
    assert len(used) == len(functions) == 10
    assert used < set(groups)
    assert all(groups[group].get("DataProtectionPolicy") for group in used)


def test_each_api_and_each_write_route_has_its_own_throttle() -> None:
    stages = {
        _named(stage["ApiId"]): stage for stage in _of_type("AWS::ApiGatewayV2::Stage").values()
    }
    assert stages["HttpApi"]["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
    }
    writes = {"ThrottlingBurstLimit": {"Ref": "WriteThrottlingBurstLimit"},
              "ThrottlingRateLimit": {"Ref": "WriteThrottlingRateLimit"}}  # fmt: skip
    assert stages["HttpApi"]["RouteSettings"] == {
        "PUT /projects/{projectId}/repository-connection": writes,
        "DELETE /projects/{projectId}/repository-connection": writes,
    }
    assert stages["WebhookApi"]["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "WebhookThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "WebhookThrottlingRateLimit"},
    }


@pytest.mark.parametrize("alarm", sorted(ALARMS))
def test_each_alarm_watches_its_metric_and_notifies_the_topic_when_one_is_given(
    alarm: str,
) -> None:
    properties = _of_type("AWS::CloudWatch::Alarm")[alarm]
    namespace, metric, subject = ALARMS[alarm]
    assert (properties["Namespace"], properties["MetricName"]) == (namespace, metric)
    [dimension] = properties["Dimensions"]
    assert _named(dimension["Value"]) == subject
    actions = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    assert properties["AlarmActions"] == properties["OKActions"] == actions
    assert properties["TreatMissingData"] == "notBreaching"


def test_there_are_exactly_the_documented_alarms() -> None:
    assert set(_of_type("AWS::CloudWatch::Alarm")) == set(ALARMS)
