"""A loopback HTTP server that answers from a script, for transport and client tests.

Each request takes the next step of the script (the last step repeats), and every request is
recorded so a test can assert how many attempts were made and what was sent.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.support.loopback import LoopbackServer, Received, Reply


@dataclass
class Step:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes/str
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (read-timeout tests)

    def reply(self) -> Reply:
        if isinstance(self.body, bytes):
            payload = self.body
        elif isinstance(self.body, str):
            payload = self.body.encode()
        elif self.body is None:
            payload = b""
        else:
            payload = json.dumps(self.body).encode()
        return Reply(self.status, payload, self.headers)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer(LoopbackServer):
    def __init__(self) -> None:
        self._script: list[Step] = [Step()]
        self._routes: dict[tuple[str, str], list[Step]] = {}
        self._lock = threading.Lock()
        super().__init__(self._answer_from_script)

    @property
    def seen(self) -> list[Seen]:
        return [
            Seen(r.method, r.path, {k.lower(): v for k, v in r.headers.items()}, r.body)
            for r in self.received
        ]

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._script = list(steps)

    def route(self, method: str, path: str, *steps: Step) -> None:
        """Answer ``method path`` (path with query) from its own script."""
        with self._lock:
            self._routes[(method, path)] = list(steps)

    def start(self) -> ScriptedServer:
        super().start()
        return self

    def _answer_from_script(self, request: Received) -> Reply:
        step = self._next(request.method, request.path)
        if step.delay:
            time.sleep(step.delay)
        return step.reply()

    def _next(self, method: str, path: str) -> Step:
        with self._lock:
            queue = self._routes.get((method, path))
            if queue is None:
                queue = self._routes.get((method, path.split("?", 1)[0]))
            if queue is None:
                queue = self._script
            return queue.pop(0) if len(queue) > 1 else queue[0]
