"""Secret-leak scan: run a slice of the e2e scenario and of the fault matrix in-process, keep
everything observable, and look for every token and webhook secret used, in every encoding.

Observed (each counts as one artefact):
- every log record, at DEBUG, from the root logger and every non-propagating (Powertools)
  logger, rendered with all its attributes and its exception (tests/leakscan/capture.py);
- every line written to stdout/stderr (capfd: EMF metrics, anything printed);
- every HTTP answer: status, headers, body (the handlers, the gateway in front of the receiver);
- every stored item after every operation - connection items, project and connection
  pointers, delivery records, leases - raw from a Scan, and what the projectId-index returns;
- every EventBridge event (moto bus -> rule -> SQS tap).

Looked for: the access tokens sent in requests (accepted and refused ones), every webhook
secret the simulator held or was sent (/_sim/hooks after each step, and each create/update
through the fault-injecting client), every plaintext data key KMS handed out (canaries, caught
from the KMS responses themselves) and every bearer JWT sent through the gateway - raw,
URL-encoded, hex, base64/base64url with and without padding and at any byte offset
(tests/leakscan/scanner.py).

The whole module runs in the environment that used to leak without any code change
(``LEAKY_ENVIRONMENT``: Powertools' event logging and dev mode on, every level at DEBUG), with
the handler modules imported afresh under it, as a cold start with that configuration would.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from repoconn_core import wiring
from repoconn_core.connection_secrets import ConnectionSecrets
from repoconn_local.gateway.jwt_authorizer import mint_token

from tests.integration.faults.conftest import FIGURES
from tests.integration.faults.runner import perform, prepare
from tests.integration.faults.scenarios import PROVIDERS, REPO_A, REPO_B, TOKEN_1, TOKEN_2, generate
from tests.integration.faults.world import WORLD_JWT_SECRET, World
from tests.leakscan.capture import capturing_logs, text
from tests.leakscan.scanner import LeakScanner
from tests.support.api import GatewayApi
from tests.support.handlers import invoke
from tests.support.legacy_format import as_format_1

# Refused by the simulator (its token conventions) or by validation: such tokens end up in
# error paths, where leaks hide.
TOKENS = {
    "GitHub": "ghp_LeakScanGithubToken0123456789abcd",
    "GitLab": "glpat-LeakScanGitlabToken0123456789",
    "Bitbucket": "ATBBLeakScanBitbucketToken0123456789",
}
OTHER_PROJECT_TOKEN = "ghp_LeakScanOtherProjectToken98765432"
REFUSED = {
    "bad": "bad-LeakScanInvalidToken0123456789",
    "read-only": "ro-LeakScanReadOnlyToken0123456789",
    "rate-limited": "limited-LeakScanLimitedToken012345",
    "provider-down": "down-LeakScanDownToken0123456789ab",
    "slow": "slow-LeakScanSlowToken0123456789abc",
    "not-found": "ghp_LeakScanMissingRepoToken01234567",
}
WHITESPACE_TOKEN = "ghp_LeakScan Whitespace Token 0123456"

# Environment only, no code change: each of these used to put a secret in the logs (issue 14).
LEAKY_ENVIRONMENT = {
    "POWERTOOLS_LOGGER_LOG_EVENT": "true",  # the whole event: bearer JWT, accessToken, headers
    "POWERTOOLS_DEV": "true",  # the event handler prints every event
    "POWERTOOLS_EVENT_HANDLER_DEBUG": "true",
    "POWERTOOLS_LOG_LEVEL": "DEBUG",
    "AWS_LAMBDA_LOG_LEVEL": "DEBUG",
}


def _forget_handler_modules() -> None:
    """The next invocation imports every function afresh (a cold start)."""
    for name in [n for n in sys.modules if n == "functions" or n.startswith("functions.")]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def leaky_environment() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as env:
        for name, value in LEAKY_ENVIRONMENT.items():
            env.setenv(name, value)
        _forget_handler_modules()
        yield
    _forget_handler_modules()


@pytest.fixture(scope="module")
def world(leaky_environment: None, world: World) -> World:
    """The fault suite's world, built (its gateway's functions imported) in LEAKY_ENVIRONMENT."""
    return world


class DataKeys:
    """Every plaintext data key KMS returns to this process (GenerateDataKey and Decrypt), as
    the texts a log could show it in: base64 (a response body), hex, Python's bytes repr."""

    def __init__(self) -> None:
        self.keys: list[bytes] = []

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        plaintext = parsed.get("Plaintext")
        if isinstance(plaintext, bytes | bytearray) and len(plaintext) == 32:
            self.keys.append(bytes(plaintext))

    def canaries(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for n, key in enumerate(dict.fromkeys(self.keys)):
            found[f"data-key:{n}:base64"] = base64.b64encode(key).decode("ascii")
            found[f"data-key:{n}:hex"] = key.hex()
            found[f"data-key:{n}:repr"] = repr(key)[2:-1]
        return found


@pytest.fixture(scope="module")
def data_keys() -> Iterator[DataKeys]:
    # Every boto3.client the service builds comes from the default session (wiring.py).
    events = boto3._get_default_session().events
    canaries = DataKeys()
    events.register("after-call.kms", canaries)
    yield canaries
    events.unregister("after-call.kms", canaries)


def bearer_slice(world: World, seen: Observed, project: str, repo: str) -> list[str]:
    """The frontend's calls through the gateway, with bearer tokens: PUT, GET, DELETE."""
    api = GatewayApi(world.gateway.base_url)
    admin = mint_token("leak-admin", admin_of=[project], secret=WORLD_JWT_SECRET)
    member = mint_token("leak-member", member_of=[project], secret=WORLD_JWT_SECRET)
    statuses = [
        api.connect(project, repo, TOKENS["GitHub"], bearer_token=admin).status,
        api.read(project, bearer_token=member).status,
        api.connect(project, repo, TOKENS["GitHub"], bearer_token=member).status,  # 403
        api.disconnect(project, bearer_token=admin).status,
    ]
    seen.after(project)
    world.responses.extend(api.answers)
    assert statuses == [201, 200, 403, 200]
    return [admin, member]


class Observed:
    """Everything kept while the scenario runs, by kind."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.items: list[dict[str, Any]] = []
        self.index: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.projects: set[str] = set()

    def after(self, *projects: str) -> None:
        """Take the table, the index and the bus as they are now (and note hook secrets)."""
        self.projects.update(projects)
        self.items.extend(self.world.items())
        for project in sorted(self.projects):
            self.index.extend(self.world.index_items(project))
        self.events.extend(self.world.published())
        self.world.hooks()


def e2e_slice(world: World, seen: Observed, provider: str) -> None:
    """The README scenario and its refusals, through the deployed handlers."""
    world.reset()
    project, other = f"leak-{provider.lower()}", f"leak-{provider.lower()}-other"
    token, repo, moved = TOKENS[provider], REPO_A[provider], REPO_B[provider]
    statuses = []

    def step(response: Any) -> None:
        statuses.append(response.status)
        seen.after(project, other)

    step(world.put(project, repo, token))
    step(world.get(project))
    step(world.get(project, "/exists"))
    step(world.put(project, repo, token))  # rotates the secret; the old one is kept for grace
    [hook] = world.hooks()
    reencrypted_from_format_1(world, repo, token)
    seen.after(project, other)
    delivery = str(uuid.uuid4())
    step(world.deliver(provider, str(hook["id"]), delivery))
    step(world.deliver(provider, str(hook["id"]), delivery))  # duplicate
    forged = requests.post(
        f"{world.gateway.base_url}/webhooks/{world.get(project).json()['id']}",
        data=b'{"zen":"forged"}',
        headers={"Content-Type": "application/json", "X-Gitlab-Token": "not-the-secret"},
        timeout=10,
    )
    statuses.append(forged.status_code)
    step(world.put(other, repo, OTHER_PROJECT_TOKEN))  # 409: another project's repository
    for refused in REFUSED.values():
        url = moved.rsplit("/", 1)[0] + "/missing" if refused.startswith("ghp") else moved
        step(world.put(other, url, refused))
    step(world.put(other, repo.replace("https://", "http://"), token))  # 422 URL
    step(world.put(other, moved, WHITESPACE_TOKEN))  # 422 token
    member = {"sub": "m", "project_roles": [f"{project}:member"]}
    step(world.put(project, moved, token, claims=member))
    step(world.put(project, moved, token, claims={}))  # no usable identity
    step(world.put(project, moved, TOKEN_2))  # replace: 201
    step(world.deliver(provider, str(world.hooks()[0]["id"])))
    step(world.delete(project))
    step(world.get(project))
    assert statuses[:6] == [201, 200, 200, 200, 202, 200]
    assert 401 in statuses and 409 in statuses and 422 in statuses and 403 in statuses


def reencrypted_from_format_1(world: World, repository: str, token: str) -> None:
    """The connection turned back into a format-1 item, then moved to the current format by
    the operators' re-encryption function (it opens every secret of the item)."""
    store = wiring.connection_store()
    stored = store.get(repository)
    assert stored is not None
    # The stored secret, not the hook's listed one: GitLab's token is derived from it.
    secret = ConnectionSecrets(world.cipher).webhook_secret(stored).get_secret_value()
    legacy = as_format_1(
        stored, boto3.client("kms"), world.settings.kms_key_id, token=token, webhook_secret=secret
    )
    store.save(legacy, replacing=stored)
    report = invoke("reencrypt_connections", {}, timeout_seconds=900)  # template.yaml
    assert (report["reencrypted"], report["completed"]) == (1, True), report


def fault_slice(world: World, seen: Observed) -> int:
    """Every fault kind once per operation (its first step), with the retry after it."""
    picked: dict[tuple[str, str], Any] = {}
    for case in generate():
        picked.setdefault((case.op.name, case.fault.name), case)
    for case in picked.values():
        given = prepare(world, case.op.name, case.provider)
        with world.injector.armed(case.plan):
            response = perform(world, case.op.name, case.provider, given)
        seen.after("p1")
        if response.status >= 400:
            perform(world, case.op.name, case.provider, given)
            seen.after("p1")
    return len(picked)


def test_the_leaky_environment_would_leak_without_the_code_saying_no() -> None:
    # given LEAKY_ENVIRONMENT (the module's fixture sets it for the world; here checked alone)
    with pytest.MonkeyPatch.context() as env:
        for name, value in LEAKY_ENVIRONMENT.items():
            env.setenv(name, value)
        # then Powertools' defaults would print events and log them (so the scan below is a
        # test of the explicit debug=False / log_event=False), and botocore would log bodies
        assert APIGatewayHttpResolver()._debug is True
        assert os.environ["POWERTOOLS_LOGGER_LOG_EVENT"] == "true"
    assert logging.getLogger("botocore").getEffectiveLevel() >= logging.WARNING, (
        "the functions pin botocore's logger (repoconn_core.logs)"
    )


def test_no_token_or_secret_appears_in_any_log_answer_item_or_event(
    world: World, data_keys: DataKeys, capfd: pytest.CaptureFixture[str]
) -> None:
    # given everything the service shows while running the e2e slice and the frontend's bearer
    # calls (logs at DEBUG, every library's included) and the fault slice (logs at INFO: DEBUG
    # there means minutes), all in LEAKY_ENVIRONMENT
    seen = Observed(world)
    world.responses.clear()
    received_before = len(world.gateway.responses)
    requests_before = len(world.gateway.requests)
    with capturing_logs(logging.DEBUG) as logs:
        for provider in PROVIDERS:
            e2e_slice(world, seen, provider)
        bearer_tokens = bearer_slice(world, seen, "leak-bearer", REPO_A["GitHub"])
    records = list(logs.records)
    with capturing_logs(logging.INFO) as logs:
        faults = fault_slice(world, seen)
    records += logs.records
    output = capfd.readouterr()
    answers = world.responses + world.gateway.responses[received_before:]

    # and every token and webhook secret that was used
    scanner = LeakScanner()
    scanner.add_secrets({f"token:{name}": value for name, value in TOKENS.items()})
    scanner.add_secrets({f"token:refused-{name}": value for name, value in REFUSED.items()})
    scanner.add_secrets(
        {
            "token:other-project": OTHER_PROJECT_TOKEN,
            "token:whitespace": WHITESPACE_TOKEN,
            "token:faults-1": TOKEN_1,
            "token:faults-2": TOKEN_2,
        }
    )
    secrets = sorted(world.secrets_seen)
    scanner.add_secrets({f"webhook-secret:{n}": value for n, value in enumerate(secrets)})
    assert len(secrets) >= 20, "too few webhook secrets seen for the scan to mean much"
    scanner.add_secrets({f"bearer:{n}": token for n, token in enumerate(bearer_tokens)})
    # a JWT's signature alone is a secret too (the claims before it are not)
    scanner.add_secrets(
        {f"bearer:{n}:signature": t.rsplit(".", 1)[1] for n, t in enumerate(bearer_tokens)}
    )
    canaries = data_keys.canaries()
    scanner.add_secrets(canaries)
    assert len(canaries) >= 3 * 20, "too few data keys seen for the scan to mean much"
    FIGURES["leak_data_keys"] += len(canaries) // 3

    # (positive control: the provider's own requests carry a secret - GitLab sends it as a
    # header - so the scanner and the secret set do find what is there)
    provider_requests = world.gateway.requests[requests_before:]
    assert any(scanner.find(headers) for headers, _ in provider_requests)

    # when every artefact is scanned
    scanner.scan_all("log", (text(record) for record in records))
    scanner.scan_all("stdout", output.out.splitlines())
    scanner.scan_all("stderr", output.err.splitlines())
    scanner.scan_all(
        "response", ({"status": r.status, "headers": r.headers, "body": r.text} for r in answers)
    )
    scanner.scan_all("item", seen.items)
    scanner.scan_all("index", seen.index)
    scanner.scan_all("event", seen.events)

    counts = Counter(
        {
            "log": len(records),
            "output": len(output.out.splitlines()) + len(output.err.splitlines()),
            "response": len(answers),
            "item": len(seen.items),
            "index": len(seen.index),
            "event": len(seen.events),
        }
    )
    FIGURES["leak_artefacts"] += scanner.artefacts_scanned
    FIGURES["leak_secrets"] += len(scanner.secrets)
    FIGURES["leak_fault_cases"] += faults
    for kind, count in counts.items():
        FIGURES[f"leak:{kind}"] += count

    # then none of them holds any of the secrets, in any encoding
    assert scanner.artefacts_scanned == sum(counts.values())
    assert all(counts[kind] > 0 for kind in counts), counts
    assert [str(leak) for leak in scanner.leaks] == [], json.dumps(counts)
