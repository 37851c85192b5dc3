"""One loopback HTTP server for every test that needs something on the other end of a socket.

``LoopbackServer(respond)`` listens on 127.0.0.1 on a port the kernel picks, records every
request it gets (``received``) and answers each with what ``respond`` returns for it: a
``Reply``, or a ``Drop`` that breaks the connection for real instead (``RESET``: the client
sees a TCP RST, ECONNRESET; ``HANG``: no answer until the server stops, so the client's read
timeout fires). With ``tls`` it speaks HTTPS with that server context.

    with LoopbackServer(lambda request: Reply(200, b'{"ok": true}')) as server:
        requests.get(server.url + "/ping")
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request as it arrived; ``headers`` keep the sender's spelling."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


class Drop(Enum):
    """Break the connection instead of answering."""

    RESET = "reset"
    HANG = "hang"


Respond = Callable[[Received], "Reply | Drop"]
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


class LoopbackServer:
    """Binds on construction; serves between ``start()`` and ``stop()`` (or ``with``)."""

    def __init__(
        self,
        respond: Respond,
        *,
        tls: ssl.SSLContext | None = None,
        protocol_version: str = "HTTP/1.0",
    ) -> None:
        self.received: list[Received] = []
        self._respond = respond
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _handler_class(self, protocol_version))
        # Bound to 127.0.0.1 above; the port is the kernel's choice.
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            # A short poll interval: stop() returns within it.
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="loopback-server",
            daemon=True,
        )

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases every HANG
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = Received(handler.command, handler.path, dict(handler.headers.items()), body)
        self.received.append(request)
        reply = self._respond(request)
        if reply is Drop.RESET:
            # Linger on, timeout 0: closing the socket sends RST instead of FIN.
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            handler.close_connection = True
            return
        if reply is Drop.HANG:
            self._stopping.wait()
            handler.close_connection = True
            return
        assert isinstance(reply, Reply)
        try:
            handler.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a read-timeout test)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


def _handler_class(server: LoopbackServer, protocol: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = protocol

        def _serve(self) -> None:
            server._answer(self)

        def log_message(self, format: str, *args: Any) -> None:
            return

    for method in _METHODS:
        setattr(Handler, f"do_{method}", Handler._serve)
    return Handler
