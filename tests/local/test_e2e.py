"""End to end on the local runtime, started as its own process (`python -m local up --detach`), driven through the
AWS APIs only: decisions served and logged, rewards sent, the threshold crossed, one execution started (not two),
joined, trained, evaluated, promoted, deployed blue/green, and the next decisions carry the new model_id; then a
candidate whose `serve` fails its health check is rolled back and the serving model stays."""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local.driver import FAST_SETTINGS, DetachedRuntime, entered_states

pytestmark = pytest.mark.e2e

SETTINGS = {
    **FAST_SETTINGS,
    "retrain_threshold": 200,
    "promotion_margin": 1.0,  # the gate always promotes: this test is about the loop, not the estimator
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DetachedRuntime]:
    rt = DetachedRuntime(tmp_path_factory.mktemp("e2e-state"), SETTINGS).start(timeout=240)
    yield rt
    rt.stop()


def _decide(rt: DetachedRuntime, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` decisions for requests of the synthetic scenario (the features the policies were trained on)."""
    from simulator import SageMakerDecisionClient, build_scenario
    from simulator.scenarios import take

    requests = [i.request() for i in take(build_scenario("synthetic", seed=seed).interactions(count), count)]
    return SageMakerDecisionClient(rt.outputs["EndpointName"], runtime=rt.client("sagemaker-runtime")).decide(requests)


@pytest.fixture(scope="module")
def bootstrapped(runtime: DetachedRuntime) -> DetachedRuntime:
    """A `{"bootstrap": true}` execution created the endpoint with the first policy."""
    rt = runtime
    boot = rt.start_execution("bootstrap-1", {"bootstrap": True})
    described = rt.wait_execution(boot, 180)
    assert described["status"] == "SUCCEEDED", rt.explain(boot)
    endpoint = rt.client("sagemaker").describe_endpoint(EndpointName=rt.outputs["EndpointName"])
    assert endpoint["EndpointStatus"] == "InService"
    return rt


def test_threshold_to_new_model_serving(bootstrapped: DetachedRuntime) -> None:
    from simulator import FirehoseRewardSink, SdkDecisionClient, build_scenario, run_simulation

    rt = bootstrapped
    # the simulation through the SageMaker Python SDK's predictor; `_decide` below uses boto3's runtime client
    decisions = SdkDecisionClient(rt.outputs["EndpointName"], runtime=rt.client("sagemaker-runtime"))
    sink = FirehoseRewardSink(rt.outputs["RewardsStreamName"], rt.client("firehose"))
    result = run_simulation(build_scenario("synthetic", seed=3), 260, decisions, sink, batch_size=20, seed=3)
    first_models = {r.model_id for r in result.rounds}
    assert len(first_models) == 1, first_models

    # decisions are logged through Firehose under decisions/YYYY/MM/DD/HH/
    wanted = {r.event_id for r in result.rounds}
    deadline = time.monotonic() + 30
    logged: set[str] = set()
    while time.monotonic() < deadline and not wanted <= logged:
        logged = {json.loads(line)["event_id"] for line in rt.s3_lines("decisions/")}
        time.sleep(1)
    assert wanted <= logged, f"{len(wanted - logged)} decisions not logged"

    # the threshold (200) was crossed once: exactly one retraining execution
    deadline = time.monotonic() + 60
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not runs:
        runs = [e for e in rt.executions() if e["name"] != "bootstrap-1"]
        time.sleep(0.5)
    assert len(runs) == 1, runs
    run = rt.wait_execution(runs[0]["executionArn"], 240)
    assert run["status"] == "SUCCEEDED", rt.explain(runs[0]["executionArn"])
    states = entered_states(rt.history(runs[0]["executionArn"]))
    for state in ("StartJoin", "StartTraining", "StartEvaluation", "Promote?", "StartDeployment", "Finalize"):
        assert state in states, (state, states)
    assert [e["name"] for e in rt.executions() if e["name"] != "bootstrap-1"] == [runs[0]["name"]]

    join = rt.item("JoinsTableName", {"run_id": runs[0]["name"]})
    assert int(join["rows"]) >= 200, join
    experiment = rt.item("ExperimentsTableName", {"experiment_id": "bandit-demo"})
    new_model = experiment["serving_model_id"]
    assert new_model not in first_models
    model = rt.item("ModelsTableName", {"model_id": new_model})
    assert model["state"] == "serving" and model["run_id"] == runs[0]["name"]
    assert json.loads(model["scores"])["promote"] is True

    # the next decisions carry the new model_id
    answers = _decide(rt, 5, seed=11)
    assert {a["model_id"] for a in answers} == {new_model}

    # every role's call was evaluated against the template's policies, and the loop needed nothing they deny
    status = rt.status()
    assert status["iam"]["enforced"] and status["iam"]["allowed"] > 0, status["iam"]
    assert status["iam"]["denied"] == [] and status["firehose_records_failed"] == 0, status["iam"]


def _corrupt_model(rt: DetachedRuntime, model_id: str) -> str:
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


def test_a_candidate_failing_its_health_check_is_rolled_back(bootstrapped: DetachedRuntime) -> None:
    rt = bootstrapped
    experiment = rt.item("ExperimentsTableName", {"experiment_id": "bandit-demo"})
    serving = experiment.get("serving_model_id")
    assert serving, "the bootstrap leaves a serving model"
    bad = _corrupt_model(rt, "bandit-demo-broken-candidate")
    execution = rt.start_execution("rollback-bad-1", {"rollback_to": bad})
    described = rt.wait_execution(execution, 180)
    assert described["status"] == "SUCCEEDED", rt.explain(execution)
    output = json.loads(described["output"])
    assert "rolled_back" in json.dumps(output), output
    endpoint = rt.client("sagemaker").describe_endpoint(EndpointName=rt.outputs["EndpointName"])
    assert endpoint["EndpointStatus"] == "InService"
    after = rt.item("ExperimentsTableName", {"experiment_id": "bandit-demo"})
    assert after["serving_model_id"] == serving
    answers = _decide(rt, 3, seed=12)
    assert {a["model_id"] for a in answers} == {serving}
    assert after.get("last_outcome") == "rollback_reverted", after  # the run records the rollback
    model = rt.item("ModelsTableName", {"model_id": bad})
    assert model["state"] != "serving", model
    reason = rt.client("sagemaker").describe_endpoint(EndpointName=rt.outputs["EndpointName"]).get("FailureReason", "")
    assert reason, "the endpoint says why the update was rolled back"
