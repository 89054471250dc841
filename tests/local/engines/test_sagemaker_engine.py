"""The local SageMaker engine: training jobs run the real `container train` and upload model.tar.gz, failures carry
the container's failure text, endpoints serve through InvokeEndpoint (boto3 via the gateway), blue/green canary
shifts to green, a green that fails its health check is rolled back while blue keeps serving."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import tarfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.aws import client
from local.engines.sagemaker import SageMakerEngine
from local.gateway import Gateway

ROLE = "arn:aws:iam::123456789012:role/sagemaker"


def _joined_row(i: int) -> dict[str, Any]:
    action = i % 2
    return {
        "event_id": str(uuid.UUID(int=i + 1)),
        "event_time": "2026-11-23T01:00:00.000Z",
        "experiment_id": "exp",
        "model_id": "m0",
        "context": json.dumps({"x": i % 5, "y": "abc"[i % 3]}),
        "actions": json.dumps([{"id": "a", "features": {}}, {"id": "b", "features": {}}]),
        "action": "ab"[action],
        "action_index": action,
        "action_prob": 0.5,
        "probabilities": "[0.5, 0.5]",
        "reward": float(action == (i % 5 > 2)),
        "reward_time": "2026-11-23T01:00:05.000Z",
    }


@pytest.fixture(scope="module")
def bucket(gateway: Gateway) -> str:
    name = f"sm-{uuid.uuid4().hex[:8]}"
    s3 = client("s3", endpoint_url=gateway.url)
    s3.create_bucket(Bucket=name)
    body = "".join(json.dumps(_joined_row(i)) + "\n" for i in range(200)).encode()
    s3.put_object(Bucket=name, Key="joined/run-1/part-0.json", Body=body)
    return name


@pytest.fixture(scope="module")
def engine(gateway: Gateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SageMakerEngine]:
    """An engine of its own in the session's gateway for this module (the gateway's own is restored after)."""
    state_dir = tmp_path_factory.mktemp("sagemaker")
    eng = SageMakerEngine(state_dir=state_dir, endpoint_url=gateway.url, ping_timeout=20, watch_interval=0.2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gateway, "sagemaker", eng)
        yield eng
    eng.close()


@pytest.fixture(scope="module")
def sm(gateway: Gateway, engine: SageMakerEngine) -> Any:
    return client("sagemaker", endpoint_url=gateway.url)


@pytest.fixture(scope="module")
def runtime(gateway: Gateway, engine: SageMakerEngine) -> Any:
    return client("sagemaker-runtime", endpoint_url=gateway.url)


def _training_request(bucket: str, name: str, hyperparameters: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": "local/bandit:latest",
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "examples", "Regex": r"examples[=: ]+([0-9.]+)"}],
        },
        "RoleArn": ROLE,
        "InputDataConfig": [
            {
                "ChannelName": "training",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/joined/run-1/"}},
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
        "HyperParameters": {"model_id": name, "experiment_id": "exp", **(hyperparameters or {})},
    }


def _wait_job(sm: Any, name: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described = sm.describe_training_job(TrainingJobName=name)
        if described["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") or time.monotonic() > deadline:
            return described
        time.sleep(0.2)


@pytest.fixture(scope="module")
def trained_model(sm: Any, bucket: str) -> str:
    """A model trained by the real container (the artifact URI)."""
    sm.create_training_job(**_training_request(bucket, "model-1"))
    described = _wait_job(sm, "model-1")
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    return described["ModelArtifacts"]["S3ModelArtifacts"]


def test_training_job_runs_the_container_and_uploads_the_model(sm: Any, bucket: str, trained_model: str) -> None:
    assert trained_model == f"s3://{bucket}/models/model-1/output/model.tar.gz"
    s3 = client("s3", endpoint_url=sm.meta.endpoint_url)
    archive = s3.get_object(Bucket=bucket, Key="models/model-1/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = set(tar.getnames())
    assert {"vw.model", "metadata.json"} <= names
    described = sm.describe_training_job(TrainingJobName="model-1")
    assert described["SecondaryStatus"] == "Completed"
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]][:3] == ["Starting", "Downloading", "Training"]
    assert described["TrainingEndTime"] >= described["TrainingStartTime"]
    summaries = sm.list_training_jobs(NameContains="model-1")["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in summaries] == ["model-1"]
    with pytest.raises(ClientError) as again:
        sm.create_training_job(**_training_request(bucket, "model-1"))
    assert again.value.response["Error"]["Code"] == "ResourceInUse"


def test_a_failing_job_reports_the_failure_text(sm: Any, bucket: str) -> None:
    sm.create_training_job(**_training_request(bucket, "bad-job", {"exploration": "nonsense"}))
    described = _wait_job(sm, "bad-job")
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("AlgorithmError: ")
    assert "exploration" in described["FailureReason"]

    missing = _training_request(bucket, "no-data")
    missing["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = f"s3://{bucket}/nothing/here/"
    sm.create_training_job(**missing)
    described = _wait_job(sm, "no-data")
    assert described["TrainingJobStatus"] == "Failed" and "No S3 objects found" in described["FailureReason"]


def test_stop_and_max_runtime(sm: Any, bucket: str, engine: SageMakerEngine) -> None:
    request = _training_request(bucket, "slow-job")
    request["AlgorithmSpecification"]["ContainerEntrypoint"] = ["python", "-c", "import time; time.sleep(60)"]
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": 1}
    sm.create_training_job(**request)
    described = _wait_job(sm, "slow-job", timeout=30)
    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")

    request = _training_request(bucket, "stopped-job")
    request["AlgorithmSpecification"]["ContainerEntrypoint"] = ["python", "-c", "import time; time.sleep(60)"]
    sm.create_training_job(**request)
    deadline = time.monotonic() + 20
    while sm.describe_training_job(TrainingJobName="stopped-job")["SecondaryStatus"] != "Training":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    sm.stop_training_job(TrainingJobName="stopped-job")
    assert _wait_job(sm, "stopped-job", timeout=30)["TrainingJobStatus"] == "Stopped"


def _model_and_config(
    sm: Any, name: str, artifact: str | None, env: dict[str, str] | None = None, instances: int = 1
) -> str:
    container: dict[str, Any] = {"Image": "local/bandit:latest", "Environment": {"EXPERIMENT_ID": "exp", **(env or {})}}
    if artifact:
        container["ModelDataUrl"] = artifact
    sm.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=ROLE)
    sm.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": instances,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    return f"{name}-config"


def _invoke(runtime: Any, endpoint: str) -> dict[str, Any]:
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint,
        ContentType="application/json",
        Body=json.dumps({"context": {"x": 1, "y": "a"}, "actions": ["a", "b"]}),
    )
    return json.loads(answer["Body"].read())


def _update(
    sm: Any,
    endpoint: str,
    config: str,
    routing: dict[str, Any],
    termination_wait: int | None = None,
    alarms: list[str] | None = None,
) -> None:
    """UpdateEndpoint with a blue/green policy of `routing` (TrafficRoutingConfiguration)."""
    policy: dict[str, Any] = {"TrafficRoutingConfiguration": routing}
    if termination_wait is not None:
        policy["TerminationWaitInSeconds"] = termination_wait
    deployment: dict[str, Any] = {"BlueGreenUpdatePolicy": policy}
    if alarms:
        deployment["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarms]}
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config, DeploymentConfig=deployment)


def _wait_status(sm: Any, endpoint: str, engine: SageMakerEngine, timeout: float = 60) -> dict[str, Any]:
    engine.wait_endpoint(endpoint, timeout=timeout)
    return sm.describe_endpoint(EndpointName=endpoint)


@pytest.fixture(scope="module")
def blue_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("decisions") / "blue.jsonl"


@pytest.fixture(scope="module")
def serving(sm: Any, runtime: Any, engine: SageMakerEngine, blue_log: Path) -> str:
    """An endpoint on a uniform-random policy (no artifact), decisions logged to a local file."""
    log = blue_log
    config = _model_and_config(sm, "blue", None, {"DECISIONS_LOG_PATH": str(log), "MODEL_ID": "blue"})
    sm.create_endpoint(EndpointName="policy", EndpointConfigName=config)
    assert sm.describe_endpoint(EndpointName="policy")["EndpointStatus"] == "Creating"
    described = _wait_status(sm, "policy", engine)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    return "policy"


def test_endpoint_serves_through_invoke_endpoint(sm: Any, runtime: Any, serving: str) -> None:
    answer = _invoke(runtime, serving)
    assert answer["action"] in ("a", "b") and answer["model_id"] == "blue"
    described = sm.describe_endpoint(EndpointName=serving)
    assert described["EndpointConfigName"] == "blue-config"
    assert described["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    assert described["ProductionVariants"][0]["CurrentWeight"] == 1.0
    with pytest.raises(ClientError) as bad:
        runtime.invoke_endpoint(EndpointName=serving, ContentType="application/json", Body=b"{not json")
    assert bad.value.response["Error"]["Code"] == "ModelError"
    with pytest.raises(ClientError) as missing:
        runtime.invoke_endpoint(EndpointName="nope", ContentType="application/json", Body=b"{}")
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    started = time.perf_counter()
    for _ in range(50):
        _invoke(runtime, serving)
    per_call = (time.perf_counter() - started) / 50
    assert per_call < 0.5


def test_green_failing_ping_is_rolled_back_while_blue_serves(
    sm: Any, runtime: Any, engine: SageMakerEngine, serving: str, bucket: str
) -> None:
    s3 = client("s3", endpoint_url=sm.meta.endpoint_url)
    broken = io.BytesIO()
    with tarfile.open(fileobj=broken, mode="w:gz") as tar:
        data = b"this is not a VW model"
        info = tarfile.TarInfo("vw.model")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        meta = b'{"model_id": "broken", "actions": ["a", "b"], "vw_args": "--cb_explore_adf"}'
        info = tarfile.TarInfo("metadata.json")
        info.size = len(meta)
        tar.addfile(info, io.BytesIO(meta))
    s3.put_object(Bucket=bucket, Key="models/broken/output/model.tar.gz", Body=broken.getvalue())
    config = _model_and_config(sm, "broken", f"s3://{bucket}/models/broken/output/model.tar.gz")
    _update(sm, serving, config, {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}, termination_wait=0)
    seen = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        described = sm.describe_endpoint(EndpointName=serving)
        seen.add(described["EndpointStatus"])
        assert _invoke(runtime, serving)["model_id"] == "blue"  # blue serves throughout
        if described["EndpointStatus"] == "InService" and described.get("FailureReason"):
            break
        time.sleep(0.1)
    assert "Updating" in seen
    assert described["EndpointConfigName"] == "blue-config"
    assert "rolled back" in described["FailureReason"] and "ping health check" in described["FailureReason"]
    assert described["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TerminationWaitInSeconds"] == 0
    assert "PendingDeploymentSummary" not in described


def test_canary_shifts_to_green_and_stops_blue(
    sm: Any, runtime: Any, engine: SageMakerEngine, serving: str, trained_model: str, blue_log: Path
) -> None:
    # a canary needs 2+ instances (at most 50% of the variant's instances): one of green's two
    config = _model_and_config(sm, "green", trained_model, {"MODEL_ID": "green"}, instances=2)
    canary = {"Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}, "WaitIntervalInSeconds": 3}
    _update(sm, serving, config, canary, termination_wait=1)
    models: set[str] = set()
    saw_pending = False
    deadline = time.monotonic() + 60
    with ThreadPoolExecutor(4) as pool:
        while time.monotonic() < deadline:
            described = sm.describe_endpoint(EndpointName=serving)
            saw_pending = saw_pending or "PendingDeploymentSummary" in described
            models.update(a["model_id"] for a in pool.map(lambda _: _invoke(runtime, serving), range(8)))
            if described["EndpointStatus"] == "InService":
                break
            assert described["EndpointStatus"] == "Updating"
    assert described["EndpointConfigName"] == "green-config", described.get("FailureReason")
    assert "FailureReason" not in described
    assert saw_pending and {"blue", "green"} <= models  # the canary split traffic, nothing failed meanwhile
    assert {_invoke(runtime, serving)["model_id"] for _ in range(10)} == {"green"}
    counters = engine.variant_counters(serving)
    assert list(counters) == ["green-config/AllTraffic"]
    logged = [json.loads(line) for line in blue_log.read_text().splitlines()]
    assert logged and {d["model_id"] for d in logged} == {"blue"}  # blue flushed its decision log when stopped


def test_errors_on_green_roll_back(sm: Any, runtime: Any, engine: SageMakerEngine, serving: str) -> None:
    """Green answers /ping but fails invocations (an `ACTIONS`-less uniform policy given a request it cannot take is
    not reliable to provoke, so the green process is killed after it passed its health check): the router counts
    the errors as Invocation5XXErrors and the update is rolled back."""
    current = sm.describe_endpoint(EndpointName=serving)["EndpointConfigName"]
    config = _model_and_config(sm, "flaky", None, {"MODEL_ID": "flaky"})
    _update(sm, serving, config, {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 30})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        endpoint = engine.table.get(serving)
        if endpoint.green is not None and endpoint.green_share > 0:
            break
        time.sleep(0.05)
    green = engine.table.get(serving).green
    assert green is not None
    green.variants[0].process.kill()
    for _ in range(10):
        with contextlib.suppress(ClientError):
            runtime.invoke_endpoint(EndpointName=serving, ContentType="application/json", Body=b'{"context": {}}')
    described = _wait_status(sm, serving, engine)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == current
    assert "rolled back" in described["FailureReason"]
    assert _invoke(runtime, serving)["model_id"] != "flaky"


def test_an_alarm_in_alarm_state_rolls_back(sm: Any, runtime: Any, engine: SageMakerEngine, serving: str) -> None:
    cloudwatch = client("cloudwatch", endpoint_url=sm.meta.endpoint_url)
    cloudwatch.put_metric_alarm(
        AlarmName="policy-5xx",
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=[{"Name": "EndpointName", "Value": serving}, {"Name": "VariantName", "Value": "AllTraffic"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    current = sm.describe_endpoint(EndpointName=serving)["EndpointConfigName"]
    config = _model_and_config(sm, "alarmed", None, {"MODEL_ID": "alarmed"})
    _update(sm, serving, config, {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 30}, alarms=["policy-5xx"])
    deadline = time.monotonic() + 30
    while engine.table.get(serving).green_share == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    cloudwatch.set_alarm_state(AlarmName="policy-5xx", StateValue="ALARM", StateReason="test")
    described = _wait_status(sm, serving, engine)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", current)
    assert "policy-5xx" in described["FailureReason"]
    cloudwatch.set_alarm_state(AlarmName="policy-5xx", StateValue="OK", StateReason="test")


def test_a_canary_sagemaker_refuses_is_refused(sm: Any, engine: SageMakerEngine, serving: str) -> None:
    """The pipeline's old request (CANARY, CAPACITY_PERCENT 10, on 1 instance) was accepted here and rejected by
    SageMaker: a canary must be at most 50% of the variant's instances, and 10% of one instance is the instance."""
    current = sm.describe_endpoint(EndpointName=serving)["EndpointConfigName"]
    config = _model_and_config(sm, "one-instance", None, {"MODEL_ID": "one-instance"})
    refused = {
        "Type": "CANARY",
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
        "WaitIntervalInSeconds": 300,
    }
    with pytest.raises(ClientError) as caught:
        _update(sm, serving, config, refused)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "50% of the variant's total instance count" in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError, match="less than or equal to 3600"):
        _update(sm, serving, config, {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 4000})
    described = sm.describe_endpoint(EndpointName=serving)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", current)


