"""Fixtures for the Lambda handlers and the state machine: a moto account with the stack's tables and bucket."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pipeline_common import aws as pipeline_aws
from pipeline_helpers import ACCOUNT, BUCKET, REGION, FakeContext, InProcessLambda, render_asl

from contract.settings import parse_settings

TABLES = {
    "experiments": "experiment_id",
    "models": "model_id",
    "joins": "run_id",
    "state": "pk",
    "idempotency": "id",
}
ENDPOINT = "bandit-demo-policy"
STATE_MACHINE_NAME = "bandit-demo-retrain"
SETTINGS = {"experiment_id": "bandit-demo", "retrain_threshold": 10, "min_training_rows": 50}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, settings_overrides: dict[str, Any]) -> dict[str, str]:
    environment = {
        "SETTINGS_JSON": parse_settings({**SETTINGS, **settings_overrides}).to_json(),
        "BUCKET_NAME": BUCKET,
        "GLUE_DATABASE": "bandit_demo",
        "GLUE_DECISIONS_TABLE": "decisions",
        "GLUE_REWARDS_TABLE": "rewards",
        "ATHENA_WORKGROUP": "primary",
        "EXPERIMENTS_TABLE": "experiments",
        "MODELS_TABLE": "models",
        "JOINS_TABLE": "joins",
        "STATE_TABLE": "state",
        "IDEMPOTENCY_TABLE": "idempotency",
        "STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}",
        "TRAINING_IMAGE_URI": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/bandit:latest",
        "TRAINING_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/training",
        "EVALUATION_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/evaluation",
        "ENDPOINT_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/endpoint",
        "ENDPOINT_NAME": ENDPOINT,
        "ROLLBACK_ALARMS": "bandit-demo-5xx,bandit-demo-latency",
        "DECISIONS_STREAM": "bandit-demo-decisions",
        "DELIVERY_LAG_SECONDS": "0",
        "AWS_DEFAULT_REGION": REGION,
    }
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    return environment


@pytest.fixture
def aws(lambda_env: dict[str, str]) -> Iterator[None]:
    """moto with the stack's bucket and tables; Step Functions executes state machines in-process."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for name, key in TABLES.items():
            dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        yield


StubAws = Callable[[str, Any], None]


@pytest.fixture
def stub_aws(aws: None, monkeypatch: pytest.MonkeyPatch) -> StubAws:
    """`stub_aws("sagemaker", fake)`: every handler's `client("sagemaker")` is `fake` until the test ends (the one
    way to stub AWS here; take the real client with `client(service)` first to wrap it)."""

    def stub(service: str, fake: Any) -> None:
        monkeypatch.setitem(pipeline_aws.CLIENTS, service, fake)

    return stub


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


@pytest.fixture
def lambdas(aws: None) -> Iterator[InProcessLambda]:
    invoker = InProcessLambda()
    invoker.install()
    try:
        yield invoker
    finally:
        invoker.uninstall()


@pytest.fixture
def state_machine_arn(aws: None, lambda_env: dict[str, str]) -> str:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    response = sfn.create_state_machine(
        name=STATE_MACHINE_NAME,
        definition=render_asl(poll_seconds=0),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/states",
    )
    assert response["stateMachineArn"] == lambda_env["STATE_MACHINE_ARN"]
    return response["stateMachineArn"]
