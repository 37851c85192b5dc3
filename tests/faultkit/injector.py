"""Steps, faults and the injector that decides, call by call, whether something goes wrong.

A *step* is one call through an instrumented boundary, named ``service:operation`` with a
qualifier where one operation plays several roles, e.g. ``dynamodb:GetItem(project)``,
``kms:GenerateDataKey``, ``provider:create_hook``. The injector numbers the occurrences of
each step while armed, so a plan says "the 2nd ``dynamodb:GetItem(item)``" and a clean run's
trace can be compared with the steps a test expects (so a plan cannot drift from the code).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from repoconn_core.errors import DomainError


class InjectedCrash(RuntimeError):
    """An unexpected exception at an injected point: a bug, a library error, a bad deploy."""


# Faults ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsError:
    """The service answers with an error; botocore raises it through the client's normal
    error path (``ClientError`` or the modeled subclass)."""

    name: str
    code: str
    status: int = 400
    message: str = "injected"
    # TransactionCanceledException only: the reason code, given to the transaction item
    # matching (action, key kind), e.g. ("ConditionalCheckFailed", "Put", "project").
    cancel: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class AwsAnswer:
    """The service answers 200 with this body (e.g. PutEvents with FailedEntryCount 1)."""

    name: str
    parsed: Mapping[str, Any]


@dataclass(frozen=True)
class AwsTransport:
    """No answer. ``before``: the request never arrives (EndpointConnectionError);
    ``timeout``: no answer, not applied (ReadTimeoutError); ``lost``: applied, the answer is
    lost (ReadTimeoutError after the fact); ``resent``: applied, the answer lost, and
    botocore's retry sends the same request again."""

    name: str
    when: Literal["before", "timeout", "lost", "resent"]


@dataclass(frozen=True)
class ProviderError:
    """The provider call raises this typed error (what the client maps a refusal to)."""

    name: str
    error: Callable[[], DomainError]


@dataclass(frozen=True)
class ProviderTransport:
    """The provider call goes over a connection that is reset, or never answered."""

    name: str
    mode: Literal["reset", "hang"]


@dataclass(frozen=True)
class LostResponse:
    """The provider applies the call; its answer never arrives (a timeout after the fact)."""

    name: str


@dataclass(frozen=True)
class Crash:
    """An unexpected exception instead of the call."""

    name: str = "crash"


Fault = (
    AwsError | AwsAnswer | AwsTransport | ProviderError | ProviderTransport | LostResponse | Crash
)


# The injector ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fired:
    step: str
    occurrence: int
    fault: str


@dataclass
class Injector:
    """Shared by every instrumented boundary of one test world. Disarmed, it does nothing
    (set-up and verification calls are neither traced nor faulted)."""

    trace: list[tuple[str, int]] = field(default_factory=list)
    details: dict[tuple[str, int], Any] = field(default_factory=dict)
    fired: list[Fired] = field(default_factory=list)
    total_fired: int = 0
    _plan: dict[tuple[str, int], Fault] = field(default_factory=dict)
    _counts: Counter[str] = field(default_factory=Counter)
    _armed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _only_thread: int | None = None

    @contextmanager
    def armed(self, plan: Mapping[tuple[str, int], Fault] | None = None) -> Iterator[Injector]:
        """Trace (and fault, per ``plan``) every step inside the block."""
        with self._lock:
            self.trace.clear()
            self.details.clear()
            self.fired.clear()
            self._counts.clear()
            self._plan = dict(plan or {})
            self._armed = True
        try:
            yield self
        finally:
            with self._lock:
                self._armed = False
                self._plan = {}

    @property
    def is_armed(self) -> bool:
        return self._armed

    @contextmanager
    def only_this_thread(self) -> Iterator[None]:
        """Inside the block, only this thread's steps are traced and faulted: what the
        operation under test causes elsewhere (the receiver handling the ping GitHub sends
        while connect creates a hook, on the gateway's threads) is not one of its steps."""
        self._only_thread = threading.get_ident()
        try:
            yield
        finally:
            self._only_thread = None

    def on_step(self, step: str, detail: Any = None) -> Fault | None:
        """Record one call of ``step``; the fault planned for this occurrence, if any."""
        with self._lock:
            if not self._armed:
                return None
            if self._only_thread not in (None, threading.get_ident()):
                return None
            self._counts[step] += 1
            key = (step, self._counts[step])
            self.trace.append(key)
            if detail is not None:
                self.details[key] = detail
            fault = self._plan.get(key)
            if fault is not None:
                self.fired.append(Fired(step, key[1], fault.name))
                self.total_fired += 1
            return fault

    def steps(self) -> list[str]:
        """The trace as ``step`` or ``step#n`` for n > 1, for readable assertions."""
        return [step if n == 1 else f"{step}#{n}" for step, n in self.trace]
