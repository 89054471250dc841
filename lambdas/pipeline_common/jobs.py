"""Reading SageMaker training-job descriptions (shared by the train and evaluate handlers)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from pipeline_common.aws import client, not_found
from pipeline_common.steps import JobStatus


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
    try:
        client("sagemaker").describe_training_job(TrainingJobName=job_name)
    except ClientError as error:
        if not_found(error):
            return False
        raise
    return True


def artifact_uri(description: dict[str, Any], bucket: str, prefix: str) -> str:
    """The job's `model.tar.gz` (from the description; the contract's path when the description has none)."""
    uri = (description.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    return str(uri) if uri else f"s3://{bucket}/{prefix}/{description['TrainingJobName']}/output/model.tar.gz"
