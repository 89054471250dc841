"""Evaluate: run the counterfactual evaluator on the holdout (candidate vs serving) and read its verdict."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlparse

from botocore.exceptions import ClientError
from pipeline_common import deadline, jobs, store
from pipeline_common.aws import client
from pipeline_common.config import env, settings
from pipeline_common.errors import EvaluationJobFailed, InvalidEvent
from pipeline_common.gate import read_evaluation, summarize
from pipeline_common.names import sagemaker_name
from pipeline_common.observability import logger, step_handler
from pipeline_common.payloads import Payload, Request
from pipeline_common.sagemaker_requests import evaluation_job_request
from pipeline_common.steps import EvaluationResult, JobStatus, JoinResult, TrainingResult


def start(run_id: str, join: JoinResult, training: TrainingResult) -> EvaluationResult:
    """Create the evaluation job: channels holdout (the run's joined rows), candidate, serving (when a model serves)."""
    if training.artifact_uri is None:
        raise InvalidEvent("payload field 'payload.training.artifact_uri' is missing: the candidate has not trained")
    config = settings()
    job_name = sagemaker_name(run_id, "-eval", config.experiment_id)
    serving_id, serving_uri = store.serving_model(config.experiment_id)
    request = evaluation_job_request(
        jobs.job_site(config, role_variable="EVALUATION_ROLE_ARN"),
        job_name=job_name,
        holdout_uri=join.output_prefix,
        candidate_uri=training.artifact_uri,
        serving_uri=serving_uri,
        hyperparameters=config.evaluation_hyperparameters(),
    )
    if not jobs.exists(job_name):
        client("sagemaker").create_training_job(**request)
    logger.info("evaluation started", extra={"job_name": job_name, "serving_model_id": serving_id})
    return EvaluationResult(
        job_name=job_name,
        model_id=training.model_id,
        serving_model_id=serving_id,
        status=JobStatus.IN_PROGRESS,
        deadline=deadline.stamp("evaluation", config),
    )


def _download(uri: str) -> bytes:
    """The job's output archive; a job that completed without one is a failed evaluation, not a crash."""
    parsed = urlparse(uri)
    try:
        body: bytes = client("s3").get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"].read()
    except ClientError as error:
        raise EvaluationJobFailed(f"cannot read the evaluation output {uri}: {error}") from error
    return body


def status(evaluation: EvaluationResult) -> EvaluationResult:
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
    logger.info("evaluation finished", extra={"verdict": verdict.to_payload()})
    return replace(evaluation, status=state, output_uri=output_uri, verdict=verdict)


@step_handler("start", "status")
def handler(request: Request) -> Payload:
    """`{"action": "start", "run_id", "join", "training"}` | `{"action": "status", "run_id", "evaluation"}`."""
    if request.verb == "start":
        join = JoinResult.from_fields(request.child("join"))
        return start(request.run_id, join, TrainingResult.from_fields(request.child("training"))).to_payload()
    return status(EvaluationResult.from_fields(request.child("evaluation"))).to_payload()
