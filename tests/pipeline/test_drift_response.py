"""The pooled holdout and the answer to a detected change: evaluate passes the band and the pool's start, records
the change and emits `DriftDetected`; the next training run starts a new lineage on the rows after the change."""

from __future__ import annotations

import json
from typing import Any

import boto3
import evaluate
import pytest
import train
from pipeline_common import gate, lineage, store
from pipeline_common.errors import InvalidEvent
from pipeline_helpers import (
    ACCOUNT,
    BUCKET,
    REGION,
    FakeContext,
    evaluation_archive,
    evaluation_payload,
    finished_evaluation,
    training_payload,
)
from test_lineage import EXPERIMENT, FIRST, SECOND, SERVING, SERVING_URI, THIRD, WINDOWS, join_of, serving_model_exists

ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker"
PROMOTING = {"promote": True, "policies": {"candidate": {"dr": {"value": 0.9, "ci_low": 0.86, "ci_high": 0.93}}}}
CHANGE = "2026-11-23T00:40:00.000Z"
DRIFT = {
    "detected": True,
    "direction": "down",
    "serving_model_id": SERVING,
    "change_after": CHANGE,
    "detected_at": "2026-11-23T00:41:00.000Z",
    "realized_mean": 0.5,
    "reason": "fell below",
}


def test_pooled_prefix_is_the_parent_of_the_run_prefix() -> None:
    assert lineage.pooled_prefix(f"s3://{BUCKET}/joined/{FIRST}/") == f"s3://{BUCKET}/joined/"
    with pytest.raises(InvalidEvent, match="not s3://bucket/joined/<run_id>/"):
        lineage.pooled_prefix(f"s3://{BUCKET}/")


def test_the_pool_starts_at_the_serving_models_own_log_not_its_lineages_start() -> None:
    serving = {"model_id": SERVING, "data_start": "2026-11-22T00:00:00.000Z", "data_end": WINDOWS[FIRST]["end"]}
    assert gate.holdout_since(serving, None) == WINDOWS[FIRST]["end"]


def test_the_band_comes_from_the_promoting_evaluation_and_the_pool_from_the_data_cutoff_or_a_later_change() -> None:
    serving = {"model_id": SERVING, "data_end": WINDOWS[FIRST]["start"], "scores": json.dumps(PROMOTING)}
    assert gate.evaluation_inputs(serving, None, "dr") == {
        "holdout_since": WINDOWS[FIRST]["start"],
        "serving_expected_low": "0.86",
        "serving_expected_high": "0.93",
    }
    assert gate.holdout_since(serving, DRIFT) == CHANGE
    assert gate.holdout_since(serving, {**DRIFT, "serving_model_id": "an-older-model"}) == WINDOWS[FIRST]["start"]
    assert gate.predicted_band({**serving, "scores": json.dumps({**PROMOTING, "promote": False})}, "dr") is None
    assert (
        gate.predicted_band({"model_id": "bootstrap"}, "dr") is None and gate.evaluation_inputs(None, None, "dr") == {}
    )


def test_evaluate_start_reads_every_joined_row_since_the_serving_models_cutoff(aws: None, context: FakeContext) -> None:
    serving_model_exists()
    store.update_model(SERVING, scores=PROMOTING)
    training = training_payload(FIRST)
    result = evaluate.handler(
        {"action": "start", "run_id": FIRST, "join": join_of(FIRST, 300), "training": training}, context
    )
    job = boto3.client("sagemaker", region_name=REGION).describe_training_job(TrainingJobName=f"{FIRST}-eval")
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]}
    assert channels == {
        "holdout": f"s3://{BUCKET}/joined/",
        "candidate": training["artifact_uri"],
        "serving": SERVING_URI,
    }
    hyperparameters = job["HyperParameters"]
    assert hyperparameters["holdout_since"] == WINDOWS[FIRST]["start"] == result["holdout_since"]
    assert (hyperparameters["serving_expected_low"], hyperparameters["serving_expected_high"]) == ("0.86", "0.93")


def _status(run_id: str, drift: dict[str, Any], context: FakeContext) -> dict[str, Any]:
    finished_evaluation(run_id, evaluation_archive(False, 0.6, 0.7, extra={"drift": {"checked": True, **drift}}))
    evaluation = evaluation_payload(run_id, status="InProgress")
    return evaluate.handler({"action": "status", "run_id": run_id, "evaluation": evaluation}, context)


def _metric(out: str, name: str) -> list[float]:
    values = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            record = json.loads(line)
            if name in record:
                values.append(float(record[name]) if not isinstance(record[name], list) else record[name][0])
    return values


