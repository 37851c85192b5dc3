"""Re-encryption, as operators run it deployed: ``aws lambda invoke`` with any event (``{}``).

Moves every connection item to the current cipher format and key (repoconn_core.reencrypt).
A function rather than a command on an operator's machine because only the service's function
roles may use the key (docs/security.md, "Key policy"): no human principal needs Decrypt.
Resumable and idempotent; a pass that would outlast the timeout stops early and answers
``"completed": false`` — invoke it again until it answers true (docs/operations.md).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from repoconn_core.logs import function_logger
from repoconn_core.wiring import reencrypt_connections

# Library loggers pinned, the event never logged, whatever the environment (logs.py).
logger = function_logger()


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int | bool]:
    report = reencrypt_connections().run(time_left_ms=context.get_remaining_time_in_millis)
    # The pass logs its own counts (reencrypt.py); the answer is what the operator reads.
    return asdict(report)
