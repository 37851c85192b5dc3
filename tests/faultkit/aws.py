"""AWS faults through botocore's event system: no client is replaced, nothing is patched.

``before-call.<service>.<Operation>`` is the hook botocore's own ``Stubber`` uses: a handler
that returns ``(http_response, parsed)`` short-circuits the request, and the client then
raises exactly what a real error answer would give (``ClientError`` or the modeled subclass,
``CancellationReasons`` included) - so the code under test maps a genuine exception
(https://github.com/boto/botocore/pull/743). ``after-call`` runs once the call has been
applied; raising there is a response lost on the way back. ``needs-retry`` is asked after
every HTTP attempt; answering 0 makes botocore send the applied request again at once, as
its retry handler does when a timeout hides a success.

Where the clients come from:

- boto3 clients: ``attach_client(client)``, or ``attach_session(session)`` *before* the
  session creates its clients (botocore copies the session's handlers into each new client);
  the handlers built by ``repoconn_core.wiring`` use ``boto3.client`` = the default session.
- pynamodb: every ``Connection`` announces itself through the documented
  ``pre_dynamodb_send`` signal before each call; ``watch_pynamodb()`` attaches to the
  connection's botocore client there, once per client.

DynamoDB steps are named by the role of the key they touch (canonical URL = ``item``,
``project#`` = ``project``, ``connection#`` = ``connection``, ``delivery#`` = ``delivery``,
``deliveries#`` = ``log``):
``dynamodb:GetItem(project)``, ``dynamodb:TransactWriteItems``, ``dynamodb:DeleteItem(delivery)``.
A transaction's items are recorded as the step's detail, e.g.
``[("Put", "item"), ("Put", "project"), ("Put", "connection")]``, in request order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from pynamodb.signals import pre_dynamodb_send

from tests.faultkit.injector import (
    AwsAnswer,
    AwsError,
    AwsTransport,
    Crash,
    InjectedCrash,
    Injector,
)

_LOST = "faultkit.lost_response"
_RESEND = "faultkit.resend"
_UNIQUE = "faultkit"

# Error answers as the services document them (codes and HTTP statuses).
# DynamoDB: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
DDB_THROTTLED = AwsError("throttled", "ProvisionedThroughputExceededException", 400)
DDB_REQUEST_LIMIT = AwsError("request-limit", "ThrottlingException", 400)
DDB_UNAVAILABLE = AwsError("server-error", "InternalServerError", 500)
# KMS: https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html and per action
KMS_THROTTLED = AwsError("throttled", "ThrottlingException", 400)
KMS_UNAVAILABLE = AwsError("kms-internal", "KMSInternalException", 500)
KMS_KEY_UNAVAILABLE = AwsError("key-unavailable", "KeyUnavailableException", 500)
KMS_INVALID_CIPHERTEXT = AwsError("invalid-ciphertext", "InvalidCiphertextException", 400)
# EventBridge PutEvents: errors, or a 200 whose entry failed.
EVENTS_THROTTLED = AwsError("throttled", "ThrottlingException", 400)
EVENTS_UNAVAILABLE = AwsError("internal", "InternalException", 500)
EVENTS_ENTRY_FAILED = AwsAnswer(
    "entry-failed",
    {
        "FailedEntryCount": 1,
        "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}],
    },
)
CONNECTION_ERROR = AwsTransport("connection-error", "before")
# botocore's ReadTimeoutError: the request went out, no answer came (not applied here).
READ_TIMEOUT = AwsTransport("read-timeout", "timeout")
LOST_RESPONSE = AwsTransport("lost-response", "lost")
# Applied, answer lost, and the SDK's own retry sends it again (without an idempotency token
# a transaction's retry then meets its own write).
LOST_THEN_RETRIED = AwsTransport("lost-then-retried", "resent")
CRASH = Crash()

_CANCEL_MESSAGES = {
    "ConditionalCheckFailed": "The conditional request failed",
    "TransactionConflict": "Transaction is ongoing for the item",
    "ThrottlingError": "Throughput exceeds the current capacity of your table or index.",
}


def cancelled(code: str, action: str, kind: str) -> AwsError:
    """TransactionCanceledException whose reason ``code`` belongs to the request's item
    ``action`` (Put/Delete/Update) on a key of ``kind``; every other item's reason is None."""
    return AwsError(
        f"cancelled-{code}-{action}-{kind}",
        "TransactionCanceledException",
        400,
        cancel=(code, action, kind),
    )


def key_kind(key: str) -> str:
    for prefix, kind in (
        ("project#", "project"),
        ("connection#", "connection"),
        ("delivery#", "delivery"),
        ("deliveries#", "log"),
        ("pending#", "pending"),
    ):
        if key.startswith(prefix):
            return kind
    return "lease" if key.startswith("lease#") else "item"


def _key_of(entry: dict[str, Any]) -> str:
    attributes = entry.get("Key") or entry.get("Item") or {}
    value = attributes.get("repositoryUrl", {})
    return str(value.get("S", ""))


def _transaction_items(body: dict[str, Any]) -> list[tuple[str, str]]:
    items = []
    for entry in body.get("TransactItems", []):
        ((action, spec),) = entry.items()
        items.append((action, key_kind(_key_of(spec))))
    return items


