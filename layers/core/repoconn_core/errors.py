"""Domain errors: each carries its HTTP status and a stable machine code.

One place (``repoconn_core.problems``) turns them into RFC 9457 problem details, so no
route chooses a status code itself. A ``detail`` must never contain a token or secret.
"""

from __future__ import annotations


class DomainError(Exception):
    status: int = 500
    code: str = "internal_error"
    title: str = "Internal error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title

    def headers(self) -> dict[str, str]:
        return {}


class ValidationFailed(DomainError):
    status, code, title = 422, "validation_failed", "Request validation failed"

    def __init__(self, detail: str = "", errors: list[dict[str, object]] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors or []


class MalformedBody(DomainError):
    status, code, title = 400, "malformed_body", "Request body is not valid JSON"


class InvalidCursor(DomainError):
    """A listing's ``cursor`` that no page of ours handed out (delivery_history.py)."""

    status, code, title = 400, "invalid_cursor", "Invalid cursor"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or "The cursor is not one a previous page returned.")


class InvalidRepositoryUrl(ValidationFailed):
    code, title = "invalid_repository_url", "Not an accepted repository URL"


class ServiceTypeMismatch(ValidationFailed):
    code, title = "service_type_mismatch", "serviceType does not match the repository host"


class Unauthenticated(DomainError):
    status, code, title = 401, "unauthenticated", "Authentication required"


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Not allowed"


class InsufficientScope(Forbidden):
    code, title = "insufficient_scope", "The token lacks a required scope"


class ConnectionNotFound(DomainError):
    status, code, title = 404, "connection_not_found", "No repository connection"


class RepositoryAlreadyConnected(DomainError):
    status, code, title = 409, "repository_already_connected", "Repository already connected"


class ConcurrentModification(DomainError):
    status, code, title = 409, "concurrent_modification", "The connection changed meanwhile"


class InvalidToken(DomainError):
    status, code, title = 422, "invalid_token", "The provider rejected the access token"


class InsufficientPermissions(DomainError):
    status, code, title = 422, "insufficient_permissions", "The access token lacks permissions"


class RepositoryNotFound(DomainError):
    status, code, title = 422, "repository_not_found", "Repository not found at the provider"


class _RetryLater(DomainError):
    status = 503

    def __init__(self, detail: str = "", retry_after: int = 30) -> None:
        super().__init__(detail)
        self.retry_after = max(1, int(retry_after))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ProviderRateLimited(_RetryLater):
    code, title = "provider_rate_limited", "The provider rate-limited the request"


class DependencyUnavailable(_RetryLater):
    code, title = "dependency_unavailable", "A backing service is unavailable"


class ProviderUnavailable(DomainError):
    status, code, title = 502, "provider_unavailable", "The provider could not be reached"


class HookNotFound(DomainError):
    """The provider says the hook does not exist (any more). Internal: never reaches a client."""

    status, code, title = 404, "hook_not_found", "Webhook not found at the provider"


class ProviderAddressRefused(ProviderUnavailable):
    """The provider's API host resolved — or a GET redirected — to an address the service never
    contacts (loopback, private, link-local, metadata, ...; see ``network_policy``), or asked for
    plain HTTP outside a local run. Nothing was sent. For the caller this is an unreachable
    provider (502 ``provider_unavailable``) with one fixed detail; which address and why is
    only logged, so a response never maps the service's network."""

    def __init__(self, service: str) -> None:
        super().__init__(f"{service}: provider address not allowed")


class RouteNotFound(DomainError):
    """The path reached a function but none of its resolver's routes (e.g. a percent-encoded
    "/" in projectId)."""

    status, code, title = 404, "route_not_found", "Not found"


class StoredSecretUnreadable(DomainError):
    """A stored secret failed to decrypt: tampered, moved to another item or field, or of an
    unknown format. ``field`` names the attribute (never its value)."""

    status, code, title = 500, "stored_secret_unreadable", "A stored secret could not be read"

    def __init__(self, detail: str = "", *, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class DeliveryRejected(DomainError):
    """Every reason a webhook delivery is refused looks the same from outside (no oracle)."""

    status, code, title = 401, "invalid_signature", "Delivery rejected"

    def __init__(self, detail: str = "") -> None:
        # One detail for every cause, whatever the caller passes.
        super().__init__("The delivery could not be verified.")


class PayloadTooLarge(DomainError):
    status, code, title = 413, "payload_too_large", "Payload too large"
