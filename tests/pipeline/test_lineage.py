"""The learning lineage goes on across rejections: the gate decides what serves, never what is learned."""

from __future__ import annotations

from typing import Any

import boto3
import evaluate
import finalize
import pytest
import train
from pipeline_common import lineage, store
from pipeline_common.window import Window
from pipeline_helpers import BUCKET, REGION, FakeContext, deployment_payload, evaluation_payload, join_payload

EXPERIMENT = "bandit-demo"
FIRST, SECOND, THIRD = (f"{EXPERIMENT}-20261123T0{h}0000" for h in (1, 2, 3))
WINDOWS = {
    FIRST: {"start": "2026-11-23T00:00:00.000Z", "end": "2026-11-23T01:00:00.000Z"},
    SECOND: {"start": "2026-11-23T01:00:00.000Z", "end": "2026-11-23T02:00:00.000Z"},
    THIRD: {"start": "2026-11-23T02:00:00.000Z", "end": "2026-11-23T03:00:00.000Z"},
}
SERVING = "m-serving"
SERVING_URI = f"s3://{BUCKET}/models/{SERVING}/output/model.tar.gz"


def artifact(model_id: str) -> str:
    return f"s3://{BUCKET}/models/{model_id}/output/model.tar.gz"


def join_of(run_id: str, rows: int) -> dict[str, Any]:
    return join_payload(run_id, rows=rows, window=WINDOWS[run_id])


def serving_model_exists() -> None:
    store.put_model(
        {
            "model_id": SERVING,
            "experiment_id": EXPERIMENT,
            "state": "serving",
            "artifact_uri": SERVING_URI,
            "data_start": "2026-11-22T00:00:00.000Z",
            "data_end": WINDOWS[FIRST]["start"],
            "rows_learned": 500,
        }
    )
    store.update_experiment(EXPERIMENT, serving_model_id=SERVING, watermark=WINDOWS[FIRST]["start"])


def pretrained_channel(job_name: str) -> str | None:
    job = boto3.client("sagemaker", region_name=REGION).describe_training_job(TrainingJobName=job_name)
    uris = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]}
    return uris.get("pretrained_model")


def trained(run_id: str, rows: int, context: FakeContext) -> dict[str, Any]:
    """Join done, training started and (moto completes jobs at once) finished: the run's state so far."""
    join = join_of(run_id, rows)
    started = train.handler({"action": "start", "run_id": run_id, "join": join}, context)
    training = train.handler({"action": "status", "run_id": run_id, "training": started}, context)
    return {"run_id": run_id, "window": WINDOWS[run_id], "join": join, "training": training}


def finish(run: dict[str, Any], context: FakeContext) -> dict[str, Any]:
    return finalize.handler({"action": "finalize", "run_id": run["run_id"], "run": run}, context)


def rejected(run: dict[str, Any]) -> dict[str, Any]:
    return {**run, "evaluation": evaluation_payload(run["run_id"], promote=False)}


def test_after_a_rejected_run_the_next_candidate_learns_from_the_rejected_one(aws: None, context: FakeContext) -> None:
    serving_model_exists()
    first = trained(FIRST, 300, context)
    assert pretrained_channel(FIRST) == SERVING_URI
    result = finish(rejected(first), context)
    assert result["outcome"] == "rejected" and result["learner_model_id"] == FIRST
    experiment = store.read_experiment(EXPERIMENT)
    assert experiment["serving_model_id"] == SERVING and experiment["learner_model_id"] == FIRST

    second = trained(SECOND, 200, context)
    assert pretrained_channel(SECOND) == artifact(FIRST)
    assert second["training"]["parent_model_id"] == FIRST and second["training"]["warm_start"] is True
    job = boto3.client("sagemaker", region_name=REGION).describe_training_job(TrainingJobName=SECOND)
    assert job["HyperParameters"]["parent_model_id"] == FIRST

    # The gate still compares the candidate with the model that serves, not with the lineage head.
    evaluation = evaluate.handler(
        {"action": "start", "run_id": SECOND, "join": second["join"], "training": second["training"]}, context
    )
    assert evaluation["serving_model_id"] == SERVING
    eval_job = boto3.client("sagemaker", region_name=REGION).describe_training_job(TrainingJobName=f"{SECOND}-eval")
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in eval_job["InputDataConfig"]}
    assert channels["serving"] == SERVING_URI and channels["candidate"] == artifact(SECOND)


