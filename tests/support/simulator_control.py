"""A typed client of the provider simulator's control API (``{base}/_sim/...``, documented in
repoconn_local.simulator.server), over HTTP, so it serves an in-process simulator and one in another
process (the local stack, the bench) alike.

The typed calls raise on an unexpected status; ``send`` is the raw request, for the tests of
the control API itself.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict
from urllib.parse import quote

import requests

Provider = Literal["github", "gitlab", "bitbucket"]
HookAction = Literal["activate", "deactivate", "delete"]
# The service's ServiceType value → the simulator's provider name.
SIM_PROVIDER: dict[str, Provider] = {
    "GitHub": "github",
    "GitLab": "gitlab",
    "Bitbucket": "bitbucket",
}


class SimHook(TypedDict):
    provider: str
    repository: str
    id: str
    url: str
    events: list[str]
    secret: str | None  # GitLab: the X-Gitlab-Token value
    active: bool
    signingToken: NotRequired[str | None]  # GitLab only: its whsec_ Standard Webhooks token


class SimRequest(TypedDict):
    method: str
    provider: str
    path: str
    status: int
    at: str


class DeliveryAnswer(TypedDict):
    """What the simulator reports after POSTing a delivery to the hook's URL."""

    status: int  # the receiver's status
    body: Any  # the receiver's body (parsed when JSON)
    deliveryId: str
    attempt: int


class LoggedDelivery(TypedDict):
    """One attempt in a hook's delivery log (``GET /_sim/hooks/{provider}/{id}/deliveries``)."""

    id: int
    guid: str
    event: str
    status: int | None  # None: the receiver did not answer
    redelivery: bool
    deliveredAt: str


class SimulatorControl:
    def __init__(self, base_url: str, *, timeout: float = 5) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def send(
        self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any
    ) -> requests.Response:
        """``method {base}/_sim{path}``, whatever it answers."""
        url = f"{self.base_url}/_sim{path}"
        return requests.request(method, url, timeout=timeout or self.timeout, **kwargs)

    def _ok(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self.send(method, path, **kwargs)
        response.raise_for_status()
        return response

    def reset(self) -> None:
        """Forget every repository, hook and logged request."""
        self._ok("POST", "/reset")

    def gitlab_signing_tokens(self, supported: bool) -> None:
        """Model a GitLab instance with or without signing tokens (until the next reset)."""
        self._ok("PUT", "/features", json={"gitlabSigningTokens": supported})

    def gitlab_token_self(self, supported: bool) -> None:
        """Model a GitLab instance with or without GET /personal_access_tokens/self (15.5+)."""
        self._ok("PUT", "/features", json={"gitlabTokenSelf": supported})

    def rename_repository(self, provider: Provider, old: str, new: str) -> int:
        """Rename (or transfer) a repository on the simulated provider; its id is answered.
        GitHub then redirects the old path: 301 for GET, 307 for other methods."""
        body = {"provider": provider, "from": old, "to": new}
        return int(self._ok("POST", "/renames", json=body).json()["id"])

    def healthy(self) -> bool:
        return self.send("GET", "/health").status_code == 200

    def hooks(self, provider: str | None = None) -> list[SimHook]:
        params = {"provider": provider} if provider is not None else None
        hooks: list[SimHook] = self._ok("GET", "/hooks", params=params).json()["hooks"]
        return hooks

    def hooks_calling(self, callback_url: str) -> list[SimHook]:
        return [hook for hook in self.hooks() if hook["url"] == callback_url]

    def hook_of(self, connection_id: str) -> SimHook:
        """The one hook whose callback URL ends in ``/webhooks/{connection_id}``."""
        (hook,) = [h for h in self.hooks() if h["url"].endswith(f"/webhooks/{connection_id}")]
        return hook

    def requests(self, provider: str | None = None) -> list[SimRequest]:
        """The provider API requests logged since the last reset or clear, in order."""
        logged: list[SimRequest] = self._ok("GET", "/requests").json()["requests"]
        return [r for r in logged if provider is None or r["provider"] == provider]

    def clear_requests(self) -> None:
        self._ok("DELETE", "/requests")

    def hook_action(self, provider: str, hook_id: str, action: HookAction) -> None:
        """A provider-side change to one hook (GitLab: its alert_status)."""
        self._ok("POST", f"/hooks/{provider}/{quote(str(hook_id), safe='')}/{action}")

    def deliver_on_next_update(self, provider: str, event: str, payload: dict[str, Any]) -> None:
        """During the provider's next hook update, deliver this with the new secret, before
        the update is answered (GitHub signs with a new secret from that moment)."""
        self._ok(
            "POST",
            "/on-hook-update",
            json={"provider": provider, "event": event, "payload": payload},
        )

    def delivery_log(self, provider: str, hook_id: str) -> list[LoggedDelivery]:
        """Every attempt the simulator made to deliver to the hook, oldest first."""
        path = f"/hooks/{provider}/{quote(str(hook_id), safe='')}/deliveries"
        logged: list[LoggedDelivery] = self._ok("GET", path).json()["deliveries"]
        return logged

    def deliver_raw(
        self, provider: str, hook_id: str, body: dict[str, Any], *, timeout: float = 30
    ) -> requests.Response:
        return self.send(
            "POST",
            f"/hooks/{provider}/{quote(str(hook_id), safe='')}/deliver",
            json=body,
            timeout=timeout,
        )

    def deliver(
        self, provider: str, hook_id: str, delivery_id: str | None = None
    ) -> DeliveryAnswer:
        """The simulator POSTs a signed push to the hook's URL; what the receiver said."""
        body: dict[str, Any] = {"event": "push", "payload": {"ref": "refs/heads/main"}}
        if delivery_id is not None:
            body["deliveryId"] = delivery_id
        response = self.deliver_raw(provider, hook_id, body)
        response.raise_for_status()
        answer: DeliveryAnswer = response.json()
        return answer
