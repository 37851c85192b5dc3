"""Webhook deliveries leaving the simulator: one POST to a hook's URL, as the provider sends
it, and its outcome remembered (``SimState.sent_deliveries``; GitHub also shows it as the
hook's ``last_response``).

Every delivery goes through ``send``: the control API's ``deliver``, GitHub's ``ping`` while a
hook is created, and the deliveries a test queues for a hook's next update
(``SimState.queue_update_delivery``).
"""

from __future__ import annotations

import http.client
import json
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from repoconn_local.simulator.state import StoredHook, utc_now

if TYPE_CHECKING:
    from repoconn_local.simulator.core import ProviderApi

DELIVERY_TIMEOUT_SECONDS = 10  # GitHub and GitLab both give receivers ten seconds


def send(
    api: ProviderApi, hook: StoredHook, event: str, payload: Any, delivery_id: str, trigger: str
) -> tuple[int | None, Any, int]:
    """Deliver ``payload`` to a snapshot of ``hook``: (status, answer, attempt); status None
    when the receiver was unreachable (the answer is then the error). Call without the lock:
    the receiver may call back into the simulator while it handles the delivery."""
    with api.state.lock:
        attempt = api.state.next_attempt(api.name, delivery_id)
    body, headers = api.build_delivery(hook, event, payload, delivery_id, attempt)
    status: int | None
    try:
        status, answer = post(hook.url, body, headers, api.verifies_tls(hook))
    except (OSError, http.client.HTTPException) as exc:
        status, answer = None, str(exc)
    with api.state.lock:
        live = api.state.hook(api.name, hook.id)
        if live is not None:
            api.record_delivery(live, status)
        api.state.sent_deliveries.append(
            {
                "provider": api.name,
                "hookId": hook.id,
                "event": event,
                "deliveryId": delivery_id,
                "trigger": trigger,
                "status": status,
                "at": utc_now().isoformat(),
            }
        )
    return status, answer, attempt


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
