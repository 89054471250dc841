"""End to end on the local runtime, started as its own process (`python -m local up --detach`), driven through the
AWS APIs only: decisions served and logged, rewards sent, the threshold crossed, one execution started (not two),
joined, trained, evaluated, promoted, deployed blue/green, and the next decisions carry the new model_id; then a
candidate whose `serve` fails its health check is rolled back and the serving model stays."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from local.aws import client

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SETTINGS = {
    "retrain_threshold": 200,
    "reward_wait_seconds": 1,
    "min_training_rows": 30,
    "poll_seconds": 1,
    "canary_wait_seconds": 2,
    "termination_wait_seconds": 1,
    "promotion_margin": 1.0,  # the gate always promotes: this test is about the loop, not the estimator
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Runtime:
    def __init__(self, url: str, state_dir: Path, outputs: dict[str, str]) -> None:
        self.url = url
        self.state_dir = state_dir
        self.outputs = outputs

    def client(self, service: str) -> Any:
        return client(service, endpoint_url=self.url)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    state = tmp_path_factory.mktemp("e2e-state")
    port = _free_port()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "local",
            "up",
            "--detach",
            "--port",
            str(port),
            "--state-dir",
            str(state),
            "--settings",
            json.dumps(SETTINGS),
            "--timeout",
            "240",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = (state / "gateway.log").read_text() if (state / "gateway.log").is_file() else ""
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{log[-3000:]}"
    info = json.loads((state / "endpoint.json").read_text())
    yield Runtime(info["url"], state, info["outputs"])
    pid = int((state / "gateway.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)


def _wait(sfn: Any, arn: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.5)


def _history_states(sfn: Any, arn: str) -> list[str]:
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def _item(rt: Runtime, table: str, key: dict[str, str]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    raw = rt.client("dynamodb").get_item(TableName=table, Key={k: {"S": v} for k, v in key.items()}).get("Item", {})
    return {k: TypeDeserializer().deserialize(v) for k, v in raw.items()}


def _failure(rt: Runtime, sfn: Any, arn: str) -> str:
    from local.history import render_history

    logs = rt.state_dir / "logs" / "lambda"
    tails = "".join(f"\n--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(logs.glob("*.log")))
    return render_history(sfn, arn) + tails


def _decide(rt: Runtime, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` decisions for requests of the synthetic scenario (the features the policies were trained on)."""
    from simulator import SageMakerDecisionClient, build_scenario
    from simulator.scenarios import take

    requests = [i.request() for i in take(build_scenario("synthetic", seed=seed).interactions(count), count)]
    return SageMakerDecisionClient(rt.outputs["EndpointName"], runtime=rt.client("sagemaker-runtime")).decide(requests)


@pytest.fixture(scope="module")
def bootstrapped(runtime: Runtime) -> Runtime:
    """A `{"bootstrap": true}` execution created the endpoint with the first policy."""
    rt = runtime
    sfn = rt.client("stepfunctions")
    boot = sfn.start_execution(
        stateMachineArn=rt.outputs["StateMachineArn"], name="bootstrap-1", input=json.dumps({"bootstrap": True})
    )
    described = _wait(sfn, boot["executionArn"], 180)
    assert described["status"] == "SUCCEEDED", _failure(rt, sfn, boot["executionArn"])
    endpoint = rt.client("sagemaker").describe_endpoint(EndpointName=rt.outputs["EndpointName"])
    assert endpoint["EndpointStatus"] == "InService"
    return rt


