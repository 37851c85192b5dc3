"""Logging that cannot leak a secret, whatever the log level or the environment says.

Three switches outside the code used to open a leak (issue 14):

- ``LogLevel=DEBUG`` (samconfig's dev environment): Lambda applies it to the root logger, and
  botocore then logs every response body — KMS GenerateDataKey's included, which holds the
  plaintext data key — and urllib3/requests the provider calls;
- ``POWERTOOLS_LOGGER_LOG_EVENT=true``: Powertools logs the whole event — the bearer JWT, a PUT
  body's accessToken, GitLab's X-Gitlab-Token header;
- ``POWERTOOLS_DEV=true`` (or ``POWERTOOLS_EVENT_HANDLER_DEBUG``): the event handler prints
  every event.

So every function takes its Logger from ``function_logger`` (which pins the libraries' loggers
at WARNING, above any level the environment can set on the root logger) and decorates its
handler with ``logger.inject_lambda_context(log_event=False, ...)`` and builds its resolver
with ``debug=False`` — an explicit argument wins over the environment variable in Powertools.
Our own log lines never carry a secret (tests/integration/faults/test_leak_scan.py scans them,
with these switches on).
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger

# Libraries that log request or response bodies at DEBUG (or INFO), and Powertools' own
# internals (the event handler logs route arguments at DEBUG).
LIBRARY_LOGGERS = (
    "botocore",
    "boto3",
    "s3transfer",
    "urllib3",
    "requests",
    "pynamodb",
    "aws_lambda_powertools",
)
LIBRARY_LOG_LEVEL = logging.WARNING


def pin_library_loggers() -> None:
    """Set each library logger's own level, so the root logger's (DEBUG) no longer applies."""
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(LIBRARY_LOG_LEVEL)


def function_logger() -> Logger:
    """The function's Powertools Logger, created after the library loggers are pinned."""
    pin_library_loggers()
    return Logger()
