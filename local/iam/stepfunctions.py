"""Step Functions' Lambda tasks call as the state machine's role.

moto's ASL interpreter invokes a task's function with `boto_client_for(...)`, a boto3 client signed with the fixed
access key `ak`, from the thread that runs the execution; the request comes back through the gateway. Step Functions
on AWS invokes it with the state machine's role (the role must allow `lambda:InvokeFunction` on the function:
"IAM policies for invoking AWS Lambda functions", https://docs.aws.amazon.com/step-functions/latest/dg/
lambda-iam.html). `install` wraps `execute_lambda_function_integration` to remember, per thread, which state
machine is running, and `boto_client_for` in the same module to sign with the credentials the authorizer issued
for that state machine's role, so the gateway evaluates the invoke against that role.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

_current = threading.local()
_original_integration = lambda_eval_utils.execute_lambda_function_integration
_original_client = lambda_eval_utils.boto_client_for
_credentials: Callable[[str], dict[str, str] | None] | None = None


def _integration(env: Any, *args: Any, **kwargs: Any) -> Any:
    _current.state_machine = env.states.context_object.context_object_data["StateMachine"]["Id"]
    try:
        return _original_integration(env, *args, **kwargs)
    finally:
        _current.state_machine = None


def _client(region: str, service: str, state_credentials: Any = None) -> Any:
    original = _original_client(region=region, service=service, state_credentials=state_credentials)
    machine = getattr(_current, "state_machine", None)
    credentials = _credentials(machine) if (_credentials is not None and machine) else None
    if not credentials:
        return original
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=original.meta.endpoint_url,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
        config=original.meta.config,
    )


def install(credentials: Callable[[str], dict[str, str] | None]) -> None:
    """`credentials(state_machine_arn)`: the role credentials for that machine's tasks (None: moto's own key)."""
    global _credentials
    _credentials = credentials
    lambda_eval_utils.execute_lambda_function_integration = _integration
    lambda_eval_utils.boto_client_for = _client


def uninstall() -> None:
    global _credentials
    _credentials = None
    lambda_eval_utils.execute_lambda_function_integration = _original_integration
    lambda_eval_utils.boto_client_for = _original_client