def test_threshold_to_new_model_serving(bootstrapped: Runtime) -> None:
    from simulator import FirehoseRewardSink, SdkDecisionClient, build_scenario, run_simulation

    rt = bootstrapped
    sfn = rt.client("stepfunctions")
    machine = rt.outputs["StateMachineArn"]

    # the simulation through the SageMaker Python SDK's predictor; `_decide` below uses boto3's runtime client
    decisions = SdkDecisionClient(rt.outputs["EndpointName"], runtime=rt.client("sagemaker-runtime"))
    sink = FirehoseRewardSink(rt.outputs["RewardsStreamName"], rt.client("firehose"))
    result = run_simulation(build_scenario("synthetic", seed=3), 260, decisions, sink, batch_size=20, seed=3)
    first_models = {r.model_id for r in result.rounds}
    assert len(first_models) == 1, first_models

    # decisions are logged through Firehose under decisions/YYYY/MM/DD/HH/
    s3 = rt.client("s3")
    bucket = rt.outputs["BucketName"]
    wanted = {r.event_id for r in result.rounds}
    deadline = time.monotonic() + 30
    logged: set[str] = set()
    while time.monotonic() < deadline and not wanted <= logged:
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix="decisions/").get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
            logged.update(json.loads(line)["event_id"] for line in body.splitlines() if line.strip())
        time.sleep(1)
    assert wanted <= logged, f"{len(wanted - logged)} decisions not logged"

    # the threshold (200) was crossed once: exactly one retraining execution
    deadline = time.monotonic() + 60
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not runs:
        runs = [e for e in sfn.list_executions(stateMachineArn=machine)["executions"] if e["name"] != "bootstrap-1"]
        time.sleep(0.5)
    assert len(runs) == 1, runs
    run = _wait(sfn, runs[0]["executionArn"], 240)
    assert run["status"] == "SUCCEEDED", _failure(rt, sfn, runs[0]["executionArn"])
    states = _history_states(sfn, runs[0]["executionArn"])
    for state in ("StartJoin", "StartTraining", "StartEvaluation", "Promote?", "StartDeployment", "Finalize"):
        assert state in states, (state, states)
    assert [
        e["name"] for e in sfn.list_executions(stateMachineArn=machine)["executions"] if e["name"] != "bootstrap-1"
    ] == [runs[0]["name"]]

    join = _item(rt, rt.outputs["JoinsTableName"], {"run_id": runs[0]["name"]})
    assert int(join["rows"]) >= 200, join
    experiment = _item(rt, rt.outputs["ExperimentsTableName"], {"experiment_id": "bandit-demo"})
    new_model = experiment["serving_model_id"]
    assert new_model not in first_models
    model = _item(rt, rt.outputs["ModelsTableName"], {"model_id": new_model})
    assert model["state"] == "serving" and model["run_id"] == runs[0]["name"]
    assert json.loads(model["scores"])["promote"] is True

    # the next decisions carry the new model_id
    answers = _decide(rt, 5, seed=11)
    assert {a["model_id"] for a in answers} == {new_model}

    # every role's call was evaluated against the template's policies, and the loop needed nothing they deny
    status = json.loads(urllib.request.urlopen(f"{rt.url}/_local/status", timeout=10).read())
    assert status["iam"]["enforced"] and status["iam"]["allowed"] > 0, status["iam"]
    assert status["iam"]["denied"] == [] and status["firehose_records_failed"] == 0, status["iam"]


def _corrupt_model(rt: Runtime, model_id: str) -> str:
    """A registered model whose artifact makes `serve` fail (the archive holds a vw.model that is not a model)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in (("vw.model", b"this is not a VW model"), ("metadata.json", b"{not json")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    key = f"models/{model_id}/output/model.tar.gz"
    rt.client("s3").put_object(Bucket=rt.outputs["BucketName"], Key=key, Body=buffer.getvalue())
    rt.client("dynamodb").put_item(
        TableName=rt.outputs["ModelsTableName"],
        Item={
            "model_id": {"S": model_id},
            "experiment_id": {"S": "bandit-demo"},
            "state": {"S": "candidate"},
            "artifact_uri": {"S": f"s3://{rt.outputs['BucketName']}/{key}"},
            "created_at": {"S": "2026-01-01T00:00:00.000Z"},
        },
    )
    return model_id


def test_a_candidate_failing_its_health_check_is_rolled_back(bootstrapped: Runtime) -> None:
    rt = bootstrapped
    sfn = rt.client("stepfunctions")
    machine = rt.outputs["StateMachineArn"]
    experiment = _item(rt, rt.outputs["ExperimentsTableName"], {"experiment_id": "bandit-demo"})
    serving = experiment.get("serving_model_id")
    assert serving, "the bootstrap leaves a serving model"
    bad = _corrupt_model(rt, "bandit-demo-broken-candidate")
    execution = sfn.start_execution(
        stateMachineArn=machine, name="rollback-bad-1", input=json.dumps({"rollback_to": bad})
    )
    described = _wait(sfn, execution["executionArn"], 180)
    assert described["status"] == "SUCCEEDED", _failure(rt, sfn, execution["executionArn"])
    output = json.loads(described["output"])
    assert "rolled_back" in json.dumps(output), output
    endpoint = rt.client("sagemaker").describe_endpoint(EndpointName=rt.outputs["EndpointName"])
    assert endpoint["EndpointStatus"] == "InService"
    after = _item(rt, rt.outputs["ExperimentsTableName"], {"experiment_id": "bandit-demo"})
    assert after["serving_model_id"] == serving
    answers = _decide(rt, 3, seed=12)
    assert {a["model_id"] for a in answers} == {serving}
    assert after.get("last_outcome") == "rollback_reverted", after  # the run records the rollback
    model = _item(rt, rt.outputs["ModelsTableName"], {"model_id": bad})
    assert model["state"] != "serving", model
    reason = rt.client("sagemaker").describe_endpoint(EndpointName=rt.outputs["EndpointName"]).get("FailureReason", "")
    assert reason, "the endpoint says why the update was rolled back"
