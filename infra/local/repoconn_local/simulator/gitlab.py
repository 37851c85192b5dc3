"""GitLab REST API v4 subset (gitlab.com/api/v4), served under `{base}/gitlab/api/v4`.

Follows https://docs.gitlab.com/api/projects/ and https://docs.gitlab.com/api/project_webhooks/.
Quirks reproduced on purpose:
- A project is addressed by numeric id or by its URL-encoded full path (`group%2Fsub%2Frepo`);
  an unencoded path does not match any route (404 {"error": "404 Not Found"}).
- Project lookup comes before the role check, so a missing project is 404 even for tokens
  that could not manage hooks; below Maintainer (40) hook calls are 403.
- Hooks have no `active` flag; a hook GitLab disabled after failures shows
  `alert_status: "disabled"` and stays so through PUT.
- The secret (`token`) is never returned, and a PUT that changes `url` without sending
  `token` again clears it (WebHook#reset_token, a security fix).
- Signing tokens (GitLab MRs 230944 and 231325): `signing_token` on create and update must be
  `whsec_` + base64 of a 32-byte key (400 otherwise); it is never returned, the answer says
  `signing_token_present` (and `token_present`); a hook with one signs each delivery per
  Standard Webhooks (`webhook-id` = Idempotency-Key, `webhook-timestamp`, `webhook-signature:
  v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the decoded bytes), besides
  `X-Gitlab-Token`. With the feature off (`SimState.gitlab_signing_tokens`, `/_sim/features`)
  the parameter is ignored, as by an instance without it.
- Rate limiting (Rack::Attack) answers 429 with the text "Retry later" and Retry-After.
- Hook events (17.4+): `GET .../hooks/:hook_id/events` lists every logged request, newest
  first, offset-paged, filtered by `status` (a code, `successful`, `client_failure`,
  `server_failure`); `POST .../events/:id/resend` sends the same body with the same
  Idempotency-Key (201; 422 through a disabled hook); `POST .../test/push_events` sends a sample
  push even through a disabled hook and re-enables it on a 2xx (201; 422 otherwise).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid
from email.utils import formatdate
from typing import Any

from repoconn_local.simulator import delivery_logs
from repoconn_local.simulator.core import (
    ProviderApi,
    SimRequest,
    SimResponse,
    TokenKind,
    iso_millis,
    json_response,
    known_hook_route,
    link_header,
    page_url,
    paginate,
    text_response,
    valid_hook_url,
)
from repoconn_local.simulator.gitlab_shapes import INSTANCE, project_json, token_self
from repoconn_local.simulator.state import Repository, StoredHook, utc_now

MAINTAINER = 40
REPORTER = 20
RATE_LIMIT = 2000  # gitlab.com: authenticated API traffic per user per minute
RETRY_AFTER_SECONDS = 60
WHSEC_PREFIX = "whsec_"
SIGNING_KEY_BYTES = 32

USER_AGENT = "GitLab/17.6.0-ee"

# Boolean event flags a project hook accepts; the simulator lists the true ones as `events`.
EVENT_FLAGS = (
    "push_events",
    "tag_push_events",
    "merge_requests_events",
    "repository_update_events",
    "issues_events",
    "confidential_issues_events",
    "note_events",
    "confidential_note_events",
    "pipeline_events",
    "wiki_page_events",
    "deployment_events",
    "feature_flag_events",
    "job_events",
    "releases_events",
    "milestone_events",
    "emoji_events",
    "resource_access_token_events",
    "resource_deploy_token_events",
    "vulnerability_events",
)
OTHER_PARAMS = ("name", "description", "push_events_branch_filter", "custom_webhook_template")
EVENT_HEADERS = {
    "push": "Push Hook",
    "tag_push": "Tag Push Hook",
    "merge_request": "Merge Request Hook",
    "pull_request": "Merge Request Hook",
    "issue": "Issue Hook",
    "note": "Note Hook",
    "pipeline": "Pipeline Hook",
    "job": "Job Hook",
    "release": "Release Hook",
}


def _message(status: int, message: Any) -> SimResponse:
    return json_response(status, {"message": message})


def _error(status: int, error: str) -> SimResponse:
    # Grape's parameter errors and unmatched routes use `error`, not `message`.
    return json_response(status, {"error": error})


def signing_key(signing_token: str) -> bytes | None:
    """The key a valid signing token stands for (`whsec_` + base64 of 32 bytes), else None."""
    if not signing_token.startswith(WHSEC_PREFIX):
        return None
    try:
        key = base64.b64decode(signing_token[len(WHSEC_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == SIGNING_KEY_BYTES else None


def standard_webhooks_headers(
    signing_token: str, message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The Standard Webhooks headers of one delivery (https://www.standardwebhooks.com/)."""
    key = signing_key(signing_token)
    if key is None:  # never stored; a hook holds only validated tokens
        raise ValueError("not a signing token")
    content = f"{message_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{signature}",
    }


