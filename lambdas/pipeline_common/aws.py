"""boto3 clients, created once per execution environment (Lambda reuses them across invocations), and the one
place that decides which AWS errors are worth retrying.

Two layers retry, and they multiply: botocore's `standard` mode retries each call (`SDK_MAX_ATTEMPTS` attempts,
throttling and transient errors, exponential backoff with jitter within the Lambda invocation); an error still
there afterwards leaves the handler as `AwsRetryable`, which the state machine retries with its own backoff
(statemachine/retrain.asl.json). Everything else leaves as `AwsCallFailed`, not retried.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from contract.retryable import THROTTLING_CODES, TRANSIENT_CODES
from pipeline_common.errors import AwsCallFailed, AwsRetryable

SDK_MAX_ATTEMPTS = 3
"""botocore standard mode: 3 attempts in all, the first included (`total_max_attempts`; botocore's `max_attempts`
counts retries only), so a call gives up well within the handler's timeout."""
SDK_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": SDK_MAX_ATTEMPTS})

# THROTTLING_CODES and TRANSIENT_CODES: the contract's (`contract.retryable`), shared with the producers.
EVENTUALLY_CONSISTENT = {
    ("sagemaker", "CreateEndpoint", "ValidationException"): "could not find endpoint configuration",
}
"""(service, operation, code) -> message fragment. CreateEndpoint reads the endpoint config with an eventually
consistent read: right after CreateEndpointConfig it may answer a validation error, and "retry logic is
recommended" (SageMaker API Reference, CreateEndpoint)."""


def classify(error: ClientError, service: str) -> AwsRetryable | AwsCallFailed:
    """The pipeline error a ClientError from `service` stands for: retryable, or fail-fast with AWS's message."""
    details = error.response.get("Error", {})
    code = str(details.get("Code", "Unknown"))
    message = str(details.get("Message", "")) or str(error)
    operation = error.operation_name or "unknown"
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    consistency = EVENTUALLY_CONSISTENT.get((service, operation, code))
    if (
        code in THROTTLING_CODES
        or code in TRANSIENT_CODES
        or status >= 500
        or (consistency is not None and consistency in message.lower())
    ):
        return AwsRetryable(f"{service}.{operation}: {code}: {message}")
    return AwsCallFailed(service, operation, code, message)


PIPELINE_SERVICES = ("athena", "dynamodb", "s3", "sagemaker", "stepfunctions")
"""The services the handlers call; a ClientError names only its operation, so the service is looked up here."""


@cache
def _service_of_operation() -> dict[str, str]:
    """Operation name -> service, for the operations only one of the pipeline's services has (from botocore's
    own service models, read on the first error only)."""
    session = botocore.session.get_session()
    owners: dict[str, set[str]] = {}
    for service in PIPELINE_SERVICES:
        for operation in session.get_service_model(service).operation_names:
            owners.setdefault(operation, set()).add(service)
    return {operation: next(iter(services)) for operation, services in owners.items() if len(services) == 1}


def service_of(error: ClientError) -> str:
    """The service whose operation raised `error` ("aws" when the operation name is shared or unknown)."""
    return _service_of_operation().get(error.operation_name or "", "aws")


CLIENTS: dict[str, Any] = {}
"""The boto3 client of each service, created on first use and kept for the execution environment's life. The one
place to stub AWS in a test: put a client of your own under the service's name (`monkeypatch.setitem`), and every
module that calls `client(service)` gets it."""


def client(service: str) -> Any:
    """A boto3 client for `service` in the function's region (standard retry mode)."""
    if service not in CLIENTS:
        CLIENTS[service] = boto3.client(service, config=SDK_CONFIG)
    return CLIENTS[service]


NOT_FOUND_CODES = ("ValidationException", "ResourceNotFound")
"""How SageMaker's Describe* calls answer a name that does not exist."""


def not_found(error: ClientError) -> bool:
    """True when `error` says the resource asked for does not exist (rather than that the call failed)."""
    return bool(error.response.get("Error", {}).get("Code") in NOT_FOUND_CODES)


Found = TypeVar("Found")


def unless_missing(describe: Callable[[], Found]) -> Found | None:
    """`describe()`'s answer, or None when it says the resource does not exist; any other error is raised."""
    try:
        return describe()
    except ClientError as error:
        if not_found(error):
            return None
        raise


@cache
def table(name: str) -> Any:
    """A DynamoDB Table resource (standard retry mode)."""
    return boto3.resource("dynamodb", config=SDK_CONFIG).Table(name)


Handler = TypeVar("Handler", bound=Callable[..., Any])


def aws_errors(handler: Handler) -> Handler:
    """Turn an AWS error that leaves `handler` into `AwsRetryable` or `AwsCallFailed` (the state machine retries
    the first by name); errors the handler handles itself never get here."""

    @functools.wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except ClientError as error:
            raise classify(error, service_of(error)) from error
        except (ConnectionError, HTTPClientError) as error:
            raise AwsRetryable(f"connection to AWS failed: {error}") from error

    return wrapped  # type: ignore[return-value]
