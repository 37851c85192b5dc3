"""Reading a provider's answer in the client modules: its JSON, the error for a status a call
does not expect, the end of a paging loop, and provider text with our secrets cut out.
(The transport that fetched the answer is ``http.py``.)"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests
from pydantic import SecretStr
from repoconn_core.errors import ProviderUnavailable

from repoconn_providers.http import MAX_PAGES


def scrub(text: str, secrets: Iterable[SecretStr | None]) -> str:
    """Text from a provider with any of our secrets cut out (defence in depth: providers
    do not echo tokens or hook secrets, but a detail string must never carry one)."""
    for secret in secrets:
        if secret is None:
            continue
        value = secret.get_secret_value()
        if value:
            text = text.replace(value, "***")
    return text


def json_body(response: requests.Response, service: str) -> Any:
    """The decoded JSON body; a non-JSON answer (an HTML error page from a proxy, say) is a
    provider fault, not a crash."""
    try:
        return response.json()
    except ValueError:
        raise ProviderUnavailable(
            f"{service} answered {response.status_code} with a body that is not JSON"
        ) from None


def unexpected(response: requests.Response, service: str, action: str) -> ProviderUnavailable:
    """The error for a status the client does not expect for ``action``."""
    return ProviderUnavailable(
        f"{service} answered {response.status_code} to {action}, which was not expected"
    )


def too_many_pages(service: str) -> ProviderUnavailable:
    return ProviderUnavailable(f"{service} pagination did not end after {MAX_PAGES} pages")
