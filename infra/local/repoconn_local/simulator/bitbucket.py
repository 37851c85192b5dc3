"""Bitbucket Cloud REST API 2.0 subset (api.bitbucket.org/2.0), served under
`{base}/bitbucket/2.0`.

Follows https://developer.atlassian.com/cloud/bitbucket/rest/api-group-repositories/ and
https://developer.atlassian.com/cloud/bitbucket/rest/api-group-webhooks/. Quirks reproduced:
- Lists are pages {"pagelen", "values", "page", "size", "next"?, "previous"?}; `next` is an
  absolute URL to follow verbatim.
- Hook ids are UUIDs in braces ("{...}"); paths take them URL-encoded, with or without braces.
- A token without the `webhook` scope gets 403 "Your credentials lack one or more required
  privilege scopes." with `error.detail.required`/`granted`, checked before the repository
  is looked up (scopes are per endpoint).
- The secret is never returned; `secret_set` says whether there is one. A PUT without
  `secret` keeps it, `"secret": null` removes it.
- Rate limiting answers 429 without Retry-After (Bitbucket documents only a rolling hourly
  window), so clients choose their own back-off.
- Deliveries carry `X-Hook-UUID` without braces and count retries in `X-Attempt-Number`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import Any
from urllib.parse import quote

from repoconn_local.simulator.core import (
    ProviderApi,
    SimRequest,
    SimResponse,
    TokenKind,
    iso_micros,
    json_response,
    known_hook_route,
    page_url,
    paginate,
    text_response,
    valid_hook_url,
)
from repoconn_local.simulator.state import Repository, StoredHook

WEB = "https://bitbucket.org"
USER_AGENT = "Bitbucket-Webhooks/2.0"
RATE_LIMIT = 1000
SCOPES_FULL = ["account", "pullrequest", "repository", "webhook"]
SCOPES_READ_ONLY = ["account", "pullrequest", "repository"]
SCOPES_NO_PULLREQUEST = ["account", "repository", "webhook"]
# The scope a subscription to an event needs, by the event's prefix: a hook may only deliver
# what its creator's credentials could read.
EVENT_SCOPES = {"repo": "repository", "pullrequest": "pullrequest"}
KNOWN_EVENTS = frozenset(
    {
        "repo:push",
        "repo:fork",
        "repo:updated",
        "repo:created",
        "repo:deleted",
        "repo:imported",
        "repo:transfer",
        "repo:commit_comment_created",
        "repo:commit_status_created",
        "repo:commit_status_updated",
        "issue:created",
        "issue:updated",
        "issue:comment_created",
        "pullrequest:created",
        "pullrequest:updated",
        "pullrequest:approved",
        "pullrequest:unapproved",
        "pullrequest:fulfilled",
        "pullrequest:rejected",
        "pullrequest:changes_request_created",
        "pullrequest:changes_request_removed",
        "pullrequest:comment_created",
        "pullrequest:comment_updated",
        "pullrequest:comment_deleted",
        "pullrequest:comment_resolved",
        "pullrequest:comment_reopened",
    }
)
EVENT_ALIASES = {
    "push": "repo:push",
    "pull_request": "pullrequest:created",
    "merge_request": "pullrequest:created",
}
_UUID = re.compile(
    r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$"
)
_FULL_NAME_QUERY = re.compile(r'repository\.full_name\s*=\s*"([^"]+)"')


def _error(status: int, message: str, **extra: Any) -> SimResponse:
    return json_response(status, {"type": "error", "error": {"message": message, **extra}})


def _bad_request(fields: dict[str, list[str]]) -> SimResponse:
    return _error(400, "Bad request", fields=fields)


def _scopes(kind: TokenKind) -> list[str]:
    if kind is TokenKind.NO_PULLREQUEST:
        return SCOPES_NO_PULLREQUEST
    return SCOPES_FULL if kind.may_admin else SCOPES_READ_ONLY


def _lacking_scopes(kind: TokenKind, required: list[str]) -> SimResponse:
    return _error(
        403,
        "Your credentials lack one or more required privilege scopes.",
        detail={"granted": _scopes(kind), "required": required},
    )


def _refused_events(kind: TokenKind, events: Any) -> SimResponse | None:
    """403 naming the scopes the subscribed events need and the token lacks, else None."""
    granted = set(_scopes(kind))
    needed = {
        EVENT_SCOPES[event.split(":", 1)[0]]
        for event in events
        if isinstance(event, str) and event.split(":", 1)[0] in EVENT_SCOPES
    }
    missing = sorted(needed - granted)
    return _lacking_scopes(kind, missing) if missing else None


class BitbucketApi(ProviderApi):
    name = "bitbucket"
    display_name = "Bitbucket"
    prefix = "/bitbucket/2.0"
    user_agent = USER_AGENT

    def extract_token(self, req: SimRequest) -> str | None:
        auth = req.authorization()
        if auth is not None:
            scheme, value = auth
            if scheme == "bearer":
                return value
            if scheme == "basic":
                # App passwords / API tokens: user:secret, the secret is what counts here.
                try:
                    decoded = base64.b64decode(value, validate=True).decode()
                except (binascii.Error, UnicodeDecodeError):
                    return ""
                return decoded.partition(":")[2]
            return ""
        return req.query_value("access_token")

    def unauthorized(self, req: SimRequest) -> SimResponse:
        return _error(401, "Token is invalid, expired, or not supported for this endpoint.")

    def malformed_body(self, req: SimRequest) -> SimResponse:
        return _bad_request({"body": ["Malformed JSON."]})

    def rate_limited(self, req: SimRequest) -> SimResponse:
        return text_response(429, "Rate limit for this resource has been exceeded")

    def common_headers(self, req: SimRequest, kind: TokenKind, fingerprint: str) -> dict[str, str]:
        if not kind.authenticated:
            return {}
        used, _ = self.state.count_call(self.name, fingerprint)
        near = kind is TokenKind.LIMITED or used >= RATE_LIMIT * 0.8
        return {
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-NearLimit": str(near).lower(),
            # Access and OAuth tokens: the scopes granted, on every answer (Atlassian's KB,
            # "How to fetch the scope of a token via command line").
            "X-OAuth-Scopes": ", ".join(_scopes(kind)),
        }

    # Routing ---------------------------------------------------------------------------------

    def route(self, req: SimRequest, kind: TokenKind) -> SimResponse:
        segments = req.segments()
        if req.method == "GET" and segments == ["user"]:
            return json_response(200, self._user_json(kind))
        if req.method == "GET" and segments == ["user", "permissions", "repositories"]:
            return self._permissions(req, kind)
        if (
            len(segments) < 3
            or segments[0] != "repositories"
            or not known_hook_route(req.method, segments[3:])
        ):
            return _error(404, "Resource not found")
        rest = segments[3:]
        if rest and not kind.may_admin:
            return _lacking_scopes(kind, ["webhook"])
        repo = self.state.repository(self.name, f"{segments[1]}/{segments[2]}")
        if repo is None:
            return _error(404, f"Repository {segments[1]}/{segments[2]} not found")
        if not rest:
            return json_response(200, self._repo_json(req, repo))
        if len(rest) == 1:
            if req.method == "GET":
                return self._list_hooks(req, repo)
            return self._create_hook(req, repo, kind)
        hook_id = self.control_id(rest[1])
        hook = self.state.repo_hook(repo, hook_id) if hook_id else None
        if hook is None:
            return _error(404, "Resource not found")
        if req.method == "GET":
            return json_response(200, self._hook_json(req, hook))
        if req.method == "PUT":
            return self._update_hook(req, hook, kind)
        self.state.remove_hook(self.name, hook.id)
        return SimResponse(204)

    # Endpoints -------------------------------------------------------------------------------

    def _permissions(self, req: SimRequest, kind: TokenKind) -> SimResponse:
        # GET /user/permissions/repositories?q=repository.full_name="ws/slug": the documented
        # way to learn the caller's role (admin / write / read) on one repository.
        match = _FULL_NAME_QUERY.search(req.query_value("q") or "")
        repo = self.state.repository(self.name, match.group(1)) if match else None
        values = []
        if repo is not None:
            values.append(
                {
                    "type": "repository_permission",
                    "permission": "admin" if kind.may_admin else "read",
                    "user": self._user_json(kind),
                    "repository": self._repo_summary(req, repo),
                }
            )
        return json_response(200, {"pagelen": 10, "values": values, "page": 1, "size": len(values)})

    def _list_hooks(self, req: SimRequest, repo: Repository) -> SimResponse:
        hooks = self.state.hooks_for(repo)
        page = paginate(
            hooks, req.query_value("page"), req.query_value("pagelen"), default=10, maximum=100
        )
        body: dict[str, Any] = {
            "pagelen": page.per_page,
            "values": [self._hook_json(req, hook) for hook in page.items],
            "page": page.page,
            "size": page.total,
        }
        if page.has_next:
            body["next"] = page_url(req, pagelen=page.per_page, page=page.page + 1)
        if page.has_prev:
            body["previous"] = page_url(req, pagelen=page.per_page, page=page.page - 1)
        return json_response(200, body)

    def _create_hook(self, req: SimRequest, repo: Repository, kind: TokenKind) -> SimResponse:
        body = req.json_object()
        fields: dict[str, list[str]] = {}
        url = body.get("url")
        if not isinstance(url, str) or not url:
            fields["url"] = ["This field is required."]
        elif not valid_hook_url(url):
            fields["url"] = ["Enter a valid URL."]
        events = body.get("events")
        if not isinstance(events, list) or not events:
            fields["events"] = ["This field is required."]
        else:
            unknown = [e for e in events if not isinstance(e, str) or e not in KNOWN_EVENTS]
            if unknown:
                fields["events"] = [f"Invalid event: {event}" for event in unknown]
        active = body.get("active", True)
        if not isinstance(active, bool):
            fields["active"] = ["Must be a valid boolean."]
        secret = body.get("secret")
        if secret is not None and not isinstance(secret, str):
            fields["secret"] = ["Not a valid string."]
        if fields:
            return _bad_request(fields)
        refused = _refused_events(kind, events or [])
        if refused is not None:
            return refused
        hook = self.state.add_hook(
            repo,
            url=str(url),
            events=sorted(set(events or [])),
            secret=secret or None,
            active=active,
            settings={
                "description": str(body.get("description") or ""),
                "skip_cert_verification": bool(body.get("skip_cert_verification", False)),
            },
        )
        return json_response(
            201, self._hook_json(req, hook), {"Location": self._hook_url(req, hook)}
        )

    def _update_hook(self, req: SimRequest, hook: StoredHook, kind: TokenKind) -> SimResponse:
        body = req.json_object()
        fields: dict[str, list[str]] = {}
        if "url" in body and (not isinstance(body["url"], str) or not valid_hook_url(body["url"])):
            fields["url"] = ["Enter a valid URL."]
        if "events" in body:
            events = body["events"]
            if not isinstance(events, list) or not events:
                fields["events"] = ["This field may not be empty."]
            elif any(not isinstance(e, str) or e not in KNOWN_EVENTS for e in events):
                fields["events"] = ["Invalid event."]
        if "active" in body and not isinstance(body["active"], bool):
            fields["active"] = ["Must be a valid boolean."]
        if "secret" in body and body["secret"] is not None and not isinstance(body["secret"], str):
            fields["secret"] = ["Not a valid string."]
        if fields:
            return _bad_request(fields)
        refused = _refused_events(kind, body.get("events", hook.events))
        if refused is not None:
            return refused
        hook.url = body.get("url", hook.url)
        hook.events = sorted(set(body.get("events", hook.events)))
        hook.active = body.get("active", hook.active)
        if "secret" in body:
            hook.secret = body["secret"] or None
        if "description" in body:
            hook.settings["description"] = str(body["description"] or "")
        if "skip_cert_verification" in body:
            hook.settings["skip_cert_verification"] = bool(body["skip_cert_verification"])
        return json_response(200, self._hook_json(req, hook))

    # Shapes ----------------------------------------------------------------------------------

    @staticmethod
    def _user_json(kind: TokenKind) -> dict[str, Any]:
        nickname = "sim-admin" if kind.may_admin else "sim-reader"
        return {
            "type": "user",
            "uuid": "{00000000-0000-4000-8000-00000000424" + ("2}" if kind.may_admin else "3}"),
            "account_id": "557058:sim-" + nickname,
            "nickname": nickname,
            "display_name": nickname.replace("-", " ").title(),
            "links": {"html": {"href": f"{WEB}/{nickname}/"}},
        }

    def _repo_summary(self, req: SimRequest, repo: Repository) -> dict[str, Any]:
        return {
            "type": "repository",
            "full_name": repo.full_path,
            "name": repo.name,
            "uuid": repo.uuid,
            "links": {
                "self": {"href": f"{req.api_base}/repositories/{repo.full_path}"},
                "html": {"href": f"{WEB}/{repo.full_path}"},
            },
        }

    def _repo_json(self, req: SimRequest, repo: Repository) -> dict[str, Any]:
        api_url = f"{req.api_base}/repositories/{repo.full_path}"
        workspace = repo.namespace
        stamp = iso_micros(repo.created_at)
        return {
            **self._repo_summary(req, repo),
            "slug": repo.name,
            "is_private": True,
            "scm": "git",
            "description": "",
            "fork_policy": "no_public_forks",
            "mainbranch": {"type": "branch", "name": "main"},
            "owner": {"type": "team", "username": workspace, "display_name": workspace},
            "workspace": {"type": "workspace", "slug": workspace, "name": workspace},
            "created_on": stamp,
            "updated_on": stamp,
            "links": {
                "self": {"href": api_url},
                "html": {"href": f"{WEB}/{repo.full_path}"},
                "hooks": {"href": f"{api_url}/hooks"},
                "clone": [
                    {"name": "https", "href": f"{WEB}/{repo.full_path}.git"},
                    {"name": "ssh", "href": f"git@bitbucket.org:{repo.full_path}.git"},
                ],
            },
        }

    def _hook_url(self, req: SimRequest, hook: StoredHook) -> str:
        # Bitbucket's own links carry the braces percent-encoded.
        return f"{req.api_base}/repositories/{hook.repo.full_path}/hooks/{quote(hook.id)}"

    def _hook_json(self, req: SimRequest, hook: StoredHook) -> dict[str, Any]:
        return {
            "type": "webhook_subscription",
            "uuid": hook.id,
            "url": hook.url,
            "description": hook.settings.get("description", ""),
            "subject_type": "repository",
            "subject": self._repo_summary(req, hook.repo),
            "active": hook.active,
            "created_at": iso_micros(hook.created_at),
            "events": list(hook.events),
            "secret_set": bool(hook.secret),
            "skip_cert_verification": hook.settings.get("skip_cert_verification", False),
            "links": {"self": {"href": self._hook_url(req, hook)}},
        }

    # Deliveries ------------------------------------------------------------------------------

    def control_id(self, hook_id: str) -> str | None:
        match = _UUID.match(hook_id.strip())
        return "{" + match.group(1).lower() + "}" if match else None

    def verifies_tls(self, hook: StoredHook) -> bool:
        return not hook.settings.get("skip_cert_verification", False)

    def delivery_headers(
        self, hook: StoredHook, event: str, delivery_id: str, attempt: int
    ) -> dict[str, str]:
        # https://support.atlassian.com/bitbucket-cloud/docs/event-payloads/ (request headers)
        return {
            "X-Event-Key": EVENT_ALIASES.get(event, event),
            "X-Hook-UUID": hook.id.strip("{}"),
            "X-Request-UUID": delivery_id,
            "X-Attempt-Number": str(attempt),
        }

    def secret_headers(self, secret: str, body: bytes) -> dict[str, str]:
        # https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/ (secrets)
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"X-Hub-Signature": "sha256=" + digest}
