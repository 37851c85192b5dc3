"""The provider simulator's control API (``/_sim``): inspect and reset its state, change hooks
as the provider would, and deliver webhooks with each provider's headers and signature.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import unquote

from repoconn_local.simulator import deliveries
from repoconn_local.simulator.core import (
    PROVIDERS,
    BodyError,
    ProviderApi,
    SimRequest,
    SimResponse,
    json_response,
)
from repoconn_local.simulator.state import SimState, StoredHook, utc_now

CONTROL_PREFIX = "/_sim"
# /_sim/features names -> SimState attributes.
FEATURES = {
    # GitLab MRs 230944 and 231325: hooks take signing tokens.
    "gitlabSigningTokens": "gitlab_signing_tokens",
    # GET /personal_access_tokens/self (GitLab 15.5+); off, the route is missing (404).
    "gitlabTokenSelf": "gitlab_token_self",
}


class ControlApi:
    """The ``/_sim`` endpoints (see server.py's docstring); ``handle`` is called without the
    state lock."""

    def __init__(self, state: SimState, apis: dict[str, ProviderApi]) -> None:
        self.state = state
        self.apis = apis

    def handle(self, req: SimRequest) -> SimResponse:
        segments = req.segments()
        method = req.method
        if segments == ["health"] and method == "GET":
            return json_response(200, {"status": "ok"})
        if segments == ["reset"] and method == "POST":
            with self.state.lock:
                self.state.reset()
            return json_response(200, {"reset": True})
        if segments == ["requests"]:
            with self.state.lock:
                if method == "GET":
                    return json_response(200, {"requests": self.state.requests()})
                if method == "DELETE":
                    self.state.clear_requests()
                    return SimResponse(204)
        if segments == ["on-hook-update"] and method == "POST":
            return self._queue_update_delivery(req)
        if segments == ["features"]:
            return self._features(req)
        if segments == ["renames"] and method == "POST":
            return self._rename(req)
        if segments == ["hooks"] and method == "GET":
            provider = req.query_value("provider")
            with self.state.lock:
                hooks = [control_hook(h) for h in self.state.all_hooks(provider)]
            return json_response(200, {"hooks": hooks})
        if segments[:1] == ["hooks"] and segments[3:] == ["deliveries"] and method == "GET":
            return self._delivery_log(segments[1], segments[2])
        if len(segments) == 4 and segments[0] == "hooks" and method == "POST":
            return self._hook_action(req, segments[1], segments[2], segments[3])
        return json_response(404, {"error": f"no control endpoint {method} {req.raw_path}"})

    def _rename(self, req: SimRequest) -> SimResponse:
        """``{"provider": "github", "from": "acme/api", "to": "acme/api-v2"}``: rename (or
        transfer) a repository, keeping its id and hooks; GitHub then redirects its old path
        (301 for GET, 307 for other methods). Answers ``{"provider", "from", "to", "id"}``."""
        try:
            body = req.json_object()
        except BodyError as exc:
            return json_response(400, {"error": str(exc)})
        provider, old, new = body.get("provider"), body.get("from"), body.get("to")
        if provider != "github" or not isinstance(old, str) or not isinstance(new, str):
            return json_response(
                400, {"error": 'expected {"provider": "github", "from": str, "to": str}'}
            )
        with self.state.lock:
            repo = self.state.rename(provider, old, new)
            if repo is None:
                return json_response(409, {"error": f"cannot rename {old} to {new}"})
            return json_response(
                200, {"provider": provider, "from": old, "to": repo.full_path, "id": repo.number}
            )

    def _features(self, req: SimRequest) -> SimResponse:
        """GET, or PUT any of ``{"gitlabSigningTokens": bool, "gitlabTokenSelf": bool}``: what
        the simulated instances support (back to the defaults on reset)."""
        if req.method == "PUT":
            try:
                body = req.json_object()
            except BodyError as exc:
                return json_response(400, {"error": str(exc)})
            known = set(FEATURES)
            if (
                not body
                or not set(body) <= known
                or not all(isinstance(value, bool) for value in body.values())
            ):
                return json_response(
                    400, {"error": f"expected a JSON object of booleans named {sorted(known)}"}
                )
            with self.state.lock:
                for name, value in body.items():
                    setattr(self.state, FEATURES[name], value)
        elif req.method != "GET":
            return json_response(405, {"error": f"{req.method} /_sim/features"})
        with self.state.lock:
            return json_response(
                200, {name: getattr(self.state, attr) for name, attr in FEATURES.items()}
            )

    def _delivery_log(self, provider: str, raw_id: str) -> SimResponse:
        """Every attempt to deliver to the hook, oldest first (also after it is deleted)."""
        api = self.apis.get(provider)
        hook_id = api.control_id(unquote(raw_id)) if api is not None else None
        if hook_id is None:
            return json_response(404, {"error": f"no {provider} hook {raw_id}"})
        with self.state.lock:
            entries = self.state.delivery_log(provider, hook_id)
        return json_response(
            200,
            {
                "deliveries": [
                    {
                        "id": entry.id,
                        "guid": entry.guid,
                        "event": entry.event,
                        "status": entry.status,
                        "redelivery": entry.redelivery,
                        "deliveredAt": entry.delivered_at.isoformat(),
                    }
                    for entry in entries
                ]
            },
        )

    def _hook_action(self, req: SimRequest, provider: str, raw_id: str, action: str) -> SimResponse:
        api = self.apis.get(provider)
        if api is None:
            return json_response(
                404, {"error": f"unknown provider {provider!r}", "providers": PROVIDERS}
            )
        hook_id = api.control_id(unquote(raw_id))
        with self.state.lock:
            hook = self.state.hook(provider, hook_id) if hook_id else None
            if hook is None:
                return json_response(404, {"error": f"no {provider} hook {raw_id}"})
            if action in ("activate", "deactivate"):
                _set_active(hook, action == "activate")
                return json_response(200, control_hook(hook))
            if action == "delete":
                self.state.remove_hook(provider, hook.id)
                return SimResponse(204)
            if action != "deliver":
                return json_response(404, {"error": f"unknown action {action!r}"})
            snapshot = hook.snapshot()
        return self._deliver(req, api, snapshot)

    def _deliver(self, req: SimRequest, api: ProviderApi, hook: StoredHook) -> SimResponse:
        try:
            body = req.json_object()
        except BodyError as exc:
            return json_response(400, {"error": str(exc)})
        event = body.get("event")
        if not isinstance(event, str) or not event:
            return json_response(400, {"error": "`event` is required"})
        delivery_id = body.get("deliveryId") or str(uuid.uuid4())
        if not isinstance(delivery_id, str):
            return json_response(400, {"error": "`deliveryId` must be a string"})
        if not hook.active and body.get("force") is not True:
            # Providers do not deliver to disabled hooks.
            return json_response(409, {"error": "hook is inactive", "deliveryId": delivery_id})
        payload = body.get("payload", {})
        payload_bytes, content_type = api.delivery_body(
            hook, json.dumps(payload, separators=(",", ":"))
        )
        action = payload.get("action") if isinstance(payload, dict) else None
        sent = deliveries.send(
            api,
            hook,
            event=event,
            body=payload_bytes,
            content_type=content_type,
            guid=delivery_id,
            action=action if isinstance(action, str) else None,
        )
        if sent.status is None:
            return json_response(502, {"error": sent.answer, "deliveryId": delivery_id})
        return json_response(
            200,
            {
                "status": sent.status,
                "body": sent.answer,
                "deliveryId": delivery_id,
                "attempt": sent.attempt,
            },
        )

    def _queue_update_delivery(self, req: SimRequest) -> SimResponse:
        try:
            body = req.json_object()
        except BodyError as exc:
            return json_response(400, {"error": str(exc)})
        provider, event = body.get("provider"), body.get("event")
        if provider != "github":
            return json_response(400, {"error": "only GitHub hooks deliver during an update"})
        if not isinstance(event, str) or not event:
            return json_response(400, {"error": "`event` is required"})
        with self.state.lock:
            self.state.queue_update_delivery(provider, event, body.get("payload", {}))
        return json_response(202, {"queued": True})


def _set_active(hook: StoredHook, active: bool) -> None:
    hook.active = active
    if hook.provider == "gitlab":
        # GitLab has no active flag; a hook it stopped calling shows alert_status "disabled".
        hook.settings["alert_status"] = "executable" if active else "disabled"
    hook.updated_at = utc_now()


def control_hook(hook: StoredHook) -> dict[str, Any]:
    listed = {
        "provider": hook.provider,
        "repository": hook.repo.full_path,
        "id": hook.id,
        "url": hook.url,
        "events": list(hook.events),
        "secret": hook.secret,
        "active": hook.active,
    }
    if hook.provider == "gitlab":
        # The X-Gitlab-Token value is `secret`; the Standard Webhooks key, when it has one.
        listed["signingToken"] = hook.settings.get("signing_token")
    return listed
