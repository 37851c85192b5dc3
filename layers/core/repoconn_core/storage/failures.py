"""DynamoDB's failures as domain errors: throttling and outages are 503 with Retry-After,
cancelled transactions are attributed to the item that caused them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import DoesNotExist, PynamoDBException, TransactWriteError

from repoconn_core.errors import DependencyUnavailable, DomainError

THROTTLED_RETRY_AFTER = 2
UNAVAILABLE_RETRY_AFTER = 10
CONDITION_FAILED = "ConditionalCheckFailedException"
_THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingError",  # the code inside transaction cancellation reasons
    }
)


@contextmanager
def dynamodb_failures() -> Iterator[None]:
    """Turn pynamodb's errors into DependencyUnavailable; DoesNotExist passes through."""
    try:
        yield
    except DoesNotExist:
        raise
    except PynamoDBException as error:
        raise unavailable(error) from error


def cause_code(error: PynamoDBException | ClientError | BotoCoreError) -> str | None:
    """The DynamoDB error code behind a pynamodb or botocore error; None when there was no
    answer.

    pynamodb's own ``cause_response_code`` raises AttributeError when the cause is a botocore
    ``HTTPClientError`` such as ``ReadTimeoutError``: it carries ``response = None`` where
    pynamodb expects a dict. A read timeout is an ordinary outage, not a 500.
    """
    cause = error if isinstance(error, ClientError | BotoCoreError) else error.cause
    response = getattr(cause, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return None if code is None else str(code)


def condition_failed(error: PynamoDBException) -> bool:
    """Whether a single-item write was refused by its condition (not an outage)."""
    return cause_code(error) == CONDITION_FAILED


def failed_roles(error: TransactWriteError, roles: list[str]) -> dict[str, str]:
    """Role → cancellation code for each transaction item that caused the cancellation."""
    if cause_code(error) != "TransactionCanceledException":
        return {}
    return {
        role: reason.code
        for role, reason in zip(roles, error.cancellation_reasons, strict=False)
        if reason is not None
    }


def is_conflict(failed: dict[str, str]) -> bool:
    # TransactionConflict: another transaction was writing the same item at that moment,
    # i.e. a racing request; the caller should re-read, not back off.
    return any(
        code in {"ConditionalCheckFailed", "TransactionConflict"} for code in failed.values()
    )


def unavailable(
    error: PynamoDBException | ClientError | BotoCoreError, failed: dict[str, str] | None = None
) -> DomainError:
    codes = {cause_code(error), *(failed or {}).values()}
    if codes & _THROTTLING_CODES:
        return DependencyUnavailable("DynamoDB is throttling requests.", THROTTLED_RETRY_AFTER)
    return DependencyUnavailable("DynamoDB is unavailable.", UNAVAILABLE_RETRY_AFTER)
