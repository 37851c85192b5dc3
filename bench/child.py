"""Entry point of one in-process section, run in a fresh interpreter:

    python -m bench.child SECTION OUT.json ENDPOINTS_JSON OPTIONS_JSON

The environment is set and the AWS call hook installed before anything imports boto3 or a
handler; the handlers' Powertools output (stdout) goes to the section's log file.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

from bench.backends import (
    Endpoints,
    apply_environment,
    create_table,
    service_environment,
    write_json,
)
from bench.inprocess import AwsCallLog


def main(argv: list[str]) -> int:
    section, out, endpoints_json, options_json = argv
    endpoints = Endpoints.from_json(endpoints_json)
    options = json.loads(options_json)
    table = f"bench-{section}"
    apply_environment(service_environment(endpoints, table))
    log = AwsCallLog()
    log.install()
    # Read handlers publish no business metric; Powertools warns about that on every call.
    warnings.filterwarnings("ignore", "No application metrics to publish")
    if section != "scale":  # one table per level, made by the section
        create_table(endpoints, table)

    if section == "warm":
        from bench import warm

        result = warm.run(endpoints, log, options)
    elif section == "receiver":
        from bench import receiver

        result = receiver.run(endpoints, log, options)
    elif section == "scale":
        from bench import scale

        result = scale.run(endpoints, log, options)
    else:
        raise SystemExit(f"unknown section {section!r}")
    write_json(Path(out), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
