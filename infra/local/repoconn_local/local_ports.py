"""Where the local stack listens unless told otherwise (``PORT`` / ``SIM_PORT`` / ``AWS_PORT``).

Its own module so ``repoconn token`` can read them without importing the stack (moto, boto3).
"""

from __future__ import annotations

import os

LOCAL_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
DEFAULT_SIM_PORT = 3001
# The embedded moto server: fixed so `repoconn health-check` can find a running `repoconn dev`.
DEFAULT_AWS_PORT = 3002


def port_from_env(name: str, default: int) -> int:
    """``$name`` (PORT, SIM_PORT, AWS_PORT) when set, else ``default``: ``repoconn dev`` and
    ``repoconn health-check`` read the same variables, so they find each other."""
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default
