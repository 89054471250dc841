"""An application's side of the endpoint, against the local runtime's gateway: the SageMaker Python SDK's predictor
and boto3's `sagemaker-runtime` (the simulator's two clients), and the README's snippet (`docs/examples/
application.py`, included in the README verbatim) run as a program with only `AWS_ENDPOINT_URL` pointing it here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.aws import client
from local.engines.sagemaker import SageMakerEngine
from local.gateway import Gateway
from simulator.client import SageMakerDecisionClient, SdkDecisionClient
from simulator.errors import DecisionError

REPO = Path(__file__).resolve().parents[2]
SNIPPET = REPO / "docs" / "examples" / "application.py"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"
ENDPOINT = "app-policy"
REWARDS = "app-rewards"
REQUEST = {"context": {"hour": 9, "device": "mobile"}, "actions": ["a", "b", "c"]}


@pytest.fixture(scope="module")
def engine(gateway: Gateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SageMakerEngine]:
    eng = SageMakerEngine(state_dir=tmp_path_factory.mktemp("sagemaker-app"), endpoint_url=gateway.url, ping_timeout=20)
    previous = gateway.sagemaker
    gateway.sagemaker = eng
    yield eng
    gateway.sagemaker = previous
    eng.close()


@pytest.fixture(scope="module")
def endpoint(gateway: Gateway, engine: SageMakerEngine, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An endpoint on a uniform-random policy (no model artifact), decisions logged to a local file."""
    sm = client("sagemaker", endpoint_url=gateway.url)
    log = tmp_path_factory.mktemp("app-decisions") / "decisions.jsonl"
    environment = {"EXPERIMENT_ID": "app", "MODEL_ID": "app-model", "DECISIONS_LOG_PATH": str(log)}
    sm.create_model(
        ModelName="app-model",
        PrimaryContainer={"Image": "local/bandit:latest", "Environment": environment},
        ExecutionRoleArn=ROLE,
    )
    variant = {"VariantName": "AllTraffic", "ModelName": "app-model", "InitialInstanceCount": 1}
    sm.create_endpoint_config(
        EndpointConfigName="app-config",
        ProductionVariants=[{**variant, "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}],
    )
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="app-config")
    engine.wait_endpoint(ENDPOINT, timeout=60)
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService"
    return ENDPOINT


@pytest.fixture
def aws_env(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What an application's environment holds to reach the local runtime instead of AWS: nothing else changes."""
    env = {
        "AWS_ENDPOINT_URL": gateway.url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", raising=False)
    return env


def _check(answers: list[dict[str, Any]], count: int) -> None:
    assert len(answers) == count and len({a["event_id"] for a in answers}) == count
    for answer in answers:
        assert answer["action"] in REQUEST["actions"] and answer["model_id"] == "app-model"
        assert answer["action_prob"] == pytest.approx(1 / 3)


def test_sdk_predictor_decides_through_the_gateway(endpoint: str, aws_env: dict[str, str]) -> None:
    sdk = SdkDecisionClient(endpoint)  # no endpoint URL given: AWS_ENDPOINT_URL, as boto3 reads it
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import JSONSerializer

    assert isinstance(sdk.predictor, Predictor)
    assert isinstance(sdk.predictor.serializer, JSONSerializer)
    assert isinstance(sdk.predictor.deserializer, JSONDeserializer)
    assert sdk.predictor.sagemaker_session.sagemaker_runtime_client.meta.endpoint_url == aws_env["AWS_ENDPOINT_URL"]
    _check(sdk.decide([REQUEST]), 1)
    _check(sdk.decide([REQUEST] * 25), 25)  # {"instances": [...]} -> {"predictions": [...]}
    sdk.close()


def test_sdk_client_reports_a_bad_request_and_a_missing_endpoint_without_retrying(
    endpoint: str, aws_env: dict[str, str]
) -> None:
    sdk = SdkDecisionClient(endpoint, attempts=3)
    with pytest.raises(DecisionError, match=r"after 1 attempt.*actions"):
        sdk.decide([{"context": {"x": 1}, "actions": ["a", "a"]}])
    missing = SdkDecisionClient("no-such-endpoint", attempts=3)
    with pytest.raises(DecisionError, match=r"after 1 attempt.*not found"):
        missing.decide([REQUEST])


def test_boto3_runtime_client_still_decides_through_the_gateway(endpoint: str, aws_env: dict[str, str]) -> None:
    boto = SageMakerDecisionClient(endpoint)
    _check(boto.decide([REQUEST]), 1)
    _check(boto.decide([REQUEST] * 25), 25)
    boto.close()


def test_the_simulator_uses_the_sdk_by_default_and_boto3_on_request(endpoint: str, aws_env: dict[str, str]) -> None:
    from simulator.cli import _client, _parser

    parser = _parser()
    default = _client(parser.parse_args(["run", "--endpoint-name", endpoint]))
    flagged = _client(parser.parse_args(["run", "--endpoint-name", endpoint, "--client", "boto3"]))
    assert type(default) is SdkDecisionClient and type(flagged) is SageMakerDecisionClient
    _check(default.decide([REQUEST]), 1)
    _check(flagged.decide([REQUEST]), 1)


def _create_rewards_stream(gateway: Gateway) -> str:
    bucket = f"app-{uuid.uuid4().hex[:8]}"
    client("s3", endpoint_url=gateway.url).create_bucket(Bucket=bucket)
    client("firehose", endpoint_url=gateway.url).create_delivery_stream(
        DeliveryStreamName=REWARDS,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "rewards/",
            # as the stack's rewards stream (infra/data_lake.py): the application sends records without a newline
            "ProcessingConfiguration": {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]},
        },
    )
    return bucket


def _reward_lines(gateway: Gateway, bucket: str, count: int) -> list[dict[str, Any]]:
    s3 = client("s3", endpoint_url=gateway.url)
    deadline = time.monotonic() + 15
    lines: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(lines) < count:
        time.sleep(0.3)
        lines = []
        for item in s3.list_objects_v2(Bucket=bucket, Prefix="rewards/").get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
            lines += [json.loads(line) for line in body.splitlines() if line.strip()]
    return lines


def test_readme_snippet_is_the_example_file_verbatim() -> None:
    readme = (REPO / "README.md").read_text()
    assert "## Use it from your application" in readme
    assert f"```python\n{SNIPPET.read_text()}```" in readme


def test_the_application_snippet_runs_against_the_local_runtime(
    gateway: Gateway, endpoint: str, aws_env: dict[str, str]
) -> None:
    bucket = _create_rewards_stream(gateway)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL_")}
    environ.update(aws_env, ENDPOINT_NAME=endpoint, REWARDS_STREAM=REWARDS, SAGEMAKER_SUPPRESS_V2_WARNING="1")
    done = subprocess.run(
        [sys.executable, str(SNIPPET)], cwd=REPO, env=environ, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # the last line is the snippet's; the SDK's config loader says on stdout that it found no defaults file
    event_id, action, action_prob, model_id = done.stdout.splitlines()[-1].split()
    assert action in ("banner-a", "banner-b", "banner-c") and model_id == "app-model"
    assert float(action_prob) == pytest.approx(1 / 3)
    assert "resend" not in done.stdout

    rewards = _reward_lines(gateway, bucket, 5)  # the PutRecord and the batch of 4 (boto3's answer and 3 instances)
    assert len(rewards) == 5, rewards
    assert rewards[0]["event_id"] == event_id and rewards[0]["reward"] == 1.0
    assert all(set(r) == {"event_id", "reward", "reward_time"} for r in rewards)
    assert all(r["reward_time"].endswith("Z") and len(r["reward_time"]) == 24 for r in rewards)
    assert len({r["event_id"] for r in rewards}) == 5
