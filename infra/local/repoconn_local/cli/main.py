"""The ``repoconn`` console script: ``repoconn dev`` (what ``make dev`` runs), ``repoconn token``,
``repoconn health-check`` (one health-check pass against a running ``repoconn dev``).

``repoconn dev`` serves the API until Ctrl-C (or SIGTERM) and logs to the terminal: the
gateway's access log and the simulator on stderr, the functions' Powertools JSON on stdout.
``repoconn token`` prints a bearer token the local gateway accepts, and nothing else, so
``TOKEN=$(repoconn token ...)`` works.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from repoconn_local.gateway.jwt_authorizer import DEFAULT_TTL_SECONDS, mint_token
from repoconn_local.local_ports import (
    DEFAULT_AWS_PORT,
    DEFAULT_PORT,
    DEFAULT_SIM_PORT,
    port_from_env,
)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["health-check"]:
        # Its own parser and imports (moto, the handlers): `repoconn token` must stay light.
        from repoconn_local.cli.health_check import main as health_check

        return health_check(arguments[1:], prog="repoconn health-check")
    args = _parser().parse_args(arguments)
    if args.command == "token":
        return _token(args)
    if args.command == "reencrypt":
        return _reencrypt()
    return _dev(args)


# `repoconn dev`'s ports: option, environment variable, default, what listens there.
_PORT_OPTIONS = (
    ("--port", "PORT", DEFAULT_PORT, "API"),
    ("--sim-port", "SIM_PORT", DEFAULT_SIM_PORT, "provider simulator"),
    ("--aws-port", "AWS_PORT", DEFAULT_AWS_PORT, "embedded AWS (moto)"),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="repoconn", description="repoconn local tools")
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser(
        "dev",
        help="run the API locally (embedded AWS, provider simulator, local gateway)",
    )
    for option, env, default, what in _PORT_OPTIONS:
        dev.add_argument(
            option,
            type=int,
            default=port_from_env(env, default),
            help=f"{what} port (env {env}, default {default})",
        )
    dev.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="template parameters, as for sam (e.g. CorsAllowOrigin=http://localhost:3001)",
    )

    commands.add_parser(
        "health-check",
        help="run one health-check pass against a running 'repoconn dev' (--help for options)",
    )
    commands.add_parser(
        "reencrypt",
        help=(
            "move every connection item to the current cipher format and key (the table, key "
            "and region of TABLE_NAME, KMS_KEY_ID, AWS_REGION; AWS credentials as for the AWS "
            "CLI; AWS_ENDPOINT_URL for a local run); prints the counts as JSON"
        ),
    )
    token = commands.add_parser("token", help="print a bearer token the local API accepts")
    token.add_argument("--sub", required=True, help="the caller's subject (user id)")
    token.add_argument(
        "--admin-of",
        action="append",
        default=[],
        metavar="PROJECT",
        help="a project the caller is admin of: may connect, disconnect and read (repeatable)",
    )
    token.add_argument(
        "--member-of",
        action="append",
        default=[],
        metavar="PROJECT",
        help="a project the caller is a member of: may read (repeatable)",
    )
    token.add_argument(
        "--platform-admin",
        action="store_true",
        help="in the platform-wide admin group (only when PLATFORM_ADMIN_GROUP names one)",
    )
    token.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        default=[],
        help="an OAuth scope in the token (repeatable; see WRITE_SCOPES)",
    )
    token.add_argument(
        "--access-token",
        action="store_true",
        help="shaped like a Cognito access token (client_id, no aud) instead of an ID token",
    )
    token.add_argument(
        "--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="lifetime in seconds (default 3600)"
    )
    return parser


def _token(args: argparse.Namespace) -> int:
    if args.ttl <= 0:
        print("repoconn token: --ttl must be positive", file=sys.stderr)
        return 2
    try:
        token = mint_token(
            args.sub,
            admin_of=args.admin_of,
            member_of=args.member_of,
            platform_admin=args.platform_admin,
            scopes=args.scopes,
            access_token=args.access_token,
            ttl=args.ttl,
        )
    except ValueError as error:
        print(f"repoconn token: {error}", file=sys.stderr)
        return 2
    print(token)
    return 0


# Identity settings `repoconn token` reads from the environment: `repoconn dev` hands the same
# variables to the template's parameters, so the tokens minted and the API agree.
_IDENTITY_PARAMETERS = {
    "RolesClaim": "ROLES_CLAIM",
    "GroupsClaim": "GROUPS_CLAIM",
    "PlatformAdminGroup": "PLATFORM_ADMIN_GROUP",
    "WriteScopes": "WRITE_SCOPES",
}


def _reencrypt() -> int:
    """One re-encryption pass (repoconn_core.reencrypt); safe to repeat, safe under traffic."""
    import json
    from dataclasses import asdict

    from repoconn_core import wiring

    report = wiring.reencrypt_connections().run()
    print(json.dumps(asdict(report), sort_keys=True))
    return 0


def _dev(args: argparse.Namespace) -> int:
    overrides = {
        parameter: os.environ[variable]
        for parameter, variable in _IDENTITY_PARAMETERS.items()
        if os.environ.get(variable)
    }
    for item in args.parameter_overrides:
        name, separator, value = item.partition("=")
        if not separator or not name:
            print(f"repoconn dev: expected NAME=VALUE, got {item!r}", file=sys.stderr)
            return 2
        overrides[name] = value
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    local_logger = logging.getLogger("repoconn_local")
    local_logger.addHandler(handler)
    local_logger.setLevel(logging.INFO)

    # Imported here: `repoconn token` must not pay for moto and boto3.
    from repoconn_local.stack import LocalStack

    stack = LocalStack(
        port=args.port,
        sim_port=args.sim_port,
        aws_port=args.aws_port,
        parameter_overrides=overrides,
    )
    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        urls = stack.start()
    except OSError as error:
        # Almost always a port in use (another `make dev`?): say which knob moves it.
        print(
            f"repoconn dev: cannot start ({error}); "
            "choose other ports with PORT=... SIM_PORT=... AWS_PORT=...",
            file=sys.stderr,
        )
        return 1
    try:
        print(_banner(urls.api, urls.simulator, urls.aws), file=sys.stderr, flush=True)
        stopping.wait()
    finally:
        stack.stop()
        print("repoconn dev: stopped", file=sys.stderr, flush=True)
    return 0


def _banner(api: str, simulator: str, aws: str) -> str:
    return "\n".join(
        [
            f"repoconn dev: API on {api}",
            f"  provider simulator  {simulator}  (hooks: {simulator}/_sim/hooks)",
            f"  embedded AWS (moto) {aws}",
            "  mint a token:  TOKEN=$(.venv/bin/repoconn token --sub alice --admin-of p1)",
            f'  then:          curl -H "Authorization: Bearer $TOKEN" '
            f"{api}/projects/p1/repository-connection/exists",
            "  Ctrl-C to stop",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
