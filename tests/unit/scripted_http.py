"""A tiny stdlib HTTP server that answers from a script, for transport and client tests.

Each request takes the next step of the script (the last step repeats), and every request is
recorded so a test can assert how many attempts were made and what was sent.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Step:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes/str
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (read-timeout tests)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    def __init__(self) -> None:
        self._script: list[Step] = [Step()]
        self._routes: dict[tuple[str, str], list[Step]] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                step = server._next(self.command, self.path)
                server.seen.append(
                    Seen(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
                if step.delay:
                    time.sleep(step.delay)
                if isinstance(step.body, bytes):
                    payload = step.body
                elif isinstance(step.body, str):
                    payload = step.body.encode()
                elif step.body is None:
                    payload = b""
                else:
                    payload = json.dumps(step.body).encode()
                try:
                    self.send_response(step.status)
                    headers = {"Content-Type": "application/json", **step.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._script = list(steps)

    def route(self, method: str, path: str, *steps: Step) -> None:
        """Answer ``method path`` (path with query) from its own script."""
        with self._lock:
            self._routes[(method, path)] = list(steps)

    def _next(self, method: str, path: str) -> Step:
        with self._lock:
            queue = self._routes.get((method, path))
            if queue is None:
                queue = self._routes.get((method, path.split("?", 1)[0]))
            if queue is None:
                queue = self._script
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
