"""Sending a webhook delivery to a hook's URL, and keeping it in the hook's delivery log.

Every delivery the simulator makes goes through ``send``: the control API's ``deliver``, a
GitHub redelivery (``POST .../deliveries/{id}/attempts``), a GitLab resend
(``POST .../events/{id}/resend``) and a GitLab test (``POST .../test/{trigger}``). Each attempt
is logged with the receiver's status (None when nothing answered: refused, reset, timed out),
so the providers' delivery-log endpoints can list it and a redelivery can send the same body
under the same event id again.

Called without the state lock: the receiver may call back into the simulator.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from repoconn_local.simulator.state import LoggedDelivery, StoredHook, utc_now

if TYPE_CHECKING:
    from repoconn_local.simulator.core import ProviderApi

DELIVERY_TIMEOUT_SECONDS = 10  # GitHub and GitLab both give receivers ten seconds
# Request headers a delivery log shows, GitLab-style, with the secret token masked.
_MASKED = "[REDACTED]"
_SECRET_HEADERS = frozenset({"x-gitlab-token"})


@dataclass(frozen=True)
class Sent:
    status: int | None  # None: the receiver did not answer
    answer: Any  # its body (parsed when JSON), or the error when it did not answer
    entry: LoggedDelivery
    attempt: int


def send(
    api: ProviderApi,
    hook: StoredHook,
    *,
    event: str,
    body: bytes,
    content_type: str,
    guid: str,
    action: str | None = None,
    redelivery: bool = False,
) -> Sent:
    """POST ``body`` to the hook's URL as ``api``'s provider does, log the attempt, and
    update what the provider shows about the hook's last response."""
    with api.state.lock:
        attempt = api.state.next_attempt(api.name, guid)
    headers = api.request_headers(hook, event, body, content_type, guid, attempt)
    started = time.monotonic()
    status: int | None
    try:
        status, answer = post(hook.url, body, headers, api.verifies_tls(hook))
    except (OSError, http.client.HTTPException) as exc:
        status, answer = None, f"receiver unreachable: {exc}"
    duration = round(time.monotonic() - started, 3)
    with api.state.lock:
        entry = LoggedDelivery(
            id=api.state.next_delivery_number(),
            provider=api.name,
            hook_id=hook.id,
            guid=guid,
            event=event,
            action=action,
            status=status,
            delivered_at=utc_now(),
            duration=duration,
            redelivery=redelivery,
            body=body,
            content_type=content_type,
            request_headers={
                name: _MASKED if name.lower() in _SECRET_HEADERS else value
                for name, value in headers.items()
            },
        )
        api.state.log_delivery(entry)
        live = api.state.hook(api.name, hook.id)
        if live is not None:
            api.record_delivery(live, status)
    return Sent(status, answer, entry, attempt)


def resend(api: ProviderApi, hook: StoredHook, entry: LoggedDelivery) -> Sent:
    """The logged delivery again: the same body and event id, signed as the hook is now."""
    return send(
        api,
        hook,
        event=entry.event,
        body=entry.body,
        content_type=entry.content_type,
        guid=entry.guid,
        action=entry.action,
        redelivery=True,
    )


def post(url: str, body: bytes, headers: dict[str, str], verify_tls: bool) -> tuple[int, Any]:
    """POST once, no redirects (the providers do not follow them either)."""
    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context()
        if not verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(
            parts.netloc, timeout=DELIVERY_TIMEOUT_SECONDS, context=context
        )
    else:
        connection = http.client.HTTPConnection(parts.netloc, timeout=DELIVERY_TIMEOUT_SECONDS)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        status = response.status
    finally:
        connection.close()
    text = raw.decode("utf-8", errors="replace")
    try:
        return status, json.loads(text) if text else None
    except json.JSONDecodeError:
        return status, text