def test_the_registry_records_parent_and_cumulative_data_range(aws: None, context: FakeContext) -> None:
    serving_model_exists()
    finish(rejected(trained(FIRST, 300, context)), context)
    trained(SECOND, 200, context)
    first, second = store.read_model(FIRST), store.read_model(SECOND)
    assert first is not None and second is not None
    assert first["parent_model_id"] == SERVING and second["parent_model_id"] == FIRST
    assert first["data_start"] == "2026-11-22T00:00:00.000Z" and first["data_end"] == WINDOWS[FIRST]["end"]
    assert first["rows_learned"] == 800 and first["window_rows"] == 300
    assert second["data_start"] == "2026-11-22T00:00:00.000Z" and second["data_end"] == WINDOWS[SECOND]["end"]
    assert second["rows_learned"] == 1000 and second["window_start"] == WINDOWS[SECOND]["start"]


@pytest.mark.parametrize(
    ("rollout", "outcome", "serving", "state"),
    [("deployed", "promoted", FIRST, "serving"), ("rolled_back", "rolled_back", SERVING, "rolled_back")],
)
def test_a_promoted_candidate_heads_the_lineage_whether_its_rollout_stayed_or_rolled_back(
    aws: None, context: FakeContext, rollout: str, outcome: str, serving: str, state: str
) -> None:
    serving_model_exists()
    run = {
        **trained(FIRST, 300, context),
        "evaluation": evaluation_payload(FIRST, promote=True),
        "deployment": deployment_payload(FIRST, status=rollout, previous_model_id=SERVING),
    }
    assert finish(run, context)["outcome"] == outcome
    experiment = store.read_experiment(EXPERIMENT)
    assert experiment["serving_model_id"] == serving and experiment["learner_model_id"] == FIRST
    assert store.read_model(FIRST)["state"] == state  # type: ignore[index]
    trained(SECOND, 100, context)
    assert pretrained_channel(SECOND) == artifact(FIRST)


def test_a_failed_run_keeps_the_previous_head(aws: None, context: FakeContext) -> None:
    serving_model_exists()
    finish(rejected(trained(FIRST, 300, context)), context)
    failed = {
        **trained(SECOND, 200, context),
        "error": {"Error": "EvaluationJobFailed", "Cause": "boom"},
    }
    assert finalize.handler({"action": "record_failure", "run_id": SECOND, "run": failed}, context)["outcome"] == (
        "failed"
    )
    assert store.read_experiment(EXPERIMENT)["learner_model_id"] == FIRST
    # The next run re-joins the failed run's window and learns it once, from the head before the failure.
    trained(THIRD, 250, context)
    assert pretrained_channel(THIRD) == artifact(FIRST)
    assert store.read_model(THIRD)["rows_learned"] == 1050  # type: ignore[index]


def test_an_experiment_from_before_the_lineage_learns_from_the_serving_model(aws: None) -> None:
    serving_model_exists()
    assert store.learner_model(EXPERIMENT) == (SERVING, SERVING_URI)
    store.update_experiment(EXPERIMENT, learner_model_id="m-head")
    store.put_model({"model_id": "m-head", "artifact_uri": artifact("m-head")})
    assert store.learner_model(EXPERIMENT) == ("m-head", artifact("m-head"))
    assert store.serving_model(EXPERIMENT) == (SERVING, SERVING_URI)


def test_data_range_starts_a_new_lineage_without_a_trained_parent() -> None:
    window = WINDOWS[FIRST]
    for parent in (None, {"model_id": "uniform", "state": "serving"}):
        assert lineage.data_range(parent, Window.from_dict(window), 120) == {
            "window_start": window["start"],
            "window_end": window["end"],
            "window_rows": 120,
            "data_start": window["start"],
            "data_end": window["end"],
            "rows_learned": 120,
        }
    legacy = lineage.data_range({"model_id": "old", "artifact_uri": "s3://b/old"}, Window.from_dict(window), 120)
    assert legacy["data_start"] is None and legacy["rows_learned"] is None and legacy["data_end"] == window["end"]