def _bool_param(value: Any) -> bool | None:
    """Grape's Boolean coercion: JSON booleans, or true/false/1/0 as strings in forms."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "false", "0"):
        return value.lower() in ("true", "1")
    return None


class GitLabApi(ProviderApi):
    name = "gitlab"
    display_name = "GitLab"
    prefix = "/gitlab/api/v4"
    user_agent = USER_AGENT

    def extract_token(self, req: SimRequest) -> str | None:
        private = req.header("private-token")
        if private is not None:
            return private.strip()
        auth = req.authorization()
        if auth is not None:
            scheme, value = auth
            return value if scheme == "bearer" else ""
        for name in ("private_token", "access_token"):
            from_query = req.query_value(name)
            if from_query is not None:
                return from_query
        return None

    def unauthorized(self, req: SimRequest) -> SimResponse:
        return _message(401, "401 Unauthorized")

    def malformed_body(self, req: SimRequest) -> SimResponse:
        return _error(400, "The provided content-type is not supported or the body is invalid")

    def rate_limited(self, req: SimRequest) -> SimResponse:
        return text_response(
            429, "Retry later\n", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )

    def common_headers(self, req: SimRequest, kind: TokenKind, fingerprint: str) -> dict[str, str]:
        if not kind.authenticated:
            return {}
        used, _ = self.state.count_call(self.name, fingerprint)
        now = int(utc_now().timestamp())
        reset = now - now % 60 + 60  # a one-minute window
        if kind is TokenKind.LIMITED:
            used = RATE_LIMIT + 1
        return {
            "RateLimit-Limit": str(RATE_LIMIT),
            "RateLimit-Observed": str(used),
            "RateLimit-Remaining": str(max(RATE_LIMIT - used, 0)),
            "RateLimit-Reset": str(reset),
            "RateLimit-ResetTime": formatdate(reset, usegmt=True),
        }

    # Routing ---------------------------------------------------------------------------------

    def route(self, req: SimRequest, kind: TokenKind) -> SimResponse:
        segments = req.segments()
        if kind is TokenKind.READ_API and req.method != "GET":
            # The scope is checked when the token is authenticated, before any route.
            return json_response(
                403,
                {
                    "error": "insufficient_scope",
                    "error_description": "The request requires higher privileges than "
                    "provided by the access token.",
                    "scope": "api",
                },
            )
        if segments == ["user"] and req.method == "GET":
            return json_response(200, self._user_json(kind))
        if segments == ["personal_access_tokens", "self"] and req.method == "GET":
            return token_self(self.state, kind, int(self._user_json(kind)["id"]))
        if len(segments) < 2 or segments[0] != "projects":
            return _error(404, "404 Not Found")
        rest = segments[2:]
        if not self._known_route(req.method, rest):
            return _error(404, "404 Not Found")
        project = self._project(segments[1])
        if project is None:
            return _message(404, "404 Project Not Found")
        access = MAINTAINER if kind.may_admin else REPORTER
        if not rest:
            return json_response(200, project_json(project, access))
        if rest[0] == "members":
            return self._member(rest[2], kind, access)
        if access < MAINTAINER:
            # read_web_hook / admin_web_hook are Maintainer abilities.
            return _message(403, "403 Forbidden")
        if len(rest) == 1:
            if req.method == "GET":
                return self._list_hooks(req, project)
            return self._create_hook(req, project)
        if not rest[1].isdigit():
            return _error(400, "hook_id is invalid")
        hook = self.state.repo_hook(project, rest[1])
        if hook is None:
            return _message(404, "404 Not found")
        if len(rest) > 2:
            return delivery_logs.gitlab_hook_events(
                self, req, hook, rest[2:], event_flags=EVENT_FLAGS
            )
        if req.method == "GET":
            return json_response(200, self._hook_json(hook))
        if req.method == "PUT":
            return self._update_hook(req, hook)
        self.state.remove_hook(self.name, hook.id)
        return SimResponse(204)

    @staticmethod
    def _known_route(method: str, rest: list[str]) -> bool:
        if rest and rest[0] == "members":
            return method == "GET" and len(rest) == 3 and rest[1] == "all"
        if len(rest) > 2 and rest[0] == "hooks":
            tail = rest[2:]
            return (
                (tail == ["events"] and method == "GET")
                or (len(tail) == 3 and tail[::2] == ["events", "resend"] and method == "POST")
                or (len(tail) == 2 and tail[0] == "test" and method == "POST")
            )
        return known_hook_route(method, rest)

    def _project(self, ident: str) -> Repository | None:
        if ident.isdigit():
            return self.state.repository_by_number(self.name, int(ident))
        return self.state.repository(self.name, ident)

    # Endpoints -------------------------------------------------------------------------------

    def _member(self, user_id: str, kind: TokenKind, access: int) -> SimResponse:
        user = self._user_json(kind)
        if user_id != str(user["id"]):
            return _message(404, "404 Not found")
        member = {
            key: user[key] for key in ("id", "username", "name", "state", "avatar_url", "web_url")
        }
        member.update({"access_level": access, "expires_at": None, "membership_state": "active"})
        return json_response(200, member)

    def _list_hooks(self, req: SimRequest, project: Repository) -> SimResponse:
        hooks = self.state.hooks_for(project)
        page = paginate(
            hooks, req.query_value("page"), req.query_value("per_page"), default=20, maximum=100
        )
        body = [self._hook_json(hook) for hook in page.items]
        # https://docs.gitlab.com/api/rest/#pagination-link-header
        links: dict[str, str] = {}
        if page.has_prev:
            links["prev"] = page_url(req, page=page.page - 1, per_page=page.per_page)
        if page.has_next:
            links["next"] = page_url(req, page=page.page + 1, per_page=page.per_page)
        links["first"] = page_url(req, page=1, per_page=page.per_page)
        links["last"] = page_url(req, page=page.total_pages, per_page=page.per_page)
        headers = {
            "Link": link_header(links),
            "X-Page": str(page.page),
            "X-Per-Page": str(page.per_page),
            "X-Next-Page": str(page.page + 1) if page.has_next else "",
            "X-Prev-Page": str(page.page - 1) if page.has_prev else "",
            "X-Total": str(page.total),
            "X-Total-Pages": str(page.total_pages),
        }
        return json_response(200, body, headers)

    def _create_hook(self, req: SimRequest, project: Repository) -> SimResponse:
        params, problem = self._params(req)
        if problem is not None:
            return problem
        url = params.get("url")
        if not isinstance(url, str) or not url:
            return _error(400, "url is missing")
        if not valid_hook_url(url):
            return _message(422, "Invalid url given")
        flags = {flag: False for flag in EVENT_FLAGS}
        flags["push_events"] = True  # the model's default
        flags.update({key: params[key] for key in EVENT_FLAGS if key in params})
        settings: dict[str, Any] = {key: params.get(key) for key in OTHER_PARAMS}
        settings["enable_ssl_verification"] = params.get("enable_ssl_verification", True)
        settings["alert_status"] = "executable"
        signing_token = params.get("signing_token")
        if self.state.gitlab_signing_tokens and signing_token:
            settings["signing_token"] = signing_token
        token = params.get("token")
        hook = self.state.add_hook(
            project,
            url=url,
            events=[flag for flag in EVENT_FLAGS if flags[flag]],
            secret=token if isinstance(token, str) and token else None,
            settings=settings,
        )
        return json_response(201, self._hook_json(hook))

    def _update_hook(self, req: SimRequest, hook: StoredHook) -> SimResponse:
        params, problem = self._params(req)
        if problem is not None:
            return problem
        if not params:
            return _error(400, "No parameters provided")
        url = params.get("url", hook.url)
        if not isinstance(url, str) or not valid_hook_url(url):
            return _message(422, "Invalid url given")
        secret = hook.secret
        if "token" in params:
            secret = params["token"] or None
        elif url != hook.url:
            # WebHook#reset_token: a changed URL drops the secret unless it is sent again.
            secret = None
        events = [flag for flag in EVENT_FLAGS if params.get(flag, flag in hook.events) is True]
        for key in (*OTHER_PARAMS, "enable_ssl_verification"):
            if key in params:
                hook.settings[key] = params[key]
        if self.state.gitlab_signing_tokens and "signing_token" in params:
            hook.settings["signing_token"] = params["signing_token"] or None
        hook.url, hook.secret, hook.events = url, secret, events
        hook.updated_at = utc_now()
        return json_response(200, self._hook_json(hook))

    def _params(self, req: SimRequest) -> tuple[dict[str, Any], SimResponse | None]:
        params: dict[str, Any] = {}
        for key, value in req.form_or_json().items():
            if key in EVENT_FLAGS or key == "enable_ssl_verification":
                coerced = _bool_param(value)
                if coerced is None:
                    return {}, _error(400, f"{key} is invalid")
                params[key] = coerced
            elif key in ("url", "token", *OTHER_PARAMS):
                if value is not None and not isinstance(value, str):
                    return {}, _error(400, f"{key} is invalid")
                params[key] = value
            elif key == "signing_token" and self.state.gitlab_signing_tokens:
                # Empty clears it; anything else must be whsec_ + base64 of 32 bytes.
                if value not in (None, "") and (
                    not isinstance(value, str) or signing_key(value) is None
                ):
                    return {}, _error(400, "signing_token is invalid")
                params[key] = value
            # GitLab ignores undeclared parameters (signing_token where the feature is off).
        return params, None

    # Shapes ----------------------------------------------------------------------------------

    @staticmethod
    def _user_json(kind: TokenKind) -> dict[str, Any]:
        username = "sim-maintainer" if kind.may_admin else "sim-reporter"
        return {
            "id": 4242 if kind.may_admin else 4243,
            "username": username,
            "name": "Simulated Maintainer" if kind.may_admin else "Simulated Reporter",
            "state": "active",
            "locked": False,
            "avatar_url": None,
            "web_url": f"{INSTANCE}/{username}",
        }

    def _hook_json(self, hook: StoredHook) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": int(hook.id),
            "url": hook.url,
            "name": hook.settings.get("name"),
            "description": hook.settings.get("description"),
            "project_id": hook.repo.number,
            "created_at": iso_millis(hook.created_at),
        }
        body.update({flag: flag in hook.events for flag in EVENT_FLAGS})
        body.update(
            {
                "push_events_branch_filter": hook.settings.get("push_events_branch_filter") or "",
                "branch_filter_strategy": "wildcard",
                "enable_ssl_verification": hook.settings.get("enable_ssl_verification", True),
                "custom_webhook_template": hook.settings.get("custom_webhook_template"),
                "alert_status": hook.settings.get("alert_status", "executable"),
                "disabled_until": None,
                "url_variables": [],
                # Neither secret is ever returned, only whether the hook has one.
                "token_present": bool(hook.secret),
                "signing_token_present": bool(hook.settings.get("signing_token")),
            }
        )
        return body

    # Deliveries ------------------------------------------------------------------------------

    def control_id(self, hook_id: str) -> str | None:
        return hook_id if hook_id.isdigit() else None

    def verifies_tls(self, hook: StoredHook) -> bool:
        return bool(hook.settings.get("enable_ssl_verification", True))

    def delivery_headers(
        self, hook: StoredHook, event: str, delivery_id: str, attempt: int
    ) -> dict[str, str]:
        # https://docs.gitlab.com/user/project/integrations/webhooks/#delivery-headers
        return {
            "X-Gitlab-Event": EVENT_HEADERS.get(event, event),
            "X-Gitlab-Instance": INSTANCE,
            "X-Gitlab-Webhook-UUID": str(uuid.uuid4()),  # fresh for every request
            "X-Gitlab-Event-UUID": delivery_id,
            "Idempotency-Key": delivery_id,  # the same on every retry of one event
        }

    def secret_headers(self, secret: str, body: bytes) -> dict[str, str]:
        # It echoes the hook's secret token (and signs only with a signing token, below).
        return {"X-Gitlab-Token": secret}

    def request_headers(
        self,
        hook: StoredHook,
        event: str,
        body: bytes,
        content_type: str,
        delivery_id: str,
        attempt: int,
    ) -> dict[str, str]:
        headers = super().request_headers(hook, event, body, content_type, delivery_id, attempt)
        signing_token = hook.settings.get("signing_token")
        if signing_token:
            # webhook-id is the Idempotency-Key: the same on every retry of one event; the
            # timestamp is the attempt's own (a resend is signed anew).
            headers.update(
                standard_webhooks_headers(signing_token, delivery_id, int(time.time()), body)
            )
        return headers
