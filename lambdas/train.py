"""Train: start the SageMaker training job of the run's candidate and check it.

The candidate warm-starts from the head of the learning lineage (the last candidate that trained, promoted or not;
`pipeline_common/lineage.py`), not from the serving model: a rejected candidate's window is learned all the same.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pipeline_common import deadline, jobs, lineage, store
from pipeline_common.aws import aws_errors, client
from pipeline_common.config import env, settings
from pipeline_common.errors import TrainingJobFailed
from pipeline_common.gate import drift_inputs
from pipeline_common.names import sagemaker_name
from pipeline_common.observability import logger, metrics, tracer
from pipeline_common.payloads import action, field, optional
from pipeline_common.sagemaker_requests import training_job_request
from pipeline_common.timefmt import iso, now


def start(event: dict[str, Any]) -> dict[str, Any]:
    """Create the training job (job name = model_id) and register the model row in state `training`, with its
    parent (the lineage head) and the data range it will have learned."""
    run_id = field(event, "run_id", str)
    join = field(event, "join", dict)
    config = settings()
    model_id = sagemaker_name(run_id, experiment_id=config.experiment_id)
    parent = store.lineage_head(config.experiment_id)
    serving = store.serving_row(config.experiment_id)
    serving_id = str(serving["model_id"]) if serving else None
    adapting = lineage.adaptation(parent, store.read_drift(config.experiment_id), serving_id)
    window = optional(join, "window", dict)
    training_uri = field(join, "output_prefix", str)
    extra = {**drift_inputs(serving, config.promotion_estimator, config.promotion_margin), **adapting.hyperparameters}
    if adapting.fresh:  # after a detected change: a new lineage on every row logged since the change
        parent, training_uri = None, lineage.pooled_prefix(training_uri)
        window = {**(window or {}), "start": adapting.training_since}
        extra["training_since"] = adapting.training_since or ""
    parent_id = str(parent["model_id"]) if parent else None
    pretrained = parent.get("artifact_uri") if parent else None
    hyperparameters = {**config.hyperparameters(), **extra, "model_id": model_id, "parent_model_id": parent_id or ""}
    request = training_job_request(
        job_name=model_id,
        image_uri=env("TRAINING_IMAGE_URI"),
        role_arn=env("SAGEMAKER_ROLE_ARN"),
        bucket=env("BUCKET_NAME"),
        training_uri=training_uri,
        pretrained_uri=pretrained,
        hyperparameters=hyperparameters,
        instance_type=config.training_instance_type,
        experiment_id=config.experiment_id,
    )
    if not jobs.exists(model_id):
        client("sagemaker").create_training_job(**request)
        store.put_model(
            {
                "model_id": model_id,
                "experiment_id": config.experiment_id,
                "parent_model_id": parent_id,
                "run_id": run_id,
                "state": "training",
                "created_at": iso(now()),
                **lineage.data_range(parent, window, None if adapting.fresh else join.get("rows")),
            }
        )
    logger.info(
        "training started",
        extra={"model_id": model_id, "parent_model_id": parent_id, "adapting_to_drift": adapting.active},
    )
    return {
        "model_id": model_id,
        "job_name": model_id,
        "parent_model_id": parent_id,
        "warm_start": pretrained is not None,
        "status": jobs.IN_PROGRESS,
        **({"adapting_to_drift": True, "training_since": adapting.training_since} if adapting.active else {}),
        **deadline.stamp("training", config),
    }


def status(event: dict[str, Any]) -> dict[str, Any]:
    """Describe the job; on completion the model becomes a `candidate` with its artifact; failure raises."""
    training = field(event, "training", dict)
    job_name = field(training, "job_name", str)
    description = client("sagemaker").describe_training_job(TrainingJobName=job_name)
    state = jobs.job_state(description)
    if state == jobs.FAILED:
        store.update_model(job_name, state="failed")
        raise TrainingJobFailed(jobs.failure_reason(description))
    if state == jobs.IN_PROGRESS:
        deadline.enforce("training", training, str(description.get("SecondaryStatus") or state))
        return {**training, "status": state, "secondary_status": description.get("SecondaryStatus")}
    artifact = jobs.artifact_uri(description, env("BUCKET_NAME"), "models")
    store.update_model(job_name, state="candidate", artifact_uri=artifact)
    return {**training, "status": state, "artifact_uri": artifact}


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@aws_errors
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """`{"action": "start", "run_id", "join"}` | `{"action": "status", "run_id", "training"}`."""
    verb = action(event, ("start", "status"))
    logger.set_correlation_id(event.get("run_id"))
    return start(event) if verb == "start" else status(event)
