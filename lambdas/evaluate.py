"""Evaluate: run the counterfactual evaluator on the holdout (candidate vs serving) and read its verdict."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlparse

from botocore.exceptions import ClientError
from pipeline_common import deadline, jobs, store
from pipeline_common.aws import client
from pipeline_common.config import env, settings
from pipeline_common.errors import EvaluationJobFailed, InvalidEvent
from pipeline_common.gate import (
    evaluation_inputs,
    predicted_band,
    read_evaluation,
    reference_band,
    summarize,
    wants_challenger,
)
from pipeline_common.lineage import pooled_prefix
from pipeline_common.names import sagemaker_name
from pipeline_common.observability import MetricUnit, logger, metrics, step_handler
from pipeline_common.payloads import Payload, Request
from pipeline_common.sagemaker_requests import evaluation_job_request
from pipeline_common.steps import Drift, EvaluationResult, JobStatus, JoinResult, TrainingResult, Verdict

METRIC_DRIFT_DETECTED = "DriftDetected"
"""The metric the drift alarm watches (infra/names.py's `METRIC_DRIFT_DETECTED`)."""


def start(run_id: str, join: JoinResult, training: TrainingResult) -> EvaluationResult:
    """Create the evaluation job: channels holdout (every run's joined rows, pooled by the evaluator from
    `holdout_since`), candidate, serving (when a model serves), and the serving model's predicted band for drift."""
    if training.artifact_uri is None:
        raise InvalidEvent("payload field 'payload.training.artifact_uri' is missing: the candidate has not trained")
    config = settings()
    job_name = sagemaker_name(run_id, "-eval", config.experiment_id)
    serving = store.serving_row(config.experiment_id)
    serving_id = str(serving["model_id"]) if serving else None
    serving_uri = serving.get("artifact_uri") if serving else None
    pooled = evaluation_inputs(serving, store.read_drift(config.experiment_id), config.promotion_estimator)
    request = evaluation_job_request(
        jobs.job_site(config, role_variable="EVALUATION_ROLE_ARN"),
        job_name=job_name,
        holdout_uri=pooled_prefix(join.output_prefix),
        candidate_uri=training.artifact_uri,
        serving_uri=serving_uri,
        hyperparameters={**config.evaluation_hyperparameters(), **pooled},
    )
    if not jobs.exists(job_name):
        client("sagemaker").create_training_job(**request)
    since = pooled.get("holdout_since")
    logger.info(
        "evaluation started", extra={"job_name": job_name, "serving_model_id": serving_id, "holdout_since": since}
    )
    return EvaluationResult(
        job_name=job_name,
        model_id=training.model_id,
        serving_model_id=serving_id,
        status=JobStatus.IN_PROGRESS,
        deadline=deadline.stamp("evaluation", config),
        holdout_since=since,
    )


def _download(uri: str) -> bytes:
    """The job's output archive; a job that completed without one is a failed evaluation, not a crash."""
    parsed = urlparse(uri)
    try:
        body: bytes = client("s3").get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"].read()
    except ClientError as error:
        raise EvaluationJobFailed(f"cannot read the evaluation output {uri}: {error}") from error
    return body


def report_drift(run_id: str, drift: Drift | None) -> None:
    """A checked serving model emits `DriftDetected` (1 or 0, the alarm's metric); a detection is recorded."""
    if drift is None:
        return
    metrics.add_metric(name=METRIC_DRIFT_DETECTED, unit=MetricUnit.Count, value=1 if drift.detected else 0)
    if drift.detected:
        store.record_drift(run_id, drift.to_payload())
        logger.warning(
            "drift detected: the serving model's realized reward left its prediction", extra=drift.to_payload()
        )


def record_reference_band(run_id: str, verdict: Verdict) -> None:
    """A serving model that went live without a predicted band (the bootstrap) keeps its value at this first look
    as one, so the drift check covers it from the next run on; a model with a band keeps its own."""
    band = reference_band(verdict)
    if band is None:
        return
    model_id = str(band.pop("model_id"))
    row = store.read_model(model_id)
    if row is None or predicted_band(row, verdict.estimator) is not None:
        return
    store.update_model(model_id, reference_band={**band, "run_id": run_id})
    logger.info("reference band recorded for a serving model without one", extra={"model_id": model_id, **band})


def status(run_id: str, evaluation: EvaluationResult) -> EvaluationResult:
    """Describe the job; when Completed read `evaluation.json` and report the verdict with its numbers."""
    description = client("sagemaker").describe_training_job(TrainingJobName=evaluation.job_name)
    state = jobs.job_state(description)
    if state is JobStatus.FAILED:
        raise EvaluationJobFailed(jobs.failure_reason(description))
    if state is JobStatus.IN_PROGRESS:
        deadline.enforce("evaluation", evaluation.deadline, str(description.get("SecondaryStatus") or state))
        return replace(evaluation, status=state)
    output_uri = jobs.artifact_uri(description, env("BUCKET_NAME"), "evaluations")
    full = read_evaluation(_download(output_uri))
    verdict = summarize(full)
    store.update_model(evaluation.model_id, scores=full)
    report_drift(run_id, verdict.drift)
    record_reference_band(run_id, verdict)
    since = full.get("holdout_since")
    logger.info("evaluation finished", extra={"verdict": verdict.to_payload()})
    challenger = wants_challenger(full, verdict, settings().challenger_share)
    if challenger:
        logger.info("the rejected candidate will serve as a challenger", extra={"model_id": evaluation.model_id})
    return replace(
        evaluation,
        status=state,
        output_uri=output_uri,
        verdict=verdict,
        holdout_since=since if isinstance(since, str) else evaluation.holdout_since,
        challenger=challenger,
    )


@step_handler("start", "status")
def handler(request: Request) -> Payload:
    """`{"action": "start", "run_id", "join", "training"}` | `{"action": "status", "run_id", "evaluation"}`."""
    if request.verb == "start":
        join = JoinResult.from_fields(request.child("join"))
        return start(request.run_id, join, TrainingResult.from_fields(request.child("training"))).to_payload()
    return status(request.run_id, EvaluationResult.from_fields(request.child("evaluation"))).to_payload()
