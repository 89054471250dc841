"""Which AWS errors the pipeline retries: one classification for every handler, the state machine retries by name."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from pipeline_common import aws
from pipeline_common.errors import AwsCallFailed, AwsRetryable
from pipeline_helpers import REGION


def client_error(code: str, message: str, operation: str, status: int = 400) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, operation)


@pytest.mark.parametrize(
    ("code", "operation", "status"),
    [
        ("ThrottlingException", "DescribeTrainingJob", 400),
        ("TooManyRequestsException", "StartQueryExecution", 400),
        ("ProvisionedThroughputExceededException", "UpdateItem", 400),
        ("SlowDown", "GetObject", 503),
        ("InternalFailure", "DescribeEndpoint", 500),
        ("ServiceUnavailable", "CreateEndpointConfig", 503),
        ("SomethingNew", "DescribeEndpoint", 502),  # any 5xx is AWS's side
    ],
)
def test_throttling_and_server_errors_are_retryable(code: str, operation: str, status: int) -> None:
    classified = aws.classify(client_error(code, "try later", operation, status), "sagemaker")
    assert isinstance(classified, AwsRetryable)
    assert str(classified) == f"sagemaker.{operation}: {code}: try later"


def test_create_endpoint_before_its_config_is_visible_is_retryable() -> None:
    """SageMaker API Reference, CreateEndpoint: the config is read eventually consistently; retry is recommended."""
    message = 'Could not find endpoint configuration "arn:aws:sagemaker:us-east-1:1:endpoint-config/c".'
    assert isinstance(
        aws.classify(client_error("ValidationException", message, "CreateEndpoint"), "sagemaker"), AwsRetryable
    )
    # The same code for anything else is a bad request: repeating it changes nothing.
    refused = aws.classify(
        client_error("ValidationException", "Instance type not supported", "CreateEndpoint"), "sagemaker"
    )
    assert isinstance(refused, AwsCallFailed)
    other = aws.classify(client_error("ValidationException", message, "UpdateEndpoint"), "sagemaker")
    assert isinstance(other, AwsCallFailed)


@pytest.mark.parametrize(
    ("code", "operation"),
    [
        ("AccessDeniedException", "CreateTrainingJob"),
        ("ResourceLimitExceeded", "CreateEndpoint"),
        ("ValidationException", "CreateTrainingJob"),
        ("InvalidRequestException", "StartQueryExecution"),
    ],
)
def test_refusals_fail_fast_naming_service_operation_code_and_message(code: str, operation: str) -> None:
    classified = aws.classify(client_error(code, "the AWS message", operation), "sagemaker")
    assert isinstance(classified, AwsCallFailed)
    assert (classified.service, classified.operation, classified.code) == ("sagemaker", operation, code)
    assert str(classified) == f"sagemaker.{operation} failed: {code}: the AWS message"


def test_the_service_is_named_from_the_operation() -> None:
    assert aws.service_of(client_error("X", "m", "DescribeTrainingJob")) == "sagemaker"
    assert aws.service_of(client_error("X", "m", "StartQueryExecution")) == "athena"
    assert aws.service_of(client_error("X", "m", "TransactWriteItems")) == "dynamodb"
    assert aws.service_of(client_error("X", "m", "TagResource")) == "aws"  # several services have it


def test_the_handler_decorator_classifies_what_escapes_and_keeps_what_it_returns() -> None:
    def refused(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise client_error("AccessDeniedException", "not authorized", "DescribeEndpoint")

    def throttled(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise client_error("ThrottlingException", "Rate exceeded", "DescribeEndpoint")

    def unreachable(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise EndpointConnectionError(endpoint_url="https://api.sagemaker.us-east-1.amazonaws.com")

    with pytest.raises(AwsCallFailed, match=r"^sagemaker\.DescribeEndpoint failed: AccessDeniedException: not auth"):
        aws.aws_errors(refused)({}, None)
    with pytest.raises(AwsRetryable, match="Rate exceeded") as caught:
        aws.aws_errors(throttled)({}, None)
    assert isinstance(caught.value.__cause__, ClientError)  # the original stays attached for the logs
    with pytest.raises(AwsRetryable, match="connection to AWS failed"):
        aws.aws_errors(unreachable)({}, None)
    assert aws.aws_errors(lambda event, context: {"ok": True})({}, None) == {"ok": True}


def test_clients_use_botocores_standard_retry_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore retries throttling and 5xx per call first (3 attempts); the state machine's retry comes on top."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    created: list[Any] = []
    real = boto3.client
    monkeypatch.setattr(boto3, "client", lambda *a, **k: created.append(k.get("config")) or real(*a, **k))
    monkeypatch.delitem(aws.CLIENTS, "sagemaker", raising=False)  # created anew here, the cached one put back after
    aws.client("sagemaker")
    assert created[0].retries == {"mode": "standard", "total_max_attempts": aws.SDK_MAX_ATTEMPTS}
