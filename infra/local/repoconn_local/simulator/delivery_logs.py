"""The providers' delivery-log endpoints, over the hooks' delivery logs (state.py):

- GitHub: `GET /repos/{o}/{r}/hooks/{id}/deliveries` (newest first, cursor-paged by a `Link`
  header), `GET .../deliveries/{delivery_id}`, `POST .../deliveries/{delivery_id}/attempts`
  (202; the same body and X-GitHub-Delivery again, listed with `redelivery: true`). GitHub
  queues the attempt; the simulator sends it before answering, so tests need no waiting.
  docs.github.com/rest/repos/webhooks#list-deliveries-for-a-repository-webhook
- GitLab (17.4+): `GET /projects/:id/hooks/:hook_id/events` (newest first, offset-paged,
  `status` filter), `POST .../events/:id/resend` (the same body and Idempotency-Key; 422
  through a disabled hook), `POST .../test/:trigger` (a sample push forced through a disabled
  hook, which a 2xx answer re-enables). docs.gitlab.com/api/project_webhooks

Called by github.py / gitlab.py with the state lock held; deliveries run after it is released
(`SimResponse.then`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from repoconn_local.simulator import deliveries
from repoconn_local.simulator.core import (
    ProviderApi,
    SimRequest,
    SimResponse,
    int_param,
    iso_millis,
    iso_seconds,
    json_response,
    link_header,
    page_url,
    paginate,
)
from repoconn_local.simulator.state import LoggedDelivery, Repository, StoredHook

GITHUB_DOC = "https://docs.github.com/rest/repos/webhooks#list-deliveries-for-a-repository-webhook"


def _github_not_found() -> SimResponse:
    return json_response(
        404, {"message": "Not Found", "documentation_url": GITHUB_DOC, "status": "404"}
    )


def _gitlab_message(status: int, message: str) -> SimResponse:
    return json_response(status, {"message": message})


# GitHub -------------------------------------------------------------------------------------


def github_deliveries(
    api: ProviderApi, req: SimRequest, hook: StoredHook, rest: list[str]
) -> SimResponse:
    if rest == ["deliveries"] and req.method == "GET":
        return _list_deliveries(api, req, hook)
    if len(rest) < 2 or rest[0] != "deliveries" or not rest[1].isdigit():
        return _github_not_found()
    entry = api.state.logged_delivery(api.name, hook.id, int(rest[1]))
    if entry is None:
        return _github_not_found()
    if len(rest) == 2 and req.method == "GET":
        return json_response(200, _delivery_json(entry))
    if rest[2:] == ["attempts"] and req.method == "POST":
        snapshot = hook.snapshot()

        def redeliver() -> SimResponse:
            deliveries.resend(api, snapshot, entry)
            return json_response(202, {})

        return SimResponse(202, then=redeliver)
    return _github_not_found()


def _list_deliveries(api: ProviderApi, req: SimRequest, hook: StoredHook) -> SimResponse:
    # Newest first; `cursor` names where a page starts ("v1_<id>": that id and older).
    entries = sorted(api.state.delivery_log(api.name, hook.id), key=lambda e: -e.id)
    cursor = req.query_value("cursor") or ""
    if cursor.startswith("v1_") and cursor[3:].isdigit():
        entries = [entry for entry in entries if entry.id <= int(cursor[3:])]
    per_page = min(max(int_param(req.query_value("per_page"), 30), 1), 100)
    page, rest = entries[:per_page], entries[per_page:]
    headers = {}
    if rest:
        query = {key: values for key, values in req.query.items() if key != "cursor"}
        paged = SimRequest(
            req.method, req.raw_path, query, req.headers, b"", req.origin, req.prefix
        )
        url = page_url(paged, per_page=per_page)
        headers["Link"] = link_header({"next": f"{url}&cursor=v1_{rest[0].id}"})
    return json_response(200, [_delivery_json(entry) for entry in page], headers)


def _delivery_json(entry: LoggedDelivery) -> dict[str, Any]:
    """One item of GitHub's delivery list."""
    if entry.succeeded:
        status = "OK"
    elif entry.status is None:
        status = "failed to connect to host"
    else:
        status = f"Invalid HTTP Response: {entry.status}"
    return {
        "id": entry.id,
        "guid": entry.guid,
        "delivered_at": iso_seconds(entry.delivered_at),
        "redelivery": entry.redelivery,
        "duration": entry.duration,
        "status": status,
        "status_code": entry.status or 0,
        "event": entry.event,
        "action": entry.action,
        "installation_id": None,
        "repository_id": None,
        "throttled_at": None,
    }


