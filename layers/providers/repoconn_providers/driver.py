"""One shape for every provider's webhook client: a base that owns the calls, drivers that say
how their provider spells them.

``HookDriver`` owns what is the same on every provider: the get / create / update / delete /
find-hook calls in their order, the status checks (a 404 on a hook is ``None`` from get,
``False`` from delete and ``HookNotFound`` from update; any status outside the call's expected
2xx set is ``unexpected(...)``), the repository lookup and hook-list probe a preflight starts
with, and the paging loop with its ``MAX_PAGES`` stop (``too_many_pages``).

A provider's driver supplies only what differs: where things live (``_repository_path``,
``_hook_id_segment``), what it sends (``_hook_body``), how it reads a hook (``_hook``), what
its 403 and 404 mean (``_raise_for_access``; a 401 is always ``InvalidToken``), how a hook
listing pages (``_first_page``, ``_page_items``, ``_next_page``), its ``preflight``, and its
quirks, either as overrides of the small steps the base calls (GitHub: ``_already_exists``
and ``_raise_for_refused_create`` for its 422 on create, ``_send_update`` for its PATCH) or as
class attributes (the 2xx sets, extra request headers, the page-size parameter).

Drivers register themselves: a subclass that names its ``service_type`` is recorded by
``HookDriver.__init_subclass__``, and ``driver_for(service_type)`` looks it up, so adding a
provider is adding a module (and importing it from ``registry``), not another branch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import requests
from pydantic import SecretStr
from repoconn_core.errors import (
    HookNotFound,
    InvalidToken,
    ProviderUnavailable,
    RepositoryNotFound,
)
from repoconn_core.providers import (
    DeliveryAttempt,
    DeliveryHistory,
    Hook,
    RepositoryRef,
    ServiceType,
)

from repoconn_providers.answers import json_body, too_many_pages, unexpected
from repoconn_providers.http import MAX_PAGES, ProviderHttp

OK = frozenset({200})
PageParams = Mapping[str, str | int]


@dataclass(frozen=True)
class PageRequest:
    """Where one page of a hook listing is fetched: an API path (or a same-origin URL the
    provider gave for the next page) and its query parameters."""

    path_or_url: str
    params: PageParams | None = None


def path_segment(value: str, kind: str) -> str:
    """``value`` as one URL path segment; ``kind`` names the expected path (e.g. "GitHub
    owner/repository") in the refusal."""
    # urllib3 removes "." and ".." path segments, which would turn a crafted owner into a
    # different endpoint; the URL rules reject them already, this keeps it so here too.
    if value in {"", ".", ".."}:
        raise RepositoryNotFound(f"Repository path is not a {kind}")
    return quote(value, safe="")


def two_level_path(prefix: str, repo: RepositoryRef, kind: str) -> str:
    """``{prefix}/{namespace}/{name}`` for providers without nested groups."""
    if "/" in repo.namespace:
        raise RepositoryNotFound(f"{repo.path} is not a {kind} path")
    return f"{prefix}/{path_segment(repo.namespace, kind)}/{path_segment(repo.name, kind)}"


def listed_hook(data: Any, hook_id: Any, url: Any) -> Hook:
    """A hook from JSON that gives ``active`` and ``events`` as GitHub and Bitbucket do."""
    return Hook(
        id=str(hook_id),
        url=str(url),
        active=bool(data.get("active", True)),
        events=tuple(data.get("events") or ()),
    )


def provider_time(value: Any, service: str) -> datetime:
    """An ISO 8601 timestamp from a provider (``...Z`` or with an offset), timezone-aware."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ProviderUnavailable(f"{service} answered a time the client cannot read") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def status_code(value: Any) -> int:
    """A receiver's status as a delivery log gives it (an int, a numeric string, or words
    such as GitLab's "internal error" when there was no answer): 0 when not a status."""
    try:
        code = int(value)
    except (TypeError, ValueError):
        return 0
    return code if 100 <= code <= 599 else 0


_DRIVERS: dict[ServiceType, type[HookDriver]] = {}


def driver_for(service_type: ServiceType) -> type[HookDriver]:
    """The driver class registered for ``service_type``."""
    try:
        return _DRIVERS[service_type]
    except KeyError:
        raise LookupError(f"no webhook driver is registered for {service_type}") from None


class HookDriver(ABC):
    """``WebhookClient`` over one ``ProviderHttp``; subclasses are the per-provider drivers."""

    service_type: ClassVar[ServiceType]
    # None: the provider's own default page length.
    default_page_size: ClassVar[int | None] = 100
    page_size_param: ClassVar[str] = "per_page"
    request_headers: ClassVar[Mapping[str, str] | None] = None
    # Why a 401 says the token was rejected ("it is ...").
    unauthorized_reasons: ClassVar[str] = "invalid, expired or revoked"
    created: ClassVar[frozenset[int]] = frozenset({201})
    deleted: ClassVar[frozenset[int]] = frozenset({204})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "service_type" not in cls.__dict__:
            return  # a subclass of a driver, not a driver of its own
        registered = _DRIVERS.setdefault(cls.service_type, cls)
        if registered is not cls:
            raise TypeError(
                f"{cls.__qualname__} and {registered.__qualname__} both drive {cls.service_type}"
            )

    def __init__(self, http: ProviderHttp, *, page_size: int | None = None) -> None:
        self._http = http
        self._page_size = self.default_page_size if page_size is None else page_size

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._http!r})"

    @property
    def service(self) -> str:
        """The provider's name as error messages give it."""
        return self.service_type.value

    # -- what a driver supplies -------------------------------------------------------------

    @abstractmethod
    def _repository_path(self, repo: RepositoryRef) -> str:
        """The API path of the repository (hooks live below it, at ``/hooks``)."""

    @abstractmethod
    def _hook_id_segment(self, hook_id: str) -> str:
        """``hook_id`` as the last segment of a hook's path."""

    @abstractmethod
    def _hook_body(self, callback_url: str, secret: SecretStr) -> dict[str, Any]:
        """The hook as we want it, in the provider's request body."""

    @staticmethod
    @abstractmethod
    def _hook(data: Any) -> Hook:
        """One hook from the provider's JSON."""

    @abstractmethod
    def _raise_for_access(
        self, response: requests.Response, repo: RepositoryRef, *, hooks: bool = True
    ) -> None:
        """Raise the typed error a 403 or 404 means; ``hooks`` is False for the repository
        lookup and True for calls on its hooks."""

    @abstractmethod
    def _first_page(self, repo: RepositoryRef) -> PageRequest: ...

    @abstractmethod
    def _next_page(
        self, response: requests.Response, body: Any, current: PageRequest
    ) -> PageRequest | None:
        """The page after ``current``, or None when ``current`` was the last."""

    @abstractmethod
    def preflight(self, repo: RepositoryRef, token: SecretStr) -> None:
        """Token valid, repository visible, token may manage hooks."""

    def _page_items(self, body: Any) -> Iterable[Any]:
        """The hooks in one page's JSON."""
        return body

    def _already_exists(self, response: requests.Response) -> bool:
        """True when a create was refused because an equal hook is there already."""
        return False

    def _raise_for_refused_create(
        self, response: requests.Response, token: SecretStr, secret: SecretStr
    ) -> None:
        """Raise what a create refusal that is not about access means on this provider."""
        return None

    def _send_update(
        self, repo: RepositoryRef, token: SecretStr, hook_id: str, body: dict[str, Any]
    ) -> requests.Response:
        return self._request("PUT", self._hook_path(repo, hook_id), token=token, json=body)

    # -- the shared steps -------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        token: SecretStr,
        json: Any = None,
        params: PageParams | None = None,
        idempotent: bool | None = None,
    ) -> requests.Response:
        return self._http.request(
            method,
            path_or_url,
            token=token,
            json=json,
            params=params,
            headers=self.request_headers,
            idempotent=idempotent,
        )

    def _check_access(
        self, response: requests.Response, repo: RepositoryRef, *, hooks: bool = True
    ) -> None:
        """Raise the typed error a 401, 403 or 404 means (see ``_raise_for_access``)."""
        if response.status_code == 401:
            raise InvalidToken(
                f"{self.service} rejected the access token: it is {self.unauthorized_reasons}"
            )
        self._raise_for_access(response, repo, hooks=hooks)

    def _hooks_path(self, repo: RepositoryRef) -> str:
        return f"{self._repository_path(repo)}/hooks"

    def _hook_path(self, repo: RepositoryRef, hook_id: str) -> str:
        return f"{self._hooks_path(repo)}/{self._hook_id_segment(hook_id)}"

    def _page_params(self) -> dict[str, str | int]:
        """The page-size parameter of a first page; empty for the provider's default."""
        return {self.page_size_param: self._page_size} if self._page_size else {}

    def _expect(self, response: requests.Response, statuses: frozenset[int], action: str) -> None:
        if response.status_code not in statuses:
            raise unexpected(response, self.service, action)

    def _parsed(self, response: requests.Response, statuses: frozenset[int], action: str) -> Hook:
        self._expect(response, statuses, action)
        return self._hook(json_body(response, self.service))

    def _lookup_repository(
        self, repo: RepositoryRef, token: SecretStr, action: str
    ) -> tuple[requests.Response, Any]:
        """The repository's answer and JSON, once its status says it is visible."""
        response = self._request("GET", self._repository_path(repo), token=token)
        self._check_access(response, repo, hooks=False)
        self._expect(response, OK, action)
        return response, json_body(response, self.service)

    def _probe_hooks(self, repo: RepositoryRef, token: SecretStr) -> requests.Response:
        """The first hook of the list, unchecked: what a preflight asks to learn whether the
        token may manage hooks."""
        return self._request(
            "GET", self._hooks_path(repo), token=token, params={self.page_size_param: 1}
        )

    # -- WebhookClient ----------------------------------------------------------------------

    def create_hook(
        self, repo: RepositoryRef, token: SecretStr, callback_url: str, secret: SecretStr
    ) -> Hook:
        response = self._request(
            "POST", self._hooks_path(repo), token=token, json=self._hook_body(callback_url, secret)
        )
        if self._already_exists(response):
            # An equal hook is in the way: adopt it and give it our secret.
            existing = self.find_hook(repo, token, callback_url)
            if existing is not None:
                return self.update_hook(repo, token, existing.id, callback_url, secret)
        self._check_access(response, repo)
        self._raise_for_refused_create(response, token, secret)
        return self._parsed(response, self.created, "creating the webhook")

    def update_hook(
        self,
        repo: RepositoryRef,
        token: SecretStr,
        hook_id: str,
        callback_url: str,
        secret: SecretStr,
    ) -> Hook:
        response = self._send_update(repo, token, hook_id, self._hook_body(callback_url, secret))
        if response.status_code == 404:
            raise HookNotFound(f"{self.service} webhook {hook_id} no longer exists on {repo.path}")
        self._check_access(response, repo)
        return self._parsed(response, OK, "updating the webhook")

    def get_hook(self, repo: RepositoryRef, token: SecretStr, hook_id: str) -> Hook | None:
        response = self._request("GET", self._hook_path(repo, hook_id), token=token)
        if response.status_code == 404:
            return None
        self._check_access(response, repo)
        return self._parsed(response, OK, "reading the webhook")

    def find_hook(self, repo: RepositoryRef, token: SecretStr, callback_url: str) -> Hook | None:
        page = self._first_page(repo)
        for _ in range(MAX_PAGES):
            response = self._request("GET", page.path_or_url, token=token, params=page.params)
            self._check_access(response, repo)
            self._expect(response, OK, "listing webhooks")
            body = json_body(response, self.service)
            for item in self._page_items(body):
                hook = self._hook(item)
                if hook.url == callback_url:
                    return hook
            next_page = self._next_page(response, body, page)
            if next_page is None:
                return None
            page = next_page
        raise too_many_pages(self.service)

    def delete_hook(self, repo: RepositoryRef, token: SecretStr, hook_id: str) -> bool:
        response = self._request("DELETE", self._hook_path(repo, hook_id), token=token)
        if response.status_code == 404:
            return False
        self._check_access(response, repo)
        self._expect(response, self.deleted, "deleting the webhook")
        return True

    # -- reconciliation (repoconn_core.reconcile) -------------------------------------------
    # What a provider without a delivery-log API does: nothing. GitHub and GitLab override.

    def reenable_hook(self, repo: RepositoryRef, token: SecretStr, hook_id: str) -> bool:
        """Re-enable a hook the provider disabled after failures; this provider never does."""
        return False

    def delivery_history(
        self,
        repo: RepositoryRef,
        token: SecretStr,
        hook_id: str,
        since: datetime,
        *,
        max_pages: int,
    ) -> DeliveryHistory | None:
        """None: this provider's API exposes no delivery log."""
        return None

    def redeliver(
        self, repo: RepositoryRef, token: SecretStr, hook_id: str, attempt: DeliveryAttempt
    ) -> None:
        raise NotImplementedError(f"{self.service} offers no redelivery through its API")