def test_a_detected_change_is_in_the_output_the_registry_and_the_metric(
    aws: None, context: FakeContext, capsys: pytest.CaptureFixture[str]
) -> None:
    serving_model_exists()
    store.put_model({"model_id": FIRST, "state": "candidate"})
    result = _status(FIRST, DRIFT, context)
    assert result["drift"]["detected"] is True and result["drift"]["change_after"] == CHANGE
    recorded = store.read_drift(EXPERIMENT)
    assert recorded is not None and recorded["run_id"] == FIRST and recorded["change_after"] == CHANGE
    assert store.read_model(SERVING)["drift"]["detected_at"] == DRIFT["detected_at"]  # type: ignore[index]
    assert "drift" not in store.read_experiment(EXPERIMENT)  # the evaluate function writes registry rows only
    assert _metric(capsys.readouterr().out, "DriftDetected") == [1.0]


def test_a_checked_model_without_change_emits_zero_and_records_nothing(
    aws: None, context: FakeContext, capsys: pytest.CaptureFixture[str]
) -> None:
    serving_model_exists()
    store.put_model({"model_id": FIRST, "state": "candidate"})
    result = _status(FIRST, {"detected": False, "serving_model_id": SERVING, "rows": 80}, context)
    assert result["drift"]["detected"] is False and store.read_drift(EXPERIMENT) is None
    assert _metric(capsys.readouterr().out, "DriftDetected") == [0.0]


def test_after_a_change_the_next_candidate_starts_a_new_lineage_on_the_rows_since_the_change(
    aws: None, context: FakeContext
) -> None:
    serving_model_exists()
    store.record_drift(FIRST, DRIFT)
    started = train.handler({"action": "start", "run_id": SECOND, "join": join_of(SECOND, 200)}, context)
    assert started["warm_start"] is False and started["adapting_to_drift"] is True
    assert started["training_since"] == CHANGE and started["parent_model_id"] is None
    job = boto3.client("sagemaker", region_name=REGION).describe_training_job(TrainingJobName=SECOND)
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]}
    # no warm start after the change; the serving model is packed beside the candidate, for a challenger
    assert channels == {
        "training": f"s3://{BUCKET}/joined/",
        "serving_model": f"s3://{BUCKET}/models/m-serving/output/model.tar.gz",
    }
    assert job["HyperParameters"]["serving_model_id"] == SERVING
    assert job["HyperParameters"]["training_since"] == CHANGE
    assert job["HyperParameters"]["exploration_share"] == "0.3"
    row = store.read_model(SECOND)
    assert row is not None and row["data_start"] == CHANGE and "rows_learned" not in row


def test_adaptation_resumes_warm_starts_once_the_head_learned_after_the_change_and_ends_with_a_new_serving_model() -> (
    None
):
    drift = {**DRIFT, "run_id": SECOND}
    raised = {"exploration_share": "0.3"}
    old_head = {
        "model_id": "old",
        "artifact_uri": "s3://b/old",
        "data_start": "2026-11-22T00:00:00.000Z",
        "run_id": FIRST,
    }
    assert lineage.adaptation(old_head, drift, SERVING) == lineage.Adaptation(True, True, CHANGE, raised)
    fresh_head = {**old_head, "data_start": CHANGE}
    # Only the candidate that starts the new lineage explores more: its successors must be able to pass the gate.
    assert lineage.adaptation(fresh_head, drift, SERVING) == lineage.Adaptation(True, False, None, {})
    # trained in the detecting run: its training job saw the change in its window and restarted on its own
    assert lineage.adaptation({**old_head, "run_id": SECOND}, drift, SERVING).fresh is False
    assert lineage.adaptation(old_head, drift, "a-newer-model").active is False
    assert lineage.adaptation(old_head, None, SERVING).active is False


def test_the_training_job_gets_the_serving_models_band_to_check_its_own_window(aws: None, context: FakeContext) -> None:
    serving_model_exists()
    store.update_model(SERVING, scores=PROMOTING)
    train.handler({"action": "start", "run_id": FIRST, "join": join_of(FIRST, 300)}, context)
    job = boto3.client("sagemaker", region_name=REGION).describe_training_job(TrainingJobName=FIRST)
    hyperparameters = job["HyperParameters"]
    assert hyperparameters["serving_model_id"] == SERVING and hyperparameters["drift_margin"] == "0.01"
    assert (hyperparameters["serving_expected_low"], hyperparameters["serving_expected_high"]) == ("0.86", "0.93")


