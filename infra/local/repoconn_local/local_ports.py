"""Where the local stack listens unless told otherwise (``PORT`` / ``SIM_PORT`` / ``AWS_PORT``).

Its own module so ``repoconn token`` can read them without importing the stack (moto, boto3).
"""

from __future__ import annotations

LOCAL_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
DEFAULT_SIM_PORT = 3001
# The embedded moto server: fixed so `repoconn health-check` can find a running `repoconn dev`.
DEFAULT_AWS_PORT = 3002
