"""The AWS error codes worth retrying: the call succeeds when repeated later, the request itself is fine.

Throttling codes are those of the AWS SDKs' standard retry mode (AWS SDKs and Tools Reference Guide, "Retry
behavior"; botocore's `standard` mode retries the same list); transient codes are failures on AWS's side. Firehose
also names a failed record inside a successful PutRecordBatch answer (`RequestResponses[].ErrorCode`:
`ServiceUnavailableException` or `InternalFailure`), and those records are resent. Every producer and handler
decides with these sets (plus an HTTP status of 5xx, which is transient whatever the code).
"""

from __future__ import annotations

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalFailure",
        "InternalFailureException",
        "InternalError",
        "InternalServerError",
        "InternalServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)
RETRYABLE_CODES = THROTTLING_CODES | TRANSIENT_CODES


def is_retryable(code: str | None, status: int = 0) -> bool:
    """Whether an AWS error (its code, and its HTTP status when known) is worth another attempt later."""
    return (code is not None and code in RETRYABLE_CODES) or status >= 500