# GitLab -------------------------------------------------------------------------------------


def gitlab_hook_events(
    api: ProviderApi,
    req: SimRequest,
    hook: StoredHook,
    tail: list[str],
    *,
    event_flags: tuple[str, ...],
) -> SimResponse:
    if tail == ["events"]:
        return _list_events(api, req, hook)
    snapshot = hook.snapshot()
    if tail[0] == "test":
        if tail[1] not in event_flags:
            return json_response(400, {"error": "trigger does not have a valid value"})

        def test() -> SimResponse:
            # Forced through a disabled hook; a 2xx answer re-enables it.
            sent = deliveries.send(
                api,
                snapshot,
                event="push",
                body=json.dumps(_sample_push(hook.repo), separators=(",", ":")).encode(),
                content_type="application/json",
                guid=str(uuid.uuid4()),
            )
            if not sent.entry.succeeded:
                return _gitlab_message(422, f"Hook execution failed: {sent.status or 'no answer'}")
            with api.state.lock:
                live = api.state.hook(api.name, hook.id)
                if live is not None:
                    live.active = True
                    live.settings["alert_status"] = "executable"
            return _gitlab_message(201, "201 Created")

        return SimResponse(201, then=test)
    if not tail[1].isdigit():
        return json_response(400, {"error": "hook_log_id is invalid"})
    entry = api.state.logged_delivery(api.name, hook.id, int(tail[1]))
    if entry is None:
        return _gitlab_message(404, "404 Not found")
    if not hook.active:
        return _gitlab_message(422, "Hook disabled")

    def resend() -> SimResponse:
        sent = deliveries.resend(api, snapshot, entry)
        return json_response(201, {"response_status": sent.status})

    return SimResponse(201, then=resend)


def _list_events(api: ProviderApi, req: SimRequest, hook: StoredHook) -> SimResponse:
    entries = sorted(api.state.delivery_log(api.name, hook.id), key=lambda e: -e.id)
    wanted = req.query_value("status")
    if wanted is not None:
        entries = [entry for entry in entries if _status_matches(entry, wanted)]
    page = paginate(
        entries, req.query_value("page"), req.query_value("per_page"), default=20, maximum=100
    )
    headers = {
        "X-Page": str(page.page),
        "X-Per-Page": str(page.per_page),
        "X-Next-Page": str(page.page + 1) if page.has_next else "",
        "X-Prev-Page": str(page.page - 1) if page.has_prev else "",
        "X-Total": str(page.total),
        "X-Total-Pages": str(page.total_pages),
    }
    return json_response(200, [_event_json(entry) for entry in page.items], headers)


def _status_matches(entry: LoggedDelivery, wanted: str) -> bool:
    status = entry.status
    if wanted == "successful":
        return entry.succeeded
    if wanted == "client_failure":
        return status is not None and 400 <= status < 500
    if wanted == "server_failure":
        return status is None or status >= 500
    return wanted.isdigit() and status == int(wanted)


def _event_json(entry: LoggedDelivery) -> dict[str, Any]:
    """One hook event (a WebHookLog) as the events API shows it."""
    try:
        request_data: Any = json.loads(entry.body)
    except ValueError:
        request_data = entry.body.decode("utf-8", errors="replace")
    return {
        "id": entry.id,
        "url": None,
        "trigger": f"{entry.event}_hooks",
        "request_headers": dict(entry.request_headers),
        "request_data": request_data,
        "response_headers": {},
        "response_body": "",
        "execution_duration": entry.duration,
        "response_status": str(entry.status) if entry.status is not None else "internal error",
        "created_at": iso_millis(entry.delivered_at),
    }


def _sample_push(project: Repository) -> dict[str, Any]:
    """What a test of push events sends: a push of the project's latest commit (the same
    bytes every time for one project, as GitLab's sample data is)."""
    return {
        "object_kind": "push",
        "event_name": "push",
        "before": "0" * 40,
        "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "ref": "refs/heads/main",
        "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "project_id": project.number,
        "project": {"id": project.number, "path_with_namespace": project.full_path},
        "commits": [],
        "total_commits_count": 0,
    }