def _body(params: dict[str, Any]) -> dict[str, Any]:
    raw = params.get("body") or b"{}"
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def step_name(service: str, operation: str, params: dict[str, Any]) -> tuple[str, Any]:
    """The step's name and detail for one botocore call."""
    if service != "dynamodb":
        return f"{service}:{operation}", None
    body = _body(params)
    if operation == "TransactWriteItems":
        return f"dynamodb:{operation}", _transaction_items(body)
    if operation in {"GetItem", "PutItem", "DeleteItem", "UpdateItem"}:
        return f"dynamodb:{operation}({key_kind(_key_of(body))})", None
    return f"dynamodb:{operation}", None


class AwsFaults:
    """Routes the botocore calls of attached clients and sessions through an injector."""

    def __init__(self, injector: Injector) -> None:
        self._injector = injector
        self._emitters: list[Any] = []
        self._seen_clients: set[int] = set()
        # ClientRequestToken of every TransactWriteItems sent while the injector is armed.
        self.transaction_tokens: list[str | None] = []

    # Attaching ----------------------------------------------------------------------------

    def attach_client(self, client: Any) -> None:
        if id(client) in self._seen_clients:
            return
        self._seen_clients.add(id(client))
        self._register(client.meta.events)

    def attach_session(self, session: Any) -> None:
        """A boto3 or botocore session: every client it creates *afterwards* is attached."""
        self._register(session.events if hasattr(session, "events") else session)

    @contextmanager
    def watch_pynamodb(self) -> Iterator[None]:
        """Attach to each pynamodb connection's client as it makes its first call."""

        def on_send(sender: Any, **_: Any) -> None:
            self.attach_client(sender.client)

        with pre_dynamodb_send.connected_to(on_send):
            yield

    def close(self) -> None:
        for emitter in self._emitters:
            emitter.unregister("before-call", self._before_call, unique_id=self._uid("b"))
            emitter.unregister("after-call", self._after_call, unique_id=self._uid("a"))
            emitter.unregister("needs-retry", self._needs_retry, unique_id=self._uid("r"))
        self._emitters.clear()
        self._seen_clients.clear()

    def _register(self, emitter: Any) -> None:
        # register_first: an answer must win over any other before-call handler.
        emitter.register_first("before-call", self._before_call, unique_id=self._uid("b"))
        emitter.register_first("after-call", self._after_call, unique_id=self._uid("a"))
        emitter.register_first("needs-retry", self._needs_retry, unique_id=self._uid("r"))
        self._emitters.append(emitter)

    def _uid(self, suffix: str) -> str:
        return f"{_UNIQUE}-{id(self)}-{suffix}"

    # Handlers -----------------------------------------------------------------------------

    def _before_call(
        self, event_name: str, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        service, operation = event_name.split(".", 2)[1:]
        step, detail = step_name(service, operation, params)
        fault = self._injector.on_step(step, detail)
        if operation == "TransactWriteItems" and self._injector.is_armed:
            self.transaction_tokens.append(_body(params).get("ClientRequestToken"))
        if fault is None:
            return None
        if isinstance(fault, Crash):
            raise InjectedCrash(f"injected crash at {step}")
        if isinstance(fault, AwsTransport):
            if fault.when == "before":
                raise EndpointConnectionError(endpoint_url=f"https://{service}.invalid")
            if fault.when == "timeout":
                raise ReadTimeoutError(endpoint_url=f"https://{service}.invalid")
            context[_LOST if fault.when == "lost" else _RESEND] = step
            return None
        if isinstance(fault, AwsAnswer):
            return AWSResponse("", 200, HTTPHeaders(), None), dict(fault.parsed)
        if isinstance(fault, AwsError):
            return _error_answer(fault, detail)
        raise TypeError(f"{fault!r} is not an AWS fault (step {step})")

    def _needs_retry(self, request_dict: dict[str, Any], attempts: int, **_: Any) -> int | None:
        context = request_dict.get("context") or {}
        if attempts == 1 and context.pop(_RESEND, None) is not None:
            return 0  # send the applied request again, now
        return None

    def _after_call(self, context: dict[str, Any], **_: Any) -> None:
        step = context.pop(_LOST, None)
        if step is not None:
            # Applied by the service; the answer never reaches us.
            raise ReadTimeoutError(endpoint_url=f"https://{step.split(':', 1)[0]}.invalid")


def _error_answer(
    fault: AwsError, transaction: list[tuple[str, str]] | None
) -> tuple[AWSResponse, dict[str, Any]]:
    # The shape botocore.stub.Stubber.add_client_error builds.
    parsed: dict[str, Any] = {
        "ResponseMetadata": {"HTTPStatusCode": fault.status},
        "Error": {"Code": fault.code, "Message": fault.message},
    }
    if fault.cancel is not None:
        code, action, kind = fault.cancel
        items = transaction or []
        if (action, kind) not in items:
            raise AssertionError(f"no {action} of a {kind} key in this transaction: {items}")
        reasons = [
            {"Code": code, "Message": _CANCEL_MESSAGES.get(code, code)}
            if item == (action, kind)
            else {"Code": "None"}
            for item in items
        ]
        parsed["CancellationReasons"] = reasons
        codes = ", ".join(reason["Code"] for reason in reasons)
        parsed["Error"]["Message"] = (
            "Transaction cancelled, please refer cancellation reasons for specific reasons "
            f"[{codes}]"
        )
    return AWSResponse("", fault.status, HTTPHeaders(), None), parsed