def test_linear_steps_through_the_instances(sm: Any, runtime: Any, engine: SageMakerEngine, serving: str) -> None:
    """LINEAR on 4 instances, one instance (25%) per step: green's share walks 0.25, 0.5, 0.75, 1.0."""
    config = _model_and_config(sm, "linear", None, {"MODEL_ID": "linear"}, instances=4)
    linear = {"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25}, "WaitIntervalInSeconds": 1}
    _update(sm, serving, config, linear, termination_wait=1)  # the last step (all traffic) is baked by this wait
    shares: list[float] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        endpoint = engine.table.get(serving)
        if endpoint.green is not None and (not shares or shares[-1] != endpoint.green_share):
            shares.append(endpoint.green_share)
        if endpoint.status == "InService" and endpoint.update_thread and not endpoint.update_thread.is_alive():
            break
        time.sleep(0.05)
    described = sm.describe_endpoint(EndpointName=serving)
    assert described["EndpointConfigName"] == config, described.get("FailureReason")
    assert [s for s in shares if s > 0] == [0.25, 0.5, 0.75, 1.0]
    assert _invoke(runtime, serving)["model_id"] == "linear"


def test_a_model_without_a_region_fails_its_health_check_as_on_aws(sm: Any, engine: SageMakerEngine) -> None:
    """The endpoint container gets only the Model's environment and what SageMaker sets (no AWS_DEFAULT_REGION):
    `serve` with a Firehose decision log and no region refuses to start, so the endpoint fails; with the region in
    the model's environment (as deploy.py now sets it) the same model serves."""
    firehose = {"DECISIONS_STREAM": "nowhere-decisions"}
    bare = _model_and_config(sm, "no-region", None, {"MODEL_ID": "no-region", **firehose})
    sm.create_endpoint(EndpointName="no-region", EndpointConfigName=bare)
    described = _wait_status(sm, "no-region", engine)
    assert described["EndpointStatus"] == "Failed"
    assert "ping health check" in described["FailureReason"] and "AWS_DEFAULT_REGION" in described["FailureReason"]

    region = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
    named = _model_and_config(sm, "with-region", None, {"MODEL_ID": "with-region", **firehose, **region})
    sm.create_endpoint(EndpointName="with-region", EndpointConfigName=named)
    described = _wait_status(sm, "with-region", engine)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    for name in ("no-region", "with-region"):
        sm.delete_endpoint(EndpointName=name)


def test_a_training_container_gets_sagemakers_variables_and_no_region(sm: Any, bucket: str) -> None:
    """SageMaker gives a training container TRAINING_JOB_NAME and TRAINING_JOB_ARN, not a region and not the
    training toolkit's SM_* variables; the request's Environment is passed through."""
    request = _training_request(bucket, "env-job")
    script = (
        "import os; names = sorted(k for k in os.environ if k.startswith(('AWS_REGION', 'AWS_DEFAULT', 'SM_', "
        "'TRAINING_', 'MY_'))); open(os.path.join(os.environ['SM_ML_ROOT'], 'output', 'failure'), 'w')"
        ".write(' '.join(names)); raise SystemExit(1)"
    )
    request["AlgorithmSpecification"]["ContainerEntrypoint"] = ["python", "-c", script]
    request["Environment"] = {"MY_SETTING": "1"}
    sm.create_training_job(**request)
    described = _wait_job(sm, "env-job")
    assert described["FailureReason"] == "AlgorithmError: MY_SETTING SM_ML_ROOT TRAINING_JOB_ARN TRAINING_JOB_NAME"


def _environ(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(p.decode().split("=", 1) for p in pairs if b"=" in p)


def _unretried_runtime(url: str) -> Any:
    """sagemaker-runtime with no retries: each call shows what InvokeEndpoint answered."""
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": 1}),
    )


def _live_endpoint(
    sm: Any, runtime: Any, engine: SageMakerEngine, name: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """An InService endpoint of its own (a uniform policy logging to a file) that served once; its process."""
    log = tmp_path_factory.mktemp(name) / "decisions.jsonl"
    config = _model_and_config(sm, name, None, {"MODEL_ID": name, "DECISIONS_LOG_PATH": str(log)})
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    assert _wait_status(sm, name, engine)["EndpointStatus"] == "InService"
    assert _invoke(runtime, name)["model_id"] == name
    [process] = engine.variant_processes(name)
    return process


def test_a_dead_container_is_replaced_and_the_outage_shows(
    sm: Any, runtime: Any, engine: SageMakerEngine, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Issue 14.2: a SIGKILLed serving container left the endpoint InService with every call a 424. SageMaker pings
    every container and replaces an unhealthy instance: while it does, the endpoint has no healthy instance
    (OutOfService, CurrentInstanceCount 0, a VariantStatus saying why) and calls get ServiceUnavailable (503); the
    new instance has the same environment on a fresh disk, and serves."""
    first = _live_endpoint(sm, runtime, engine, "crashy", tmp_path_factory)
    first_env = _environ(first["pid"])

    os.killpg(first["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while engine.variant_processes("crashy")[0]["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(ClientError) as outage:
        _unretried_runtime(sm.meta.endpoint_url).invoke_endpoint(
            EndpointName="crashy", ContentType="application/json", Body=b'{"context": {}}'
        )
    error = outage.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("ServiceUnavailable", 503)
    assert "no healthy instance" in error["Error"]["Message"]
    described = sm.describe_endpoint(EndpointName="crashy")
    assert described["EndpointStatus"] == "OutOfService"
    [variant] = described["ProductionVariants"]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (0, 1)
    assert variant["VariantStatus"][0]["Status"] == "Creating"
    assert "exited with code -9" in variant["VariantStatus"][0]["StatusMessage"]

    deadline = time.monotonic() + 60
    while sm.describe_endpoint(EndpointName="crashy")["EndpointStatus"] != "InService":
        assert time.monotonic() < deadline, engine.variant_processes("crashy")
        time.sleep(0.1)
    assert _invoke(runtime, "crashy")["model_id"] == "crashy"
    [second] = engine.variant_processes("crashy")
    assert (second["instance"], second["replacements"], second["healthy"]) == (2, 1, True)
    assert second["pid"] != first["pid"]
    described = sm.describe_endpoint(EndpointName="crashy")
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    assert "VariantStatus" not in described["ProductionVariants"][0]
    second_env = _environ(second["pid"])
    instance_disk = {"SM_ML_ROOT", "TMPDIR", "SAGEMAKER_BIND_TO_PORT"}
    assert {k: v for k, v in second_env.items() if k not in instance_disk} == {
        k: v for k, v in first_env.items() if k not in instance_disk
    }
    assert first_env["SM_ML_ROOT"].endswith("/instance-1/ml") and second_env["SM_ML_ROOT"].endswith("/instance-2/ml")
    assert second_env["TMPDIR"].endswith("/instance-2/tmp")  # a new instance's disk: nothing of the dead one's
    sm.delete_endpoint(EndpointName="crashy")


def test_a_container_that_stops_answering_ping_is_replaced(
    sm: Any, runtime: Any, engine: SageMakerEngine, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A container that is alive but answers no `/ping` (2 s timeout) three times in a row is unhealthy too: no
    traffic, OutOfService, then stopped (SIGTERM, its logger flushes) and replaced by a new instance."""
    first = _live_endpoint(sm, runtime, engine, "hung", tmp_path_factory)
    os.killpg(first["pid"], signal.SIGSTOP)  # alive, but it answers nothing
    try:
        deadline = time.monotonic() + 30
        while sm.describe_endpoint(EndpointName="hung")["EndpointStatus"] != "OutOfService":
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        os.killpg(first["pid"], signal.SIGCONT)  # it can take the SIGTERM of its replacement now
    assert _wait_status(sm, "hung", engine)["EndpointStatus"] == "InService"
    [second] = engine.variant_processes("hung")
    assert (second["instance"], second["replacements"]) == (2, 1) and second["pid"] != first["pid"]
    assert _invoke(runtime, "hung")["model_id"] == "hung"
    sm.delete_endpoint(EndpointName="hung")


def test_a_variant_without_a_healthy_instance_gets_no_traffic(sm: Any, runtime: Any, engine: SageMakerEngine) -> None:
    """Two variants, one container killed: the endpoint stays InService (the other variant has healthy instances)
    and serves every call from it until the replacement passes its health check; then both serve again."""
    variants = []
    for name in ("left", "right"):
        container = {"Image": "local/bandit:latest", "Environment": {"EXPERIMENT_ID": "exp", "MODEL_ID": name}}
        sm.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=ROLE)
        variants.append(
            {"VariantName": name, "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        )
    sm.create_endpoint_config(EndpointConfigName="two-variants", ProductionVariants=variants)
    sm.create_endpoint(EndpointName="two-variants", EndpointConfigName="two-variants")
    assert _wait_status(sm, "two-variants", engine)["EndpointStatus"] == "InService"
    left = next(p for p in engine.variant_processes("two-variants") if p["variant"] == "left")
    os.killpg(left["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while next(p for p in engine.variant_processes("two-variants") if p["variant"] == "left")["healthy"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    # the replacement is a new serve process, seconds away: these calls and this description fall within it
    assert {_invoke(runtime, "two-variants")["model_id"] for _ in range(20)} == {"right"}
    described = sm.describe_endpoint(EndpointName="two-variants")
    assert described["EndpointStatus"] == "InService"
    counts = {v["VariantName"]: v["CurrentInstanceCount"] for v in described["ProductionVariants"]}
    assert counts == {"left": 0, "right": 1}
    deadline = time.monotonic() + 60
    while not all(p["healthy"] for p in engine.variant_processes("two-variants")):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert {_invoke(runtime, "two-variants")["model_id"] for _ in range(40)} == {"left", "right"}
    sm.delete_endpoint(EndpointName="two-variants")


def test_closing_the_engine_mid_replacement_leaves_no_container_running(
    gateway: Gateway, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The replacement of a dead container that the engine's close() interrupts stops what it launched."""
    engine = SageMakerEngine(state_dir=tmp_path_factory.mktemp("closing"), endpoint_url=gateway.url, ping_timeout=20)
    container = {"Image": "local/bandit:latest", "Environment": {"EXPERIMENT_ID": "exp", "MODEL_ID": "closing"}}
    engine.dispatch("CreateModel", {"ModelName": "m", "PrimaryContainer": container, "ExecutionRoleArn": ROLE})
    variant = {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
    engine.dispatch("CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [variant]})
    engine.dispatch("CreateEndpoint", {"EndpointName": "closing", "EndpointConfigName": "c"})
    assert engine.wait_endpoint("closing", timeout=60) == "InService"
    serving = engine.table.get("closing").blue
    assert serving is not None
    [replaced] = serving.variants
    assert replaced.process is not None
    os.killpg(replaced.process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while replaced.instance < 2:  # the replacement's container is starting
        assert time.monotonic() < deadline
        time.sleep(0.01)
    engine.close()
    while replaced.replacing:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert replaced.process is not None and replaced.process.poll() is not None
