"""The HTTP API's JWT authorizer, emulated for local runs, and the tokens it accepts.

API Gateway validates a JWT before any Lambda runs
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html):
the identity source holds the token, optionally prefixed with ``Bearer``; the signature must
verify; ``iss`` must be the configured issuer; ``aud`` — or ``client_id`` when there is no
``aud`` — must be one of the configured audiences; ``exp`` must be in the future and ``nbf`` /
``iat``, when present, in the past; a route with authorization scopes needs one of them in
``scope`` / ``scp``. A failed check is ``401 {"message":"Unauthorized"}`` with a
``www-authenticate`` header saying why; missing scopes are ``403 {"message":"Forbidden"}``.

Locally the difference is the key: AWS fetches the issuer's RSA keys (JWKS); here tokens are
HS256 with a local-only secret (``LOCAL_JWT_SECRET``, else an embedded default that is public
by design — it must never guard anything real), and issuer and audience are the constants
below instead of the template's parameters. ``mint_token`` makes such tokens with the claims
the service reads (``Settings.roles_claim``, ``groups_claim``, ``platform_admin_group``; see
repoconn_core.identity).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from repoconn_core.settings import Settings

LOCAL_ISSUER = "http://127.0.0.1/repoconn-local"
LOCAL_AUDIENCE = "repoconn-local"
ALGORITHM = "HS256"
SECRET_ENV = "LOCAL_JWT_SECRET"  # noqa: S105 - the variable's name, not a secret
# Public on purpose (it is in the repository): tokens signed with it only open a local run.
# 32+ bytes, the minimum RFC 7518 asks of an HS256 key.
DEFAULT_LOCAL_SECRET = "repoconn-local-only-signing-secret-do-not-use-in-aws"  # noqa: S105
DEFAULT_TTL_SECONDS = 3600


def signing_secret(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get(SECRET_ENV) or DEFAULT_LOCAL_SECRET


def mint_token(
    sub: str,
    *,
    admin_of: Sequence[str] = (),
    member_of: Sequence[str] = (),
    platform_admin: bool = False,
    scopes: Sequence[str] = (),
    access_token: bool = False,
    ttl: int = DEFAULT_TTL_SECONDS,
    settings: Settings | None = None,
    secret: str | None = None,
    now: float | None = None,
) -> str:
    """A token the local gateway accepts for ``sub``: admin of the projects ``admin_of``,
    member of ``member_of``, in the platform-wide admin group when ``platform_admin`` (only
    when the settings name one), with the OAuth ``scopes``.

    The roles claim is an array of ``<projectId>:<role>`` entries, which the authorizer hands
    to the function flattened (``[p1:admin p2:member]``) exactly as API Gateway does. An ID
    token by default (``aud``); ``access_token`` makes it shaped like a Cognito access token
    (``client_id`` instead of ``aud``, ``token_use: access``).
    """
    config = settings or Settings.from_env()
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": LOCAL_ISSUER,
        "sub": sub,
        "iat": issued,
        "exp": issued + ttl,
        "jti": str(uuid.uuid4()),
        "token_use": "access" if access_token else "id",
        **({"client_id": LOCAL_AUDIENCE} if access_token else {"aud": LOCAL_AUDIENCE}),
    }
    roles = [f"{project}:admin" for project in admin_of]
    roles += [f"{project}:member" for project in member_of if project not in admin_of]
    if roles:
        # Like Cognito's groups claim, absent rather than empty for a caller with no role.
        claims[config.roles_claim] = roles
    if platform_admin:
        if not config.platform_admin_group:
            raise ValueError(
                "no platform admin group is configured (PLATFORM_ADMIN_GROUP is empty)"
            )
        claims[config.groups_claim] = [config.platform_admin_group]
    if scopes:
        claims["scope"] = " ".join(scopes)
    return jwt.encode(claims, secret or signing_secret(), algorithm=ALGORITHM)


@dataclass(frozen=True)
class AuthDenied:
    """Why the authorizer refused: the status, body message and www-authenticate header."""

    status: int
    message: str
    www_authenticate: str | None = None


@dataclass(frozen=True)
class LocalJwtAuthorizer:
    """Validates a request's token the way the HTTP API's JWT authorizer does."""

    secret: str
    issuer: str = LOCAL_ISSUER
    audiences: tuple[str, ...] = (LOCAL_AUDIENCE,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LocalJwtAuthorizer:
        return cls(secret=signing_secret(environ))

    def authorize(
        self, identity: str | None, scopes: Sequence[str] = (), *, now: float | None = None
    ) -> dict[str, Any] | AuthDenied:
        """The token's claims, or why the request is refused. ``identity`` is the raw header."""
        token = _token_from(identity)
        if token is None:
            # No identity source: API Gateway answers without a www-authenticate reason.
            return AuthDenied(401, "Unauthorized")
        try:
            claims = self._claims(token, time.time() if now is None else now)
        except _Invalid as invalid:
            return AuthDenied(
                401,
                "Unauthorized",
                f'Bearer scope="" error="invalid_token" error_description="{invalid}"',
            )
        if scopes and not set(scopes) & _token_scopes(claims):
            return AuthDenied(
                403,
                "Forbidden",
                f'Bearer scope="{" ".join(scopes)}" error="insufficient_scope" '
                'error_description="the token does not have the required scopes"',
            )
        return claims

    def _claims(self, token: str, now: float) -> dict[str, Any]:
        try:
            # Signature only: each claim is checked below, with API Gateway's rules and words.
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.InvalidSignatureError as error:
            raise _Invalid("signature is invalid") from error
        except jwt.InvalidTokenError as error:
            raise _Invalid("the token is malformed") from error
        if claims.get("iss") != self.issuer:
            raise _Invalid("the token does not have a valid issuer")
        audience = claims["aud"] if "aud" in claims else claims.get("client_id")
        offered = audience if isinstance(audience, list) else [audience]
        if not any(isinstance(item, str) and item in self.audiences for item in offered):
            raise _Invalid("the token does not have a valid audience")
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            raise _Invalid("the token has no expiry")
        if now >= expires:
            raise _Invalid("the token has expired")
        for name in ("nbf", "iat"):
            if name in claims and (not _is_number(claims[name]) or claims[name] > now):
                raise _Invalid(f"the token is not valid yet ({name})")
        return claims


class _Invalid(Exception):
    """A token check failed; the message is API Gateway's error_description."""


def _token_from(identity: str | None) -> str | None:
    if identity is None or not identity.strip():
        return None
    value = identity.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    return value or None


def _token_scopes(claims: Mapping[str, Any]) -> set[str]:
    scopes: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            scopes.update(value.split())
        elif isinstance(value, list):
            scopes.update(str(item) for item in value)
    return scopes


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
