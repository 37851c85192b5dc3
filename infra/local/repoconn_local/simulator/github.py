"""GitHub REST API subset (api.github.com), served under `{base}/github`.

Follows https://docs.github.com/en/rest/repos/repos#get-a-repository and
https://docs.github.com/en/rest/repos/webhooks. Quirks reproduced on purpose:
- Hook endpoints answer 404, not 403, when the token lacks admin rights on the repository
  (GitHub hides resources instead of confirming they exist).
- The primary rate limit answers 403 with `X-RateLimit-Remaining: 0` and an epoch
  `X-RateLimit-Reset`; there is no Retry-After on it.
- A hook's secret reads back as "********"; PATCH with `config` replaces the whole config,
  so a secret that is not sent again is removed.
- At most 20 hooks per event per repository; a hook with the same URL and an overlapping
  event is "Hook already exists on this repository" (422).
- `Link` pages point at /repositories/{id}/hooks, as GitHub's do; follow them verbatim.
- Creating an active hook sends it a `ping`, signed with its secret, before the 201 is
  answered (https://docs.github.com/en/webhooks/testing-and-troubleshooting-webhooks/
  testing-webhooks): the receiver sees it before the caller could store anything. Deliveries
  queued with `POST /_sim/on-hook-update` are sent during the next hook update, with the new
  secret, before its answer: a rotation's window.
- Each hook's deliveries (`GET .../hooks/{id}/deliveries`, newest first, cursor-paged by a
  `Link` header) and redelivery (`POST .../deliveries/{delivery_id}/attempts`: 202, the same
  body and X-GitHub-Delivery again, listed with `redelivery: true`). GitHub queues the attempt;
  the simulator sends it before answering, so a test needs no waiting.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import urlencode

from repoconn_local.simulator import deliveries, delivery_logs
from repoconn_local.simulator.core import (
    SECRET_QUERY_PARAMS,
    ProviderApi,
    SimRequest,
    SimResponse,
    TokenKind,
    iso_seconds,
    json_response,
    link_header,
    page_url,
    paginate,
    valid_hook_url,
)
from repoconn_local.simulator.github_shapes import repo_json, user_json
from repoconn_local.simulator.state import Repository, StoredHook, utc_now

DOCS = "https://docs.github.com/rest"
DOC_REPO = f"{DOCS}/repos/repos#get-a-repository"
DOC_HOOKS = f"{DOCS}/repos/webhooks"
DOC_RATE = f"{DOCS}/overview/rate-limits-for-the-rest-api"
DOC_REDIRECTS = f"{DOCS}/using-the-rest-api/best-practices-for-using-the-rest-api"
INTEGRATION_REFUSED = "Resource not accessible by integration"
DOC_DELIVERIES = f"{DOCS}/repos/webhooks#list-deliveries-for-a-repository-webhook"

RATE_LIMIT_AUTHENTICATED = 5000
RATE_LIMIT_ANONYMOUS = 60
MAX_HOOKS_PER_EVENT = 20
SCOPES_FULL = "admin:repo_hook, repo"
SCOPES_READ_ONLY = "public_repo"
ACCEPTED_SCOPES_REPO = "repo"
ACCEPTED_SCOPES_HOOKS = "admin:repo_hook, read:repo_hook, repo, write:repo_hook"
USER_AGENT = "GitHub-Hookshot/7e6f1a2"
EVENT_ALIASES = {"merge_request": "pull_request"}
MASKED_SECRET = "********"  # noqa: S105 - how GitHub shows a hook's secret


def _error(
    status: int,
    message: str,
    doc: str = DOCS,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> SimResponse:
    # GitHub's error bodies carry the status as a string since 2023.
    return json_response(
        status,
        {"message": message, "documentation_url": doc, "status": str(status), **extra},
        headers,
    )


def _not_found(doc: str = DOCS) -> SimResponse:
    return _error(404, "Not Found", doc)


def _validation_failed(message: str, field: str | None = None) -> SimResponse:
    error: dict[str, Any] = {"resource": "Hook", "code": "custom", "message": message}
    if field:
        error["field"] = field
    return _error(422, "Validation Failed", DOC_HOOKS, errors=[error])


class GitHubApi(ProviderApi):
    name = "github"
    display_name = "GitHub"
    prefix = "/github"
    user_agent = USER_AGENT

    # Credentials and shared headers ----------------------------------------------------------

    def extract_token(self, req: SimRequest) -> str | None:
        auth = req.authorization()
        if auth is None:
            return None
        scheme, value = auth
        if scheme in ("bearer", "token"):
            return value
        return ""  # another scheme is a credential GitHub will not accept

    def unauthorized(self, req: SimRequest) -> SimResponse:
        return _error(401, "Bad credentials")

    def malformed_body(self, req: SimRequest) -> SimResponse:
        return _error(400, "Problems parsing JSON", DOC_HOOKS)

    def rate_limited(self, req: SimRequest) -> SimResponse:
        return _error(
            403,
            "API rate limit exceeded for user ID 4242. If you reach out to GitHub Support for "
            "help, please include the request ID.",
            DOC_RATE,
        )

    def common_headers(self, req: SimRequest, kind: TokenKind, fingerprint: str) -> dict[str, str]:
        used, reset = self.state.count_call(self.name, fingerprint)
        limit = RATE_LIMIT_AUTHENTICATED if kind.authenticated else RATE_LIMIT_ANONYMOUS
        if kind is TokenKind.LIMITED:
            used = limit
            reset = int(utc_now().timestamp()) + 60
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(limit - used, 0)),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Used": str(min(used, limit)),
            "X-RateLimit-Resource": "core",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
            "X-GitHub-Media-Type": "github.v3; format=json",
        }
        if kind.authenticated and not kind.installation:
            # Classic tokens only; installation (and fine-grained) tokens send no scopes.
            headers["X-OAuth-Scopes"] = SCOPES_FULL if kind.may_admin else SCOPES_READ_ONLY
            segments = req.segments()
            hooks_call = "hooks" in segments[2:4] if segments else False
            headers["X-Accepted-OAuth-Scopes"] = (
                ACCEPTED_SCOPES_HOOKS if hooks_call else ACCEPTED_SCOPES_REPO
            )
        return headers

    # Routing ---------------------------------------------------------------------------------

    def route(self, req: SimRequest, kind: TokenKind) -> SimResponse:
        segments = req.segments()
        if segments == ["user"] and req.method == "GET":
            if kind.installation:
                return _error(403, INTEGRATION_REFUSED, f"{DOCS}/users/users")
            return json_response(200, user_json(req, kind))
        repo: Repository | None
        if len(segments) >= 3 and segments[0] == "repos":
            moved = self.state.renamed(self.name, f"{segments[1]}/{segments[2]}")
            if moved is not None:
                return self._moved(req, moved)
            repo, rest = (
                self.state.repository(self.name, f"{segments[1]}/{segments[2]}"),
                segments[3:],
            )
        elif len(segments) >= 2 and segments[0] == "repositories" and segments[1].isdigit():
            repo, rest = self.state.repository_by_number(self.name, int(segments[1])), segments[2:]
        else:
            return _not_found()
        if repo is None:
            return _not_found(DOC_REPO)
        if not rest:
            if req.method != "GET":
                return _not_found()
            return json_response(200, repo_json(req, repo, kind))
        if rest[0] != "hooks" or len(rest) > 5:
            return _not_found()
        if kind is TokenKind.INSTALLATION_NO_HOOKS:
            # An app without the "Webhooks" repository permission: 403, naming what it lacks.
            # https://docs.github.com/rest/authentication/permissions-required-for-github-apps
            wanted = "read" if req.method == "GET" else "write"
            return _error(
                403,
                INTEGRATION_REFUSED,
                DOC_HOOKS,
                headers={"X-Accepted-GitHub-Permissions": f"repository_hooks={wanted}"},
            )
        if not kind.may_admin:
            # GitHub answers 404 to hook calls without admin rights rather than admitting the
            # hooks exist (docs: "Resource not found" is the only documented failure).
            return _not_found(DOC_HOOKS)
        if len(rest) == 1:
            if req.method == "GET":
                return self._list_hooks(req, repo)
            if req.method == "POST":
                return self._create_hook(req, repo)
            return _not_found()
        hook = self.state.repo_hook(repo, rest[1]) if rest[1].isdigit() else None
        if hook is None:
            return _not_found(DOC_HOOKS)
        if len(rest) > 2:
            return delivery_logs.github_deliveries(self, req, hook, rest[2:])
        if req.method == "GET":
            return json_response(200, self._hook_json(req, hook))
        if req.method == "PATCH":
            return self._update_hook(req, hook)
        if req.method == "DELETE":
            self.state.remove_hook(self.name, hook.id)
            return SimResponse(204)
        return _not_found()

    # Endpoints -------------------------------------------------------------------------------

    def _moved(self, req: SimRequest, repo: Repository) -> SimResponse:
        """A renamed or transferred repository's old path: 301 for a GET, 307 for any other
        method, to the same call below ``/repositories/{id}``; the client repeats the request
        there (https://docs.github.com/rest/using-the-rest-api/best-practices-for-using-the-rest-api,
        "Follow any redirects that the API sends you")."""
        rest = req.raw_path.strip("/").split("/")[3:]
        location = f"{req.api_base}/repositories/{repo.number}" + "".join(f"/{p}" for p in rest)
        kept = {k: v for k, v in req.query.items() if k not in SECRET_QUERY_PARAMS}
        if kept:
            location += "?" + urlencode(kept, doseq=True)
        status = 301 if req.method == "GET" else 307
        message = "Moved Permanently" if status == 301 else "Temporary Redirect"
        return json_response(
            status,
            {"message": message, "url": location, "documentation_url": DOC_REDIRECTS},
            {"Location": location},
        )

    def _list_hooks(self, req: SimRequest, repo: Repository) -> SimResponse:
        hooks = self.state.hooks_for(repo)
        page = paginate(
            hooks, req.query_value("page"), req.query_value("per_page"), default=30, maximum=100
        )
        body = [self._hook_json(req, hook) for hook in page.items]
        links: dict[str, str] = {}
        # GitHub's Link URLs address the repository by id, not by owner/name.
        paged = SimRequest(
            req.method,
            f"/repositories/{repo.number}/hooks",
            req.query,
            req.headers,
            b"",
            req.origin,
            req.prefix,
        )
        if page.has_prev:
            links["prev"] = page_url(paged, per_page=page.per_page, page=page.page - 1)
        if page.has_next:
            links["next"] = page_url(paged, per_page=page.per_page, page=page.page + 1)
            links["last"] = page_url(paged, per_page=page.per_page, page=page.total_pages)
        if page.has_prev:
            links["first"] = page_url(paged, per_page=page.per_page, page=1)
        headers = {"Link": link_header(links)} if links else {}
        return json_response(200, body, headers)

    def _create_hook(self, req: SimRequest, repo: Repository) -> SimResponse:
        body = req.json_object()
        name = body.get("name", "web")
        if name != "web":
            return _validation_failed('Name must be "web" for repository webhooks', "name")
        config, problem = self._parse_config(body.get("config"))
        if problem is not None:
            return problem
        events = body.get("events", ["push"])
        if not _is_str_list(events) or not events:
            return _error(
                422,
                "Invalid request.\n\nFor 'events', must be a non-empty array of strings.",
                DOC_HOOKS,
            )
        active = body.get("active", True)
        if not isinstance(active, bool):
            return _error(422, "Invalid request.\n\nFor 'active', must be a boolean.", DOC_HOOKS)
        problem = self._check_limits(repo, config["url"], events, exclude=None)
        if problem is not None:
            return problem
        secret = config.pop("secret", None)
        hook = self.state.add_hook(
            repo,
            url=config.pop("url"),
            events=events,
            secret=secret,
            active=active,
            settings=config,
        )
        response = json_response(
            201, self._hook_json(req, hook), {"Location": self._hook_url(req, hook)}
        )
        if hook.active:
            ping = {
                "zen": "Design for failure.",
                "hook_id": int(hook.id),
                "hook": self._hook_json(req, hook),
                "repository": {
                    "id": hook.repo.number,
                    "name": hook.repo.name,
                    "full_name": hook.repo.full_path,
                },
            }
            return self._answer_after(response, hook, [("ping", ping)])
        return response

    def _answer_after(
        self, response: SimResponse, hook: StoredHook, sends: list[tuple[str, Any]]
    ) -> SimResponse:
        """``response``, answered only once ``sends`` were delivered to the hook as it is now
        (after the state lock is released: the receiver may call back)."""
        if not sends:
            return response
        snapshot = hook.snapshot()

        def deliver_then_answer() -> SimResponse:
            for event, payload in sends:
                body, content_type = self.delivery_body(
                    snapshot, json.dumps(payload, separators=(",", ":"))
                )
                deliveries.send(
                    self,
                    snapshot,
                    event=event,
                    body=body,
                    content_type=content_type,
                    guid=str(uuid.uuid4()),
                )
            return response

        response.then = deliver_then_answer
        return response

    def _update_hook(self, req: SimRequest, hook: StoredHook) -> SimResponse:
        body = req.json_object()
        events = list(hook.events)
        if "events" in body:
            if not _is_str_list(body["events"]):
                return _error(
                    422, "Invalid request.\n\nFor 'events', must be an array of strings.", DOC_HOOKS
                )
            events = list(body["events"])
        for key, adding in (("add_events", True), ("remove_events", False)):
            if key in body:
                if not _is_str_list(body[key]):
                    return _error(
                        422, f"Invalid request.\n\nFor '{key}', must be an array.", DOC_HOOKS
                    )
                for event in body[key]:
                    if adding and event not in events:
                        events.append(event)
                    if not adding and event in events:
                        events.remove(event)
        active = body.get("active", hook.active)
        if not isinstance(active, bool):
            return _error(422, "Invalid request.\n\nFor 'active', must be a boolean.", DOC_HOOKS)
        url, secret, settings = hook.url, hook.secret, dict(hook.settings)
        if "config" in body:
            # "If you previously had a secret set, you must provide the same secret or set a
            # new secret or the secret will be removed." The config is replaced as a whole.
            config, problem = self._parse_config(body["config"])
            if problem is not None:
                return problem
            url, secret = config.pop("url"), config.pop("secret", None)
            settings = {**settings, **config}
        problem = self._check_limits(hook.repo, url, events, exclude=hook)
        if problem is not None:
            return problem
        hook.url, hook.secret, hook.events, hook.active = url, secret, events, active
        hook.settings = settings
        hook.updated_at = utc_now()
        response = json_response(200, self._hook_json(req, hook))
        return self._answer_after(response, hook, self.state.take_update_deliveries(self.name))

    def _parse_config(self, raw: Any) -> tuple[dict[str, Any], SimResponse | None]:
        if not isinstance(raw, dict) or not isinstance(raw.get("url"), str) or not raw["url"]:
            return {}, _validation_failed("Config must contain a url for webhooks", "config")
        if not valid_hook_url(raw["url"]):
            return {}, _validation_failed("Config url is not a valid URL", "config")
        content_type = raw.get("content_type", "form")
        if content_type not in ("json", "form"):
            return {}, _validation_failed("Config content_type must be json or form", "config")
        insecure_ssl = str(raw.get("insecure_ssl", "0"))
        if insecure_ssl not in ("0", "1"):
            return {}, _validation_failed("Config insecure_ssl must be 0 or 1", "config")
        config: dict[str, Any] = {
            "url": raw["url"],
            "content_type": content_type,
            "insecure_ssl": insecure_ssl,
        }
        secret = raw.get("secret")
        if isinstance(secret, str) and secret:
            config["secret"] = secret
        return config, None

    def _check_limits(
        self, repo: Repository, url: str, events: list[str], exclude: StoredHook | None
    ) -> SimResponse | None:
        others = [h for h in self.state.hooks_for(repo) if h is not exclude]
        for other in others:
            overlap = "*" in events or "*" in other.events or set(events) & set(other.events)
            if other.url == url and overlap:
                return _validation_failed("Hook already exists on this repository")
        for event in events:
            if sum(1 for other in others if event in other.events) >= MAX_HOOKS_PER_EVENT:
                return _validation_failed(
                    f'The "{event}" event cannot have more than {MAX_HOOKS_PER_EVENT} hooks'
                )
        return None

    # Shapes ----------------------------------------------------------------------------------

    def _hook_url(self, req: SimRequest, hook: StoredHook) -> str:
        return f"{req.api_base}/repos/{hook.repo.full_path}/hooks/{hook.id}"

    def _hook_json(self, req: SimRequest, hook: StoredHook) -> dict[str, Any]:
        url = self._hook_url(req, hook)
        config: dict[str, Any] = {
            "content_type": hook.settings.get("content_type", "form"),
            "insecure_ssl": hook.settings.get("insecure_ssl", "0"),
            "url": hook.url,
        }
        if hook.secret:
            config["secret"] = MASKED_SECRET
        return {
            "type": "Repository",
            "id": int(hook.id),
            "name": "web",
            "active": hook.active,
            "events": list(hook.events),
            "config": config,
            "updated_at": iso_seconds(hook.updated_at),
            "created_at": iso_seconds(hook.created_at),
            "url": url,
            "test_url": f"{url}/test",
            "ping_url": f"{url}/pings",
            "deliveries_url": f"{url}/deliveries",
            "last_response": hook.settings.get(
                "last_response", {"code": None, "status": "unused", "message": None}
            ),
        }

    # Deliveries ------------------------------------------------------------------------------

    def control_id(self, hook_id: str) -> str | None:
        return hook_id if hook_id.isdigit() else None

    def verifies_tls(self, hook: StoredHook) -> bool:
        return hook.settings.get("insecure_ssl", "0") == "0"

    def record_delivery(self, hook: StoredHook, status: int | None) -> None:
        if status is not None and 200 <= status < 300:
            last = {"code": status, "status": "active", "message": "OK"}
        else:
            message = f"Invalid HTTP Response: {status}" if status else "failed to connect to host"
            last = {"code": status, "status": "failed", "message": message}
        hook.settings["last_response"] = last

    def delivery_body(self, hook: StoredHook, payload_json: str) -> tuple[bytes, str]:
        # https://docs.github.com/en/webhooks/webhook-events-and-payloads#delivery-headers
        if hook.settings.get("content_type", "form") == "form":
            return urlencode(
                {"payload": payload_json}
            ).encode(), "application/x-www-form-urlencoded"
        return payload_json.encode(), "application/json"

    def delivery_headers(
        self, hook: StoredHook, event: str, delivery_id: str, attempt: int
    ) -> dict[str, str]:
        return {
            "X-GitHub-Event": EVENT_ALIASES.get(event, event),
            "X-GitHub-Delivery": delivery_id,
            "X-GitHub-Hook-ID": hook.id,
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": str(hook.repo.number),
        }

    def secret_headers(self, secret: str, body: bytes) -> dict[str, str]:
        # Signatures are sent only when the hook has a secret; the legacy SHA-1 header too.
        key = secret.encode()
        return {
            "X-Hub-Signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
            "X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
        }


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
