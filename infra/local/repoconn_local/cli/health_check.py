"""One health-check pass against a running local stack (``make dev``), from another process.

The stack's state lives in the ``repoconn dev`` process, but both servers that hold it listen
on loopback: the embedded moto server (its URL is in the banner, "embedded AWS (moto) ...")
and the provider simulator. So a pass needs no control endpoint in the dev process: this
module points *this* process's environment at those servers, as ``LocalStack`` does for its
own, and invokes the real HealthCheckFunction handler once with a scheduled event — the
same code, wiring and settings the deployed function runs.

    repoconn health-check            # against `make dev` on its default ports
    python -m repoconn_local.cli.health_check --aws-endpoint-url http://127.0.0.1:AWS_PORT

Output: the function's own logs and metrics (JSON, stdout), then the report as the last line.
The environment is process-wide, so run this in its own process (the CLI does).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from repoconn_core import wiring

from repoconn_local.aws.embedded import (
    DEFAULT_KEY_ALIAS,
    DEFAULT_REGION,
    DEFAULT_TABLE_NAME,
    FAKE_CREDENTIALS,
)
from repoconn_local.aws.template_schema import DEFAULT_TEMPLATE_PATH, load_template
from repoconn_local.lambda_host.context import LocalLambdaContext
from repoconn_local.lambda_host.function_host import import_function_module
from repoconn_local.local_ports import (
    DEFAULT_AWS_PORT,
    DEFAULT_PORT,
    DEFAULT_SIM_PORT,
    LOCAL_HOST,
    port_from_env,
)
from repoconn_local.simulator.bitbucket import BitbucketApi
from repoconn_local.simulator.github import GitHubApi
from repoconn_local.simulator.gitlab import GitLabApi
from repoconn_local.stack import SERVICE_ENVIRONMENT

FUNCTION_ID = "HealthCheckFunction"
HANDLER_MODULE = "functions.health_check.app"
# A real session token or profile next to the fake keys would only confuse boto3.
_REAL_CREDENTIAL_HINTS = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE")


@dataclass(frozen=True)
class LocalStackAddress:
    """Where a running ``repoconn dev`` listens, and the names it created."""

    aws_endpoint_url: str
    simulator_url: str = f"http://{LOCAL_HOST}:{DEFAULT_SIM_PORT}"
    # The stack's API: hooks registered by the stack call back here, and a repair must
    # register the same callback URL or it would not find the hooks the stack made.
    api_url: str = f"http://{LOCAL_HOST}:{DEFAULT_PORT}"
    region: str = DEFAULT_REGION
    table_name: str = DEFAULT_TABLE_NAME
    kms_key_id: str = DEFAULT_KEY_ALIAS


def local_environment(address: LocalStackAddress) -> dict[str, str]:
    """The variables the function reads, pointed at the running stack (Settings' names)."""
    simulator = address.simulator_url.rstrip("/")
    return {
        "AWS_ENDPOINT_URL": address.aws_endpoint_url.rstrip("/"),
        "AWS_DEFAULT_REGION": address.region,
        "AWS_REGION": address.region,
        **FAKE_CREDENTIALS,
        "TABLE_NAME": address.table_name,
        "KMS_KEY_ID": address.kms_key_id,
        "WEBHOOK_BASE_URL": address.api_url.rstrip("/"),
        "GITHUB_API_URL": simulator + GitHubApi.prefix,
        "GITLAB_API_URL": simulator + GitLabApi.prefix,
        "BITBUCKET_API_URL": simulator + BitbucketApi.prefix,
        **SERVICE_ENVIRONMENT,
    }


def scheduled_event(*, now: datetime | None = None, region: str = DEFAULT_REGION) -> dict[str, Any]:
    """What EventBridge Scheduler's ``rate(...)`` rule delivers to the function."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/repoconn-health-check"],
        "detail": {},
    }


def invoke_health_check(
    *, template_path: str | Path | None = None, region: str = DEFAULT_REGION
) -> dict[str, Any]:
    """Invoke the handler once with the current process environment; its report."""
    template = load_template(template_path)
    code_root = Path(template_path or DEFAULT_TEMPLATE_PATH).resolve().parent
    module = import_function_module(HANDLER_MODULE, code_root)
    context = LocalLambdaContext(
        function_name=FUNCTION_ID,
        timeout_seconds=_function_timeout(template),
        region=region,
    )
    report: dict[str, Any] = module.lambda_handler(scheduled_event(region=region), context)
    return report


def run_health_check_once(
    address: LocalStackAddress,
    *,
    template_path: str | Path | None = None,
) -> dict[str, Any]:
    """Point this process at the running stack and run one pass; the function's report.

    Changes ``os.environ`` for good (the function reads it, as in a Lambda sandbox)."""
    os.environ.update(local_environment(address))
    for name in _REAL_CREDENTIAL_HINTS:
        os.environ.pop(name, None)
    # Builders cached for another environment (a test, an earlier pass) must not be reused.
    wiring.reset()
    return invoke_health_check(template_path=template_path, region=address.region)


def _function_timeout(template: Mapping[str, Any]) -> float:
    function = template.get("Resources", {}).get(FUNCTION_ID, {}).get("Properties", {})
    defaults = template.get("Globals", {}).get("Function", {})
    return float(function.get("Timeout", defaults.get("Timeout", 3)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``repoconn health-check`` (shared with ``python -m``)."""
    # The same variables as `repoconn dev` (PORT, SIM_PORT, AWS_PORT), read the same way.
    aws = f"http://{LOCAL_HOST}:{port_from_env('AWS_PORT', DEFAULT_AWS_PORT)}"
    simulator = f"http://{LOCAL_HOST}:{port_from_env('SIM_PORT', DEFAULT_SIM_PORT)}"
    api = f"http://{LOCAL_HOST}:{port_from_env('PORT', DEFAULT_PORT)}"
    parser.add_argument(
        "--aws-endpoint-url",
        default=aws,
        help="the stack's embedded AWS, as printed by 'repoconn dev' (embedded AWS (moto) ...)"
        f" (default {aws}: AWS_PORT)",
    )
    parser.add_argument(
        "--simulator-url",
        default=simulator,
        help=f"the provider simulator (default {simulator}: SIM_PORT)",
    )
    parser.add_argument(
        "--api-url",
        default=api,
        help=f"the stack's API, the hooks' callback base (default {api}: PORT)",
    )


def address_from(args: argparse.Namespace) -> LocalStackAddress:
    return LocalStackAddress(
        aws_endpoint_url=args.aws_endpoint_url,
        simulator_url=args.simulator_url,
        api_url=args.api_url,
    )


def main(
    argv: Sequence[str] | None = None, prog: str = "python -m repoconn_local.cli.health_check"
) -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run one health-check pass against a running 'repoconn dev' stack.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    report = run_health_check_once(address_from(args))
    print(json.dumps(report, sort_keys=True), flush=True)
    # Unhealthy connections are findings, not a failed command; errors and a cut-short run are.
    return 0 if report["completed"] and report["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
