"""Contract fuzzing: schemathesis generates requests from docs/openapi.json (the frontend's API)
and docs/openapi-webhooks.json (the providers' webhook receiver) and sends them to the running
local stack (``repoconn dev``); every answer must keep the documented contract.

Checks on every case: no 5xx (``not_a_server_error``), the status code is documented for the
operation, the content type is one documented for that status, the body validates against
that content type's schema, documented headers conform, invalid input is refused with a 4xx
(``negative_data_rejection``), and every error is problem+json — or API Gateway's own
``{"message": ...}`` for the gateway's 401/404/413/503, which the document lists as
``GatewayError`` under ``application/json``.

The generated cases are steered, not replaced, so they reach past the first refusal. Each
case's own generated content seeds a small random generator (so a replayed or shrunk case is
steered the same way) that picks the caller (admin or member token from ``repoconn token``,
no token, a token that is not a JWT), often a project the caller may access, for most of the
PUT bodies a real repository URL with a simulator token prefix (``bad-``, ``ro-``, ``down-``,
``limited-``), and for most webhook deliveries a real connection and its real secret to sign
with, so fuzzed payloads and headers reach parsing, replay protection and publishing.

Phases: schema examples, schemathesis' coverage phase (boundary and invalid values for every
parameter, body field, content type and method) and random generation, positive and negative.
Deterministic: fixed seed, ``derandomize``, no example database. Bounded: ``max-examples`` per
operation, a per-case deadline and request time-out. Run with ``make fuzz``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.conftest import CASES, LocalRun
from tests.support.api import given_connected

DOCS = Path(__file__).resolve().parents[2] / "docs"
OPENAPI = DOCS / "openapi.json"
WEBHOOKS_OPENAPI = DOCS / "openapi-webhooks.json"
SEED = 20240611
# Per operation in the random (fuzzing) phase; the examples and coverage phases add their own
# cases. The total actually sent is counted and asserted below.
MAX_EXAMPLES = 400
MIN_TOTAL_CASES = 1000
REQUEST_TIMEOUT_SECONDS = 15
CASE_DEADLINE = timedelta(seconds=20)

# API Gateway's own error bodies (the local gateway mimics them; it does not throttle, 429).
GATEWAY_ERRORS = {
    401: "Unauthorized",
    404: "Not Found",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
PROBLEM_JSON = "application/problem+json"
WEBHOOK = "/webhooks/{connectionId}"

FUZZ_PROJECTS = ("fuzz-a", "fuzz-b")
REAL_URLS = (
    "https://github.com/fuzz/api",
    "https://GitHub.com/Fuzz/API.git",
    "git@github.com:fuzz/web.git",
    "ssh://git@github.com:22/fuzz/cli.git",
    "https://gitlab.com/fuzz/group/sub/repo",
    "https://gitlab.com/fuzz/repo/-/tree/main",
    "https://bitbucket.org/fuzz/slug",
    "https://github.com/fuzz/missing",
    "https://github.com/fuzz/api/pulls",
    "http://github.com/fuzz/api",
    "https://127.0.0.1/fuzz/api",
    "https://example.com/fuzz/api",
)
TOKEN_PREFIXES = ("", "", "", "bad-", "ro-", "down-", "limited-")
# Admin twice: most of what can go wrong happens past authorisation.
CALLERS = ("admin", "admin", "member", "none", "garbage")
SERVICE_TYPES = (None, "GitHub", "GitLab", "Bitbucket")

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
            # The Authorization header is chosen per case below (CALLERS).
            "with-security-parameters": False,
        },
        # Nothing learnt from responses (ids, timestamps, 4xx feedback) flows back into
        # generation: a run sends the same cases every time.
        "phases": {
            "stateful": {"enabled": False},
            "examples": {"extra-data-sources": {"responses": False}},
            "coverage": {"extra-data-sources": {"responses": False}},
            "fuzzing": {
                "extra-data-sources": {"responses": False},
                "error-feedback": {"enabled": False},
            },
        },
    }
)
SCHEMA = schemathesis.openapi.from_path(OPENAPI, config=CONFIG)
WEBHOOKS_SCHEMA = schemathesis.openapi.from_path(WEBHOOKS_OPENAPI, config=CONFIG)


@schemathesis.check
def errors_are_problem_json(ctx: CheckContext, response: Any, case: schemathesis.Case) -> bool:
    """Every 4xx/5xx is problem+json with the status in the body, or one of API Gateway's own
    answers ({"message": ...}) for the statuses API Gateway itself sends."""
    status = response.status_code
    if status < 400:
        return True
    content_type = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    try:
        body = json.loads(response.content or b"null")
    except ValueError as error:
        raise AssertionError(
            f"error body is not JSON: {status} {response.content[:200]!r}"
        ) from error
    if content_type == PROBLEM_JSON:
        assert isinstance(body, dict) and body.get("status") == status and body.get("code"), (
            f"problem body without its status and code: {status} {body!r}"
        )
        return True
    if content_type == "application/json" and body == {"message": GATEWAY_ERRORS.get(status)}:
        return True
    raise AssertionError(
        f"error is neither problem+json nor an API Gateway answer: {status} {content_type} {body!r}"
    )


# The simulator's down-/limited- tokens make the provider fail on purpose: the contract's
# 502 provider_unavailable / 503 provider_rate_limited are then the right answer, not a fault.
PROVOKED = {"down-": (502, "provider_unavailable"), "limited-": (503, "provider_rate_limited")}


@schemathesis.check
def no_unprovoked_server_error(ctx: CheckContext, response: Any, case: schemathesis.Case) -> bool:
    """``not_a_server_error``, except for the provider failure the request itself provoked."""
    token = case.body.get("accessToken") if isinstance(case.body, dict) else None
    for prefix, (status, code) in PROVOKED.items():
        if isinstance(token, str) and token.startswith(prefix) and response.status_code == status:
            assert _outcome(response) == f"{status} {code}", _outcome(response)
            return True
    not_a_server_error(ctx, response, case)
    return True


CHECKS = [
    no_unprovoked_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    errors_are_problem_json,
]


@dataclass(frozen=True)
class SignedHook:
    provider: str
    connection_id: str
    secret: str
    signing_token: str | None = None  # a GitLab hook's whsec_ Standard Webhooks token


@dataclass(frozen=True)
class FuzzTarget:
    run: LocalRun
    authorization: dict[str, str | None]
    hooks: tuple[SignedHook, ...]
    session: requests.Session


@pytest.fixture(scope="module")
def target(local_run: LocalRun) -> Iterator[FuzzTarget]:
    admin = local_run.token("fuzz-admin", *FUZZ_PROJECTS, admin=True)
    member = local_run.token("fuzz-member", FUZZ_PROJECTS[0])
    session = requests.Session()
    # Reads run first (schema order): give them a connection to find, in the first project.
    given_connected(
        local_run.gateway,
        "https://github.com/fuzz/seed",
        project=FUZZ_PROJECTS[0],
        token="fuzz-seed-token",
        bearer_token=admin,
    )
    hooks = tuple(_connect_hook_targets(local_run))
    yield FuzzTarget(
        run=local_run,
        authorization={
            "admin": f"Bearer {admin}",
            "member": f"Bearer {member}",
            "none": None,
            "garbage": "Bearer not-a-jwt",
        },
        hooks=hooks,
        session=session,
    )
    session.close()


def _connect_hook_targets(run: LocalRun) -> Iterator[SignedHook]:
    """One connection per provider, in projects no fuzz caller may touch; their hooks' real
    secrets (from the simulator) sign some of the fuzzed deliveries."""
    repositories = {
        "github": "https://github.com/fuzz-hooks/github",
        "gitlab": "https://gitlab.com/fuzz-hooks/gitlab",
        "bitbucket": "https://bitbucket.org/fuzz-hooks/bitbucket",
    }
    for provider, url in repositories.items():
        project = f"fuzz-hooks-{provider}"
        token = run.token("fuzz-hooks", project, admin=True)
        connected = given_connected(
            run.gateway, url, project=project, token=f"fuzz-{provider}-token", bearer_token=token
        )
        hook = run.sim.hook_of(connected["id"])
        yield SignedHook(provider, connected["id"], str(hook["secret"]), hook.get("signingToken"))


@SCHEMA.parametrize()
@settings(deadline=CASE_DEADLINE, suppress_health_check=[HealthCheck.too_slow])
def test_every_generated_request_keeps_the_contract(
    case: schemathesis.Case, target: FuzzTarget
) -> None:
    send_and_check(case, target)


@WEBHOOKS_SCHEMA.parametrize()
@settings(deadline=CASE_DEADLINE, suppress_health_check=[HealthCheck.too_slow])
def test_every_generated_delivery_keeps_the_receivers_contract(
    case: schemathesis.Case, target: FuzzTarget
) -> None:
    send_and_check(case, target)


def send_and_check(case: schemathesis.Case, target: FuzzTarget) -> None:
    # Given a generated case, steered by its own content towards a caller and real data
    steer = random.Random(_fingerprint(case))
    caller = steer.choice(CALLERS)
    headers = _authorization(target, caller)
    # Assigned, not edited in place: schemathesis then re-checks whether the case is still
    # schema-violating (negative), which negative_data_rejection relies on.
    if "projectId" in (case.path_parameters or {}) and steer.random() < 0.6:
        case.path_parameters = {**case.path_parameters, "projectId": steer.choice(FUZZ_PROJECTS)}
    if case.method == "PUT" and isinstance(case.body, dict) and steer.random() < 0.7:
        case.body = _plausible_connect_body(dict(case.body), steer)

    # When it is sent to the local stack
    if case.operation.path == WEBHOOK and target.hooks and steer.random() < 0.7:
        response = _send_signed_delivery(case, target, steer.choice(target.hooks), steer)
    else:
        response = case.call(
            base_url=target.run.api,
            session=target.session,
            headers=headers,
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
    CASES[(case.operation.label, _outcome(response))] += 1

    # Then the answer keeps the documented contract
    case.validate_response(response, checks=CHECKS, headers=headers)


def _fingerprint(case: schemathesis.Case) -> int:
    """A number derived from what schemathesis generated: the same case steers the same way."""
    body = None if isinstance(case.body, NotSet) else case.body  # NotSet's repr is an address
    generated = repr((case.method, case.path_parameters, case.headers, case.query, body))
    return int.from_bytes(hashlib.sha256(generated.encode()).digest()[:8], "big")


def _outcome(response: Any) -> str:
    """The status, with the problem code when there is one: what the figures are made of."""
    try:
        code = response.json().get("code") if response.status_code >= 400 else None
    except (ValueError, AttributeError):
        code = None
    return f"{response.status_code} {code}" if code else str(response.status_code)


def _authorization(target: FuzzTarget, caller: str) -> dict[str, str]:
    value = target.authorization[caller]
    return {"Authorization": value} if value is not None else {}


def _plausible_connect_body(body: dict[str, Any], steer: random.Random) -> dict[str, Any]:
    """A body that can get past validation: a real repository URL, no or some serviceType, and
    a printable-ASCII token whose prefix tells the simulator how to answer."""
    body["repositoryUrl"] = steer.choice(REAL_URLS)
    service_type = steer.choice(SERVICE_TYPES)
    if service_type is None and steer.random() < 0.5:
        body.pop("serviceType", None)
    else:
        body["serviceType"] = service_type
    token = body.get("accessToken")
    if not (isinstance(token, str) and token and all("!" <= ch <= "~" for ch in token)):
        token = f"{steer.getrandbits(64):016x}"
    body["accessToken"] = steer.choice(TOKEN_PREFIXES) + token[:64]
    return body


# A kind each provider's hook subscribes to, under its event header: without one, a signed
# delivery is acknowledged and dropped before the recording path is reached.
SUBSCRIBED_KIND = {
    "github": ("X-GitHub-Event", "push"),
    "gitlab": ("X-Gitlab-Event", "Push Hook"),
    "bitbucket": ("X-Event-Key", "repo:push"),
}


def _send_signed_delivery(
    case: schemathesis.Case, target: FuzzTarget, hook: SignedHook, steer: random.Random
) -> Any:
    """Send the delivery to a real connection, signed as its provider signs (over the exact
    bytes sent), so the fuzzed payload and headers get past verification; mostly under a kind
    the hook subscribes to, so the fuzzed payload reaches the recording path."""
    case.path_parameters = {**case.path_parameters, "connectionId": hook.connection_id}
    kwargs = case.as_transport_kwargs(base_url=target.run.api)
    body = _body_bytes(kwargs)
    headers = dict(kwargs.pop("headers", None) or {})
    headers.update(_signature(hook, body))
    if steer.random() < 0.75:
        name, kind = SUBSCRIBED_KIND[hook.provider]
        headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
        headers[name] = kind
    kwargs.update(data=body, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)
    return target.session.request(**kwargs)


def _body_bytes(kwargs: dict[str, Any]) -> bytes:
    if "json" in kwargs:
        kwargs.setdefault("headers", {}).setdefault("Content-Type", "application/json")
        return json.dumps(kwargs.pop("json")).encode()
    data = kwargs.pop("data", b"")
    if isinstance(data, dict):
        return requests.models.RequestEncodingMixin._encode_params(data).encode()
    return data.encode() if isinstance(data, str) else bytes(data or b"")


def _signature(hook: SignedHook, body: bytes) -> dict[str, str]:
    digest = hmac.new(hook.secret.encode(), body, hashlib.sha256).hexdigest()
    if hook.provider == "github":
        return {"X-Hub-Signature-256": f"sha256={digest}"}
    if hook.provider == "bitbucket":
        return {"X-Hub-Signature": f"sha256={digest}"}
    headers = {"X-Gitlab-Token": hook.secret}
    if hook.signing_token is not None:
        # Its hook has a signing token: the receiver requires the Standard Webhooks signature
        # (over the exact bytes, which need not be UTF-8: signed here, not by the reference
        # library, which takes text).
        key = base64.b64decode(hook.signing_token.removeprefix("whsec_"))
        message_id, stamp = str(uuid.uuid4()), str(int(time.time()))
        content = f"{message_id}.{stamp}.".encode() + body
        signature = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
        headers |= {
            "webhook-id": message_id,
            "webhook-timestamp": stamp,
            "webhook-signature": f"v1,{signature}",
        }
    return headers


def test_at_least_the_promised_number_of_cases_ran(request: pytest.FixtureRequest) -> None:
    # Given the whole suite ran (not a -k selection of some operations)
    operations = {label for label, _ in CASES}
    documented = [*SCHEMA.get_all_operations(), *WEBHOOKS_SCHEMA.get_all_operations()]
    if len(operations) < len(documented):
        pytest.skip("only part of the fuzz suite ran")
    # Then the count of cases actually sent meets the figure the suite promises
    total = sum(CASES.values())
    assert total >= MIN_TOTAL_CASES, f"only {total} generated cases were sent"
