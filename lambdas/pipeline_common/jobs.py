"""Reading SageMaker training-job descriptions (shared by the train and evaluate handlers)."""

from __future__ import annotations

from typing import Any

from pipeline_common.aws import client, unless_missing
from pipeline_common.config import RunSettings, env
from pipeline_common.sagemaker_requests import JobSite
from pipeline_common.steps import JobStatus


def job_site(config: RunSettings, *, role_variable: str) -> JobSite:
    """Where one of the experiment's jobs runs (the function's environment and settings), as the role that job gets:
    training and evaluation each have their own (`role_variable` names its environment variable)."""
    return JobSite(
        image_uri=env("TRAINING_IMAGE_URI"),
        role_arn=env(role_variable),
        bucket=env("BUCKET_NAME"),
        instance_type=config.training_instance_type,
        experiment_id=config.experiment_id,
    )


def job_state(description: dict[str, Any]) -> JobStatus:
    """InProgress / Completed / Failed: Stopping counts as in progress, Stopped as failed."""
    status = description.get("TrainingJobStatus", "")
    if status == "Completed":
        return JobStatus.COMPLETED
    if status in ("Failed", "Stopped"):
        return JobStatus.FAILED
    return JobStatus.IN_PROGRESS


def failure_reason(description: dict[str, Any]) -> str:
    status = description.get("TrainingJobStatus", "")
    reason = description.get("FailureReason") or ("stopped before completion" if status == "Stopped" else "")
    return f"{description.get('TrainingJobName', '?')} {status}: {reason or 'no reason given'}"


def exists(job_name: str) -> bool:
    """Whether a training job of that name exists (so a retried `start` does not create it twice)."""
    return unless_missing(lambda: client("sagemaker").describe_training_job(TrainingJobName=job_name)) is not None


def artifact_uri(description: dict[str, Any], bucket: str, prefix: str) -> str:
    """The job's `model.tar.gz` (from the description; the contract's path when the description has none)."""
    uri = (description.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    return str(uri) if uri else f"s3://{bucket}/{prefix}/{description['TrainingJobName']}/output/model.tar.gz"
