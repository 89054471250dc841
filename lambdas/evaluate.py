"""Evaluate: run the counterfactual evaluator on the holdout (candidate vs serving) and read its verdict."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from pipeline_common import deadline, jobs, store
from pipeline_common.aws import aws_errors, client
from pipeline_common.config import env, settings
from pipeline_common.errors import EvaluationJobFailed
from pipeline_common.gate import evaluation_inputs, read_evaluation, summarize
from pipeline_common.lineage import pooled_prefix
from pipeline_common.names import sagemaker_name
from pipeline_common.observability import MetricUnit, logger, metrics, tracer
from pipeline_common.payloads import action, field, optional
from pipeline_common.sagemaker_requests import evaluation_job_request


def start(event: dict[str, Any]) -> dict[str, Any]:
    """Create the evaluation job: channels holdout (every run's joined rows, pooled by the evaluator from
    `holdout_since`), candidate, serving (when a model serves), and the serving model's predicted band for drift."""
    run_id = field(event, "run_id", str)
    join = field(event, "join", dict)
    training = field(event, "training", dict)
    config = settings()
    job_name = sagemaker_name(run_id, "-eval", config.experiment_id)
    serving = store.serving_row(config.experiment_id)
    serving_id = str(serving["model_id"]) if serving else None
    serving_uri = serving.get("artifact_uri") if serving else None
    pooled = evaluation_inputs(serving, store.read_drift(config.experiment_id), config.promotion_estimator)
    request = evaluation_job_request(
        job_name=job_name,
        image_uri=env("TRAINING_IMAGE_URI"),
        role_arn=env("SAGEMAKER_ROLE_ARN"),
        bucket=env("BUCKET_NAME"),
        holdout_uri=pooled_prefix(field(join, "output_prefix", str)),
        candidate_uri=field(training, "artifact_uri", str),
        serving_uri=serving_uri,
        hyperparameters={**config.evaluation_hyperparameters(), **pooled},
        instance_type=config.training_instance_type,
        experiment_id=config.experiment_id,
    )
    if not jobs.exists(job_name):
        client("sagemaker").create_training_job(**request)
    logger.info(
        "evaluation started",
        extra={"job_name": job_name, "serving_model_id": serving_id, "holdout_since": pooled.get("holdout_since")},
    )
    return {
        "job_name": job_name,
        "model_id": field(training, "model_id", str),
        "serving_model_id": serving_id,
        "holdout_since": pooled.get("holdout_since"),
        "status": jobs.IN_PROGRESS,
        **deadline.stamp("evaluation", config),
    }


def _download(uri: str) -> bytes:
    """The job's output archive; a job that completed without one is a failed evaluation, not a crash."""
    parsed = urlparse(uri)
    try:
        return client("s3").get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"].read()
    except ClientError as error:
        raise EvaluationJobFailed(f"cannot read the evaluation output {uri}: {error}") from error


def report_drift(run_id: str, drift: dict[str, Any] | None) -> None:
    """A checked serving model emits `DriftDetected` (1 or 0, the alarm's metric); a detection is recorded."""
    if drift is None:
        return
    detected = drift.get("detected") is True
    metrics.add_metric(name="DriftDetected", unit=MetricUnit.Count, value=1 if detected else 0)
    if detected:
        store.record_drift(run_id, drift)
        logger.warning("drift detected: the serving model's realized reward left its prediction", extra=drift)


def status(event: dict[str, Any]) -> dict[str, Any]:
    """Describe the job; when Completed read `evaluation.json` and report the verdict with its numbers."""
    evaluation = field(event, "evaluation", dict)
    job_name = field(evaluation, "job_name", str)
    description = client("sagemaker").describe_training_job(TrainingJobName=job_name)
    state = jobs.job_state(description)
    if state == jobs.FAILED:
        raise EvaluationJobFailed(jobs.failure_reason(description))
    if state == jobs.IN_PROGRESS:
        deadline.enforce("evaluation", evaluation, str(description.get("SecondaryStatus") or state))
        return {**evaluation, "status": state}
    output_uri = jobs.artifact_uri(description, env("BUCKET_NAME"), "evaluations")
    full = read_evaluation(_download(output_uri))
    verdict = summarize(full)
    model_id = optional(evaluation, "model_id", str)
    if model_id:
        store.update_model(model_id, scores=full)
    report_drift(field(event, "run_id", str), verdict.get("drift"))
    logger.info("evaluation finished", extra={"verdict": verdict})
    return {**evaluation, "status": state, "output_uri": output_uri, **verdict}


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@aws_errors
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """`{"action": "start", "run_id", "join", "training"}` | `{"action": "status", "run_id", "evaluation"}`."""
    verb = action(event, ("start", "status"))
    logger.set_correlation_id(event.get("run_id"))
    return start(event) if verb == "start" else status(event)
