"""Provider simulator: one local HTTP server speaking the GitHub, GitLab and Bitbucket Cloud
REST subsets the repository-connection service uses, plus a control API for tests and demos.

URL layout (one port, by path prefix):
    {base}/github            GitHub REST API        (stands in for https://api.github.com)
    {base}/gitlab/api/v4     GitLab REST API v4     (stands in for https://gitlab.com/api/v4)
    {base}/bitbucket/2.0     Bitbucket Cloud 2.0    (stands in for https://api.bitbucket.org/2.0)
    {base}/_sim/...          control API (below)

Token conventions (the same on all three providers):
    bad-...       invalid: 401 (no token at all is 401 too)
    ro-...        may read the repository but not manage hooks: GitHub permissions.admin false
                  and 404 on hook calls; GitLab Reporter (20) and 403; Bitbucket 403 naming
                  the missing `webhook` scope
    down-...      503 on every call (an HTML page, as from a load balancer)
    limited-...   rate limited: GitHub 403 with X-RateLimit-Remaining 0 and X-RateLimit-Reset;
                  GitLab 429 with Retry-After; Bitbucket 429 (no Retry-After)
    slow-...      full rights, but every answer waits `slow_seconds` (client timeouts)
    anything else full rights (GitHub admin, GitLab Maintainer 40 with the `api` scope,
                  Bitbucket `account, pullrequest, repository, webhook` scopes)
Provider-specific token conventions (full rights on the other two providers), issue 17:
    nopr-...      Bitbucket: scopes `account, repository, webhook` (X-OAuth-Scopes on every
                  answer, as for every Bitbucket token): may list hooks, but creating or
                  updating one subscribed to pullrequest:* events is 403 "Your credentials
                  lack one or more required privilege scopes." with `required: [pullrequest]`
    readapi-...   GitLab: a Maintainer's `read_api` token: every GET works (hooks included),
                  any other method is 403 {"error": "insufficient_scope", "scope": "api"};
                  GET /personal_access_tokens/self lists `scopes: ["read_api"]` (["api"] for
                  full tokens)
    oauth-...     GitLab: full rights, but GET /personal_access_tokens/self answers 401 (a
                  token kind it does not describe)
    ghs_nohooks.. GitHub App installation token without the "Webhooks" permission: hook
                  calls are 403 "Resource not accessible by integration" with
                  X-Accepted-GitHub-Permissions: repository_hooks=read|write
    ghs_...       GitHub App installation token with "Webhooks: write": the repository's
                  `permissions.admin` is false and no X-OAuth-Scopes is sent, yet every hook
                  call works; GET /user is 403
GitLab project hooks store every *_events flag its API takes (milestone, emoji, resource
access/deploy token, vulnerability, feature flag, ... included); `events` lists the true ones.
Repositories: a path whose last segment is `missing` does not exist (404); every other
repository exists, created on first sight (any depth of GitLab groups). Names are matched
case-insensitively, as the providers do.

Control API (control.py):
    GET    /_sim/hooks[?provider=github]   {"hooks": [{provider, repository, id, url, events,
                                            secret, active}]}; deleted hooks are gone; `id` is
                                            a string as the provider gives it ("490000001",
                                            "7", "{uuid}"), `repository` the path as first
                                            addressed, GitLab `events` the true *_events flags;
                                            GitLab hooks also list `signingToken` (the whsec_
                                            Standard Webhooks token, or null) - `secret` is
                                            the X-Gitlab-Token value
    GET|PUT /_sim/features                 {"gitlabSigningTokens": bool, "gitlabTokenSelf":
                                            bool} (PUT any of them): whether GitLab hooks take
                                            signing tokens, whether GitLab has GET
                                            /personal_access_tokens/self (off: the route's 404,
                                            as before 15.5); default true, reset restores
    POST   /_sim/renames                   {"provider": "github", "from", "to"}: rename or
                                            transfer a repository (id and hooks kept); its old
                                            path then answers 301 to a GET and 307 to any other
                                            method, Location /repositories/{id}/... as GitHub;
                                            answers {"provider", "from", "to", "id"}
    GET    /_sim/requests                  {"requests": [{method, provider, path, status,
                                            at}]}; credentials in query strings are cut out
    DELETE /_sim/requests                  clear the request log
    POST   /_sim/reset                     forget all repositories, hooks and requests
    GET    /_sim/health                    {"status": "ok"}
    POST   /_sim/hooks/{provider}/{hookId}/deactivate | activate | delete
                                           provider-side changes (GitLab: alert_status
                                           "disabled" / "executable")
    POST   /_sim/hooks/{provider}/{hookId}/deliver  {"event", "payload", "deliveryId"?,
                                           "force"?}: POSTs the payload to the hook URL with
                                           the provider's headers and signature; answers
                                           {"status", "body", "deliveryId", "attempt"}. An
                                           inactive hook answers 409 unless "force" is true;
                                           an unreachable receiver answers 502. `event` is
                                           sent as given (X-GitHub-Event "push", X-Gitlab-Event
                                           "Push Hook", X-Event-Key "repo:push"); the short
                                           names push / pull_request / merge_request are
                                           mapped to each provider's own.

    GET    /_sim/hooks/{provider}/{hookId}/deliveries  {"deliveries": [{id, guid, event, status,
                                           redelivery, deliveredAt}]}: every attempt to deliver
                                           to the hook, oldest first (status null: no answer);
                                           the same log GitHub's deliveries and GitLab's hook
                                           events endpoints serve (delivery_logs.py)

    POST   /_sim/on-hook-update            {"provider": "github", "event", "payload"}: deliver
                                           this during the provider's next hook update, signed
                                           with the new secret, before the update is answered
                                           (GitHub's own `ping` of a hook it creates is sent
                                           the same way, before the create is answered)

Not simulated: GitLab's refusal of hook URLs on the local network (local runs register
http://localhost URLs), automatic retries.

Run standalone: `python -m repoconn_local.simulator.server --port 3001` (requests are logged to
stderr without credentials).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from repoconn_local.simulator.bitbucket import BitbucketApi
from repoconn_local.simulator.control import CONTROL_PREFIX, ControlApi, control_hook
from repoconn_local.simulator.core import (
    SECRET_QUERY_PARAMS,
    ProviderApi,
    SimRequest,
    SimResponse,
    iso_millis,
    json_response,
)
from repoconn_local.simulator.github import GitHubApi
from repoconn_local.simulator.gitlab import GitLabApi
from repoconn_local.simulator.state import SimState, utc_now

__all__ = ["ProviderSimulator", "main"]

logger = logging.getLogger("repoconn_local.simulator.server")

DEFAULT_SLOW_SECONDS = 5.0


class _SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: SimState, slow_seconds: float) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self.apis: list[ProviderApi] = [
            GitHubApi(state, slow_seconds),
            GitLabApi(state, slow_seconds),
            BitbucketApi(state, slow_seconds),
        ]
        self.control = ControlApi(state, {api.name: api for api in self.apis})

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its read timeout against a slow- token) is not an error.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _SimulatorServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs; every answer has a length
    server_version = "repoconn-provider-simulator"
    sys_version = ""
    # Headers and body go out in separate writes; with Nagle on, keep-alive clients wait for
    # the delayed ACK (~40 ms per request on loopback).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        # The default line holds the raw request target, which may carry ?private_token=...;
        # _dispatch logs a sanitised line instead.
        return

    def _dispatch(self) -> None:
        started = time.monotonic()
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        headers = {name.lower(): value for name, value in self.headers.items()}
        req = SimRequest(self.command, parts.path, query, headers, body, f"http://{host}")

        provider = "control"
        if parts.path == CONTROL_PREFIX or parts.path.startswith(CONTROL_PREFIX + "/"):
            req.prefix = CONTROL_PREFIX
            req.raw_path = parts.path[len(CONTROL_PREFIX) :]
            response = _safely(self.server.control.handle, req)
        else:
            api = next((a for a in self.server.apis if _under(parts.path, a.prefix)), None)
            if api is None:
                provider = "unknown"
                response = json_response(
                    404,
                    {
                        "error": "no provider at this path",
                        "providers": [a.prefix for a in self.server.apis],
                        "control": CONTROL_PREFIX,
                    },
                )
            else:
                provider = api.name
                req.prefix = api.prefix
                req.raw_path = parts.path[len(api.prefix) :] or "/"
                response = _safely(api.handle, req)

        # Recorded and logged before the answer is written: a client that has its answer finds
        # the call in /_sim/requests and in the log (no race with a test that stops right after).
        safe_path = _loggable(parts.path, query)
        if provider != "control":
            with self.server.state.lock:
                self.server.state.record_request(
                    {
                        "method": self.command,
                        "provider": provider,
                        "path": safe_path,
                        "status": response.status,
                        "at": iso_millis(utc_now()),
                    }
                )
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.info(
            "%s %s %s -> %d (%.0f ms)",
            provider,
            self.command,
            safe_path,
            response.status,
            elapsed_ms,
        )
        self._write(response)

    def _write(self, response: SimResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body:
            self.wfile.write(response.body)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _loggable(path: str, query: dict[str, list[str]]) -> str:
    kept = {k: v for k, v in query.items() if k.lower() not in SECRET_QUERY_PARAMS}
    return f"{path}?{urlencode(kept, doseq=True)}" if kept else path


def _safely(handler: Any, req: SimRequest) -> SimResponse:
    try:
        response: SimResponse = handler(req)
    except Exception:  # a simulator bug must surface as a 500, not a dropped connection
        logger.exception("simulator error on %s %s", req.method, req.prefix + req.raw_path)
        return json_response(500, {"message": "simulator error"})
    return response


class ProviderSimulator:
    """The simulator as an object: start it on a free port, point clients at its URLs.

    >>> with ProviderSimulator() as sim:
    ...     client = GitHubClient(api_base_url=sim.github_api_url)
    """

    def __init__(self, *, slow_seconds: float = DEFAULT_SLOW_SECONDS) -> None:
        self.slow_seconds = slow_seconds
        self.state = SimState()
        self._server: _SimulatorServer | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._server = _SimulatorServer((host, port), self.state, self.slow_seconds)
        bound_host, bound_port = self._server.server_address[:2]
        url_host = "127.0.0.1" if bound_host in ("0.0.0.0", "") else str(bound_host)  # noqa: S104
        if ":" in url_host:
            url_host = f"[{url_host}]"
        self._base_url = f"http://{url_host}:{bound_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="provider-simulator", daemon=True
        )
        self._thread.start()
        return self._base_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        self._base_url = None

    def serve_forever(self, host: str = "127.0.0.1", port: int = 3001) -> None:
        """Run in the calling thread until interrupted (the CLI)."""
        self.start(host, port)
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("simulator not started")
        return self._base_url

    @property
    def github_api_url(self) -> str:
        return self.base_url + GitHubApi.prefix

    @property
    def gitlab_api_url(self) -> str:
        return self.base_url + GitLabApi.prefix

    @property
    def bitbucket_api_url(self) -> str:
        return self.base_url + BitbucketApi.prefix

    def hooks(self) -> list[dict[str, Any]]:
        """What GET /_sim/hooks answers, without the HTTP round trip."""
        with self.state.lock:
            return [control_hook(hook) for hook in self.state.all_hooks()]

    def reset(self) -> None:
        self.state.reset()

    def __enter__(self) -> ProviderSimulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m repoconn_local.simulator.server",
        description="Local GitHub / GitLab / Bitbucket REST simulator for repoconn.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001)
    parser.add_argument("--slow-seconds", type=float, default=DEFAULT_SLOW_SECONDS)
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s simulator %(message)s",
        stream=sys.stderr,
    )
    simulator = ProviderSimulator(slow_seconds=args.slow_seconds)
    base = f"http://{args.host}:{args.port}"
    print(
        f"provider simulator on {base}: GitHub {base}/github, GitLab {base}/gitlab/api/v4, "
        f"Bitbucket {base}/bitbucket/2.0, control {base}/_sim",
        file=sys.stderr,
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        simulator.serve_forever(args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
