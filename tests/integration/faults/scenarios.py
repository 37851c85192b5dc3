"""The fault matrix: operations, their steps, the faults each step can suffer, and what the
service must answer and leave behind. Generated, not hand-listed, so adding a step or a fault
adds its cases.

Each operation's ``steps`` are its clean run's trace; a test compares them with a real run, so
the matrix cannot silently drift from the code (a new call in connect shows up as a failing
trace test, then as new cases).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from repoconn_core import errors

from tests.faultkit.aws import (
    CONNECTION_ERROR,
    CRASH,
    DDB_THROTTLED,
    DDB_UNAVAILABLE,
    EVENTS_ENTRY_FAILED,
    EVENTS_THROTTLED,
    EVENTS_UNAVAILABLE,
    KMS_INVALID_CIPHERTEXT,
    KMS_KEY_UNAVAILABLE,
    KMS_THROTTLED,
    KMS_UNAVAILABLE,
    LOST_RESPONSE,
    LOST_THEN_RETRIED,
    READ_TIMEOUT,
    cancelled,
)
from tests.faultkit.injector import (
    AwsError,
    AwsTransport,
    Crash,
    Fault,
    LostResponse,
    ProviderError,
    ProviderTransport,
)

PROJECT = "p1"
TOKEN_1 = "tok-faults-first-Zq81xLm40aB7"
TOKEN_2 = "tok-faults-second-Hn5vWc92pE3"
PROVIDERS = ("GitHub", "GitLab", "Bitbucket")
REPO_A = {
    "GitHub": "https://github.com/acme/api",
    "GitLab": "https://gitlab.com/acme/platform/api",
    "Bitbucket": "https://bitbucket.org/acme/api",
}
REPO_B = {
    "GitHub": "https://github.com/acme/web",
    "GitLab": "https://gitlab.com/acme/platform/web",
    "Bitbucket": "https://bitbucket.org/acme/web",
}

OperationName = Literal["connect", "reconnect", "replace", "disconnect", "receive"]


@dataclass(frozen=True)
class Operation:
    name: OperationName
    steps: tuple[str, ...]  # a clean run's trace, in order ("step" or "step#n")
    transaction: tuple[tuple[str, str], ...]  # its TransactWriteItems items, request order
    conditioned: frozenset[tuple[str, str]]  # the items that carry a condition


_CONNECT_ITEMS = (("Put", "item"), ("Put", "project"), ("Put", "connection"))
OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "connect",
            (
                "dynamodb:PutItem(lease)",
                "provider:preflight",
                "dynamodb:GetItem(project)",
                "dynamodb:GetItem(item)",
                "kms:GenerateDataKey",
                "kms:GenerateDataKey#2",
                "dynamodb:PutItem(pending)",
                "provider:find_hook",
                "provider:create_hook",
                "dynamodb:TransactWriteItems",
                "dynamodb:DeleteItem(pending)",
                "dynamodb:DeleteItem(lease)",
            ),
            _CONNECT_ITEMS,
            frozenset({("Put", "item"), ("Put", "project")}),
        ),
        Operation(
            "reconnect",
            (
                "dynamodb:PutItem(lease)",
                "provider:preflight",
                "dynamodb:GetItem(project)",
                "dynamodb:GetItem(item)",
                "kms:Decrypt",
                "kms:GenerateDataKey",
                "kms:GenerateDataKey#2",
                "kms:GenerateDataKey#3",
                "dynamodb:PutItem(pending)",
                "provider:update_hook",
                "dynamodb:TransactWriteItems",
                "dynamodb:DeleteItem(pending)",
                "dynamodb:GetItem(log)",
                "dynamodb:DeleteItem(lease)",
            ),
            _CONNECT_ITEMS,
            frozenset({("Put", "item"), ("Put", "project")}),
        ),
        Operation(
            "replace",
            (
                "dynamodb:PutItem(lease)",
                "provider:preflight",
                "dynamodb:GetItem(project)",
                "dynamodb:GetItem(item)",
                "dynamodb:GetItem(item)#2",
                "kms:GenerateDataKey",
                "kms:GenerateDataKey#2",
                "dynamodb:PutItem(pending)",
                "provider:find_hook",
                "provider:create_hook",
                "dynamodb:TransactWriteItems",
                "dynamodb:DeleteItem(pending)",
                "kms:Decrypt",
                "provider:delete_hook",
                "dynamodb:DeleteItem(lease)",
            ),
            (
                ("Delete", "item"),
                ("Delete", "connection"),
                ("Put", "item"),
                ("Put", "project"),
                ("Put", "connection"),
            ),
            frozenset({("Delete", "item"), ("Put", "item"), ("Put", "project")}),
        ),
        Operation(
            "disconnect",
            (
                "dynamodb:PutItem(lease)",
                "dynamodb:GetItem(project)",
                "dynamodb:GetItem(item)",
                "kms:Decrypt",
                "provider:delete_hook",
                "dynamodb:TransactWriteItems",
                "dynamodb:DeleteItem(lease)",
            ),
            (("Delete", "item"), ("Delete", "project"), ("Delete", "connection")),
            frozenset({("Delete", "item"), ("Delete", "project")}),
        ),
        Operation(
            "receive",
            (
                "dynamodb:GetItem(connection)",
                "dynamodb:GetItem(item)",
                "kms:Decrypt",
                "dynamodb:PutItem(delivery)",
            ),
            # One write, no transaction: publishing is the relay's (test_relay_faults.py).
            (),
            frozenset(),
        ),
    )
}

# Steps after which a replace has already committed: failures there are best effort.
REPLACE_AFTER_WRITE = frozenset({"kms:Decrypt", "provider:delete_hook"})


# Faults per kind of step ------------------------------------------------------------------

PROVIDER_FAULTS: tuple[Fault, ...] = (
    ProviderError("401-invalid-token", lambda: errors.InvalidToken("injected: token refused")),
    ProviderError(
        "403-insufficient-permissions",
        lambda: errors.InsufficientPermissions("injected: the token lacks admin rights"),
    ),
    ProviderError(
        "404-repository-not-found", lambda: errors.RepositoryNotFound("injected: no repo")
    ),
    ProviderError("5xx", lambda: errors.ProviderUnavailable("injected: the provider answered 503")),
    ProviderError(
        "429-rate-limited",
        lambda: errors.ProviderRateLimited("injected: rate limited; retry in 30 s", retry_after=30),
    ),
    ProviderTransport("connection-reset", "reset"),
    ProviderTransport("timeout", "hang"),
    Crash(),
)
HOOK_NOT_FOUND = ProviderError("404-hook-gone", lambda: errors.HookNotFound("injected: hook gone"))
PROVIDER_LOST = LostResponse("lost-response")
DDB_CALL_FAULTS: tuple[Fault, ...] = (
    DDB_THROTTLED,
    DDB_UNAVAILABLE,
    CONNECTION_ERROR,
    READ_TIMEOUT,
    CRASH,
)
KMS_GENERATE_FAULTS: tuple[Fault, ...] = (
    KMS_THROTTLED,
    KMS_UNAVAILABLE,
    KMS_KEY_UNAVAILABLE,
    CONNECTION_ERROR,
    READ_TIMEOUT,
    CRASH,
)
KMS_DECRYPT_FAULTS: tuple[Fault, ...] = (
    KMS_THROTTLED,
    KMS_UNAVAILABLE,
    KMS_INVALID_CIPHERTEXT,
    CONNECTION_ERROR,
    READ_TIMEOUT,
    CRASH,
)
EVENTS_FAULTS: tuple[Fault, ...] = (
    EVENTS_THROTTLED,
    EVENTS_UNAVAILABLE,
    EVENTS_ENTRY_FAILED,
    CONNECTION_ERROR,
    READ_TIMEOUT,
    CRASH,
)


def faults_for(op: Operation, step: str) -> list[Fault]:
    base = step.split("#", 1)[0]
    if base.startswith("provider:"):
        faults = list(PROVIDER_FAULTS)
        method = base.split(":", 1)[1]
        if method in {"create_hook", "update_hook", "delete_hook"}:
            faults.append(PROVIDER_LOST)
        if method == "update_hook":
            faults.append(HOOK_NOT_FOUND)
        return faults
    if base == "kms:GenerateDataKey":
        return list(KMS_GENERATE_FAULTS)
    if base == "kms:Decrypt":
        return list(KMS_DECRYPT_FAULTS)
    if base == "eventbridge:PutEvents":
        return list(EVENTS_FAULTS)
    if base == "dynamodb:TransactWriteItems":
        faults = [
            DDB_THROTTLED,
            DDB_UNAVAILABLE,
            CONNECTION_ERROR,
            READ_TIMEOUT,
            LOST_RESPONSE,
            LOST_THEN_RETRIED,
            CRASH,
        ]
        for action, kind in op.transaction:
            if (action, kind) in op.conditioned:
                faults.append(cancelled("ConditionalCheckFailed", action, kind))
            faults.append(cancelled("TransactionConflict", action, kind))
        first_action, first_kind = op.transaction[0]
        faults.append(cancelled("ThrottlingError", first_action, first_kind))
        return faults
    if base in {"dynamodb:PutItem(lease)", "dynamodb:DeleteItem(lease)"}:
        return [*DDB_CALL_FAULTS, LOST_RESPONSE]
    if base == "dynamodb:PutItem(delivery)":
        # LOST_THEN_RETRIED: the SDK's retry meets the record its first attempt wrote.
        return [*DDB_CALL_FAULTS, LOST_RESPONSE, LOST_THEN_RETRIED]
    if base.startswith("dynamodb:"):
        return list(DDB_CALL_FAULTS)
    raise AssertionError(f"no faults defined for step {step}")


# What must happen ------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """The HTTP answer: status, problem code (None on success), Retry-After (None = absent)."""

    status: int
    code: str | None = None
    retry_after: int | None = None


End = Literal[
    "unchanged",  # table, hooks (ids, URLs, secrets) and events exactly as before
    "done",  # the operation's success state, nothing left over
    "done-old-hook-left",  # success, one hook of the previous connection left (logged)
    "hook-removed-connection-kept",  # disconnect: hook gone, the write failed; retry finishes
    "done-lease-left",  # success; the project's lease could not be released (expires, logged)
    "done-pending-left",  # success; the staged secret could not be deleted (expires, logged)
]


@dataclass(frozen=True)
class Expect:
    answer: Answer
    end: End


@dataclass(frozen=True)
class Case:
    op: Operation
    step: str
    occurrence: int
    fault: Fault
    provider: str
    expect: Expect

    @property
    def id(self) -> str:
        step = self.step if self.occurrence == 1 else f"{self.step}#{self.occurrence}"
        return f"{self.op.name}|{step}|{self.fault.name}|{self.provider}"

    @property
    def plan(self) -> dict[tuple[str, int], Fault]:
        return {(self.step, self.occurrence): self.fault}


def _failure(fault: Fault) -> Answer:
    """What a failure of this kind answers, wherever it happens."""
    if isinstance(fault, Crash):
        return Answer(500, "internal_error")
    if isinstance(fault, ProviderTransport | LostResponse):
        return Answer(502, "provider_unavailable")
    if isinstance(fault, ProviderError):
        error = fault.error()
        return Answer(error.status, error.code, getattr(error, "retry_after", None))
    if isinstance(fault, AwsTransport):
        return Answer(503, "dependency_unavailable", 10)
    code = fault.code if isinstance(fault, AwsError) else ""
    if code == "InvalidCiphertextException":
        return Answer(500, "stored_secret_unreadable")
    if code in {"ThrottlingException", "ProvisionedThroughputExceededException"}:
        return Answer(503, "dependency_unavailable", 2)
    return Answer(503, "dependency_unavailable", 10)


SUCCESS = {
    "connect": Answer(201),
    "reconnect": Answer(200),
    "replace": Answer(201),
    "disconnect": Answer(200),
    "receive": Answer(202),
}


def _applied_answer_lost(fault: Fault) -> bool:
    return isinstance(fault, LostResponse) or fault in (LOST_RESPONSE, LOST_THEN_RETRIED)


def expect(op: Operation, step: str, fault: Fault) -> Expect:
    """The contract for this fault at this step (DESIGN.md, docs/decisions.md)."""
    name = op.name
    lost = _applied_answer_lost(fault)

    if step == "dynamodb:DeleteItem(lease)":
        # Releasing is best effort: the operation's outcome stands; the lease expires.
        return Expect(SUCCESS[name], "done" if lost else "done-lease-left")

    if step == "dynamodb:DeleteItem(pending)":
        # Its secret is in the connection now; deleting the staged copy is best effort.
        return Expect(SUCCESS[name], "done" if lost else "done-pending-left")

    if step == "dynamodb:GetItem(log)":
        # The reconnect is written; its answer's lastDeliveryAt is read best effort.
        return Expect(SUCCESS[name], "done")

    if isinstance(fault, AwsError) and fault.cancel is not None:
        answer = _cancellation(op, fault.cancel)
        if name == "disconnect":
            # The hook is removed before the write; a retry of DELETE finishes the job.
            return Expect(answer, "hook-removed-connection-kept")
        return Expect(answer, "unchanged")

    if name == "reconnect" and fault is HOOK_NOT_FOUND:
        # The stored hook id is stale: look the hook up by its URL and update that one.
        return Expect(SUCCESS[name], "done")

    if name == "reconnect" and step == "provider:update_hook" and lost:
        # Applied with the answer lost: the hook gets the stored secret back; 502.
        return Expect(_failure(fault), "unchanged")

    if name == "replace" and step in REPLACE_AFTER_WRITE:
        # Committed already; removing the old repository's hook is best effort (logged).
        return Expect(SUCCESS[name], "done" if lost else "done-old-hook-left")

    if name == "disconnect" and step in {"kms:Decrypt", "provider:delete_hook"}:
        if isinstance(fault, Crash):
            return Expect(_failure(fault), "unchanged")
        # The admin gets out even when the hook cannot be removed (webhookRemoved false).
        return Expect(Answer(200), "done" if lost else "done-old-hook-left")

    if name == "disconnect" and fault is LOST_THEN_RETRIED:
        # The SDK's retry meets the delete already applied. DynamoDB answers it with the
        # first attempt's success (ClientRequestToken); moto does not implement that token,
        # so here the retry is cancelled and the admin gets a 409 for a finished disconnect.
        return Expect(Answer(409, "concurrent_modification"), "done")

    if lost:
        # Applied, answer lost: the operation is finished, never half of each.
        return Expect(SUCCESS[name], "done")

    if name == "disconnect" and step == "dynamodb:TransactWriteItems":
        return Expect(_failure(fault), "hook-removed-connection-kept")

    return Expect(_failure(fault), "unchanged")


def _cancellation(op: Operation, cancel: tuple[str, str, str]) -> Answer:
    code, action, kind = cancel
    if code == "ThrottlingError":
        return Answer(503, "dependency_unavailable", 2)
    if code == "ConditionalCheckFailed" and (action, kind) == ("Put", "item"):
        return Answer(409, "repository_already_connected")
    return Answer(409, "concurrent_modification")


def generate() -> Iterator[Case]:
    """Every (operation x step x fault), the provider rotating so each gets its share."""
    turn = 0
    for op in OPERATIONS.values():
        for entry in op.steps:
            step, _, occurrence = entry.partition("#")
            for fault in faults_for(op, step):
                yield Case(
                    op=op,
                    step=step,
                    occurrence=int(occurrence or 1),
                    fault=fault,
                    provider=PROVIDERS[turn % len(PROVIDERS)],
                    expect=expect(op, step, fault),
                )
                turn += 1
