"""Every AWS call a handler makes (derived from the code by tests/infra/handler_actions.py) is one the gateway can
authorize: a new boto3 call the runtime has no IAM mapping for fails here, not as an unchecked pass."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from infra.names import FUNCTION_KEYS
from local.iam import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "infra"))
import handler_actions

SIGNING_NAME = {"states": "states", "dynamodb": "dynamodb", "s3": "s3", "sagemaker": "sagemaker", "athena": "athena"}
PARAMS = {
    "TableName": "bandit-demo-state",
    "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:bandit-demo-retrain",
    "executionArn": "arn:aws:states:us-east-1:123456789012:execution:bandit-demo-retrain:run",
    "TrainingJobName": "bandit-demo-train-1",
    "ModelName": "bandit-demo-m1",
    "EndpointConfigName": "bandit-demo-c1",
    "EndpointName": "bandit-demo-policy",
    "WorkGroup": "bandit-demo-pipeline",
    "RoleArn": "arn:aws:iam::123456789012:role/exec",
    "ExecutionRoleArn": "arn:aws:iam::123456789012:role/exec",
}
S3_REST = {"s3:GetObject": ("GET", "/bucket/rewards/x.json"), "s3:PutObject": ("PUT", "/bucket/models/x")}


def _call(action: str) -> requests.Call:
    prefix, operation = action.split(":", 1)
    if prefix == "s3":
        method, path = S3_REST[action]
        return requests.s3_call(method, path, "", {}, "us-east-1", "123456789012")
    if prefix == "dynamodb" and operation == "TransactWriteItems":
        return requests.Call("dynamodb", operation, {"TransactItems": []}, "us-east-1", "123456789012")
    return requests.Call(SIGNING_NAME[prefix], operation, dict(PARAMS), "us-east-1", "123456789012")


@pytest.mark.parametrize("key", FUNCTION_KEYS)
def test_each_call_of_the_handler_maps_to_its_iam_action(key: str) -> None:
    actions = {a.split("@", 1)[0] for a in handler_actions.code_actions(key)}
    assert actions
    for action in sorted(actions):
        checks = requests.checks(_call(action))
        assert checks and checks[0].action.lower() == action.lower(), (action, checks)
        if action in ("sagemaker:CreateTrainingJob", "sagemaker:CreateModel"):
            passed = [c for c in checks if c.action == "iam:PassRole"]
            assert passed and passed[0].context == {"iam:PassedToService": "sagemaker.amazonaws.com"}


def test_the_serving_container_and_step_functions_calls_map() -> None:
    put = requests.checks(requests.Call("firehose", "PutRecordBatch", {"DeliveryStreamName": "d"}, "r", "1"))
    assert put[0].action == "firehose:PutRecordBatch" and put[0].resource.endswith(":deliverystream/d")
    invoke = requests.checks(requests.Call("lambda", "Invoke", {"FunctionName": "bandit-demo-join"}, "r", "1"))
    assert (
        invoke[0].action == "lambda:InvokeFunction"
        and invoke[0].resource == "arn:aws:lambda:r:1:function:bandit-demo-join"
    )
    with pytest.raises(requests.UnmappedCall):
        requests.checks(requests.Call("kinesis", "PutRecord", {}, "r", "1"))