def test_a_model_serving_without_a_band_gets_its_first_measured_value_as_its_reference() -> None:
    reference = {"estimator": "dr", "low": 0.5, "high": 0.7, "rows": 90, "run_id": FIRST}
    bootstrap = {"model_id": "bootstrap", "reference_band": reference}
    assert gate.predicted_band(bootstrap, "dr") == (0.5, 0.7)
    assert gate.predicted_band(bootstrap, "snips") is None  # measured with another estimator: not this gate's
    assert gate.predicted_band({**bootstrap, "scores": json.dumps(PROMOTING)}, "dr") == (0.86, 0.93)  # promoting wins
    assert gate.predicted_band({"model_id": "b", "reference_band": {**reference, "low": 0.8}}, "dr") is None


def test_the_first_evaluation_of_a_bandless_serving_model_records_its_reference_and_the_next_run_checks_it(
    aws: None, context: FakeContext
) -> None:
    serving_model_exists()  # the bootstrap: it went live without a promoting evaluation
    store.put_model({"model_id": FIRST, "state": "candidate"})
    _status(FIRST, {"detected": False, "serving_model_id": SERVING, "rows": 80}, context)
    # evaluation_archive scores serving at 0.7 [0.68, 0.72] with DR on 400 rows
    row = store.read_model(SERVING)
    assert row is not None and row["reference_band"] == {
        "estimator": "dr",
        "low": pytest.approx(0.68),
        "high": pytest.approx(0.72),
        "rows": 400,
        "run_id": FIRST,
    }
    store.put_model({"model_id": SECOND, "state": "candidate"})
    finished_evaluation(SECOND, evaluation_archive(False, 0.5, 0.4))
    evaluate.handler(
        {"action": "status", "run_id": SECOND, "evaluation": evaluation_payload(SECOND, status="InProgress")}, context
    )
    assert store.read_model(SERVING)["reference_band"]["run_id"] == FIRST  # type: ignore[index]  # kept, not moved
    training = training_payload(THIRD)
    evaluate.handler({"action": "start", "run_id": THIRD, "join": join_of(THIRD, 300), "training": training}, context)
    job = boto3.client("sagemaker", region_name=REGION).describe_training_job(TrainingJobName=f"{THIRD}-eval")
    hyperparameters = job["HyperParameters"]
    assert (hyperparameters["serving_expected_low"], hyperparameters["serving_expected_high"]) == ("0.68", "0.72")


def test_a_serving_model_with_a_promoting_band_is_not_given_a_reference(aws: None, context: FakeContext) -> None:
    serving_model_exists()
    store.update_model(SERVING, scores=PROMOTING)
    store.put_model({"model_id": FIRST, "state": "candidate"})
    _status(FIRST, {"detected": False, "serving_model_id": SERVING, "rows": 80}, context)
    assert "reference_band" not in store.read_model(SERVING)  # type: ignore[operator]


def test_a_serving_models_change_is_detected_once_neither_job_gets_its_band_again() -> None:
    serving = {"model_id": SERVING, "data_end": WINDOWS[FIRST]["start"], "scores": json.dumps(PROMOTING)}
    # With the change recorded the pool starts at it, and no band is passed: a later run would detect it anew.
    assert gate.evaluation_inputs(serving, DRIFT, "dr") == {"holdout_since": CHANGE}
    assert gate.drift_inputs(serving, "dr", 0.01, DRIFT) == {}
    # A change recorded under an older model does not silence the checks of the one serving now.
    older = {**DRIFT, "serving_model_id": "an-older-model"}
    assert gate.evaluation_inputs(serving, older, "dr")["serving_expected_low"] == "0.86"
    assert gate.drift_inputs(serving, "dr", 0.01, older)["serving_model_id"] == SERVING
    assert gate.drift_inputs(serving, "dr", 0.01)["serving_expected_high"] == "0.93"


def test_after_a_recorded_change_the_training_job_does_not_detect_it_again(aws: None, context: FakeContext) -> None:
    serving_model_exists()
    store.update_model(SERVING, scores=PROMOTING)
    store.record_drift(FIRST, DRIFT)
    train.handler({"action": "start", "run_id": SECOND, "join": join_of(SECOND, 200)}, context)
    hyperparameters = boto3.client("sagemaker", region_name=REGION).describe_training_job(TrainingJobName=SECOND)[
        "HyperParameters"
    ]
    assert "serving_expected_low" not in hyperparameters and "drift_margin" not in hyperparameters
    assert hyperparameters["training_since"] == CHANGE  # the new lineage still starts at the recorded change
