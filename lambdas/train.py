"""Train: start the SageMaker training job of the run's candidate and check it.

The candidate warm-starts from the head of the learning lineage (the last candidate that trained, promoted or not;
`pipeline_common/lineage.py`), not from the serving model: a rejected candidate's window is learned all the same.
"""

from __future__ import annotations

from dataclasses import replace

from pipeline_common import deadline, jobs, lineage, store
from pipeline_common.aws import client
from pipeline_common.config import env, settings
from pipeline_common.errors import TrainingJobFailed
from pipeline_common.gate import drift_inputs
from pipeline_common.names import sagemaker_name
from pipeline_common.observability import logger, step_handler
from pipeline_common.payloads import Payload, Request
from pipeline_common.sagemaker_requests import training_job_request
from pipeline_common.steps import JobStatus, JoinResult, ModelState, TrainingResult
from pipeline_common.timefmt import iso, now, parse_iso
from pipeline_common.window import Window


def _since(window: Window | None, since: str | None) -> Window | None:
    """The data range of a candidate that learns every joined row after a change: from the change to the window's
    end (the window as it was when the change is unknown or not before its end)."""
    if window is None or since is None or parse_iso(since) >= window.end:
        return window
    return Window(parse_iso(since), window.end)


def start(run_id: str, join: JoinResult) -> TrainingResult:
    """Create the training job (job name = model_id) and register the model row in state `training`, with its
    parent (the lineage head) and the data range it will have learned."""
    config = settings()
    model_id = sagemaker_name(run_id, experiment_id=config.experiment_id)
    parent = store.lineage_head(config.experiment_id)
    serving = store.serving_row(config.experiment_id)
    serving_id = str(serving["model_id"]) if serving else None
    drift = store.read_drift(config.experiment_id)
    adapting = lineage.adaptation(parent, drift, serving_id)
    window: Window | None = join.window
    training_uri = join.output_prefix
    checks = drift_inputs(serving, config.promotion_estimator, config.promotion_margin, drift)
    extra = {**checks, **adapting.hyperparameters}
    if adapting.fresh:  # after a detected change: a new lineage on every row logged since the change
        parent, training_uri = None, lineage.pooled_prefix(training_uri)
        window = _since(window, adapting.training_since)
        extra["training_since"] = adapting.training_since or ""
    parent_id = str(parent["model_id"]) if parent else None
    pretrained = parent.get("artifact_uri") if parent else None
    hyperparameters = {**config.hyperparameters(), **extra, "model_id": model_id, "parent_model_id": parent_id or ""}
    if serving_id:  # packed into the artifact, for a challenger deployment if the gate rejects this candidate
        hyperparameters.setdefault("serving_model_id", serving_id)
    request = training_job_request(
        jobs.job_site(config, role_variable="TRAINING_ROLE_ARN"),
        job_name=model_id,
        training_uri=training_uri,
        pretrained_uri=pretrained,
        hyperparameters=hyperparameters,
        serving_uri=serving.get("artifact_uri") if serving else None,
    )
    if not jobs.exists(model_id):
        client("sagemaker").create_training_job(**request)
        rows = join.counts.rows if join.counts else None
        store.put_model(
            {
                "model_id": model_id,
                "experiment_id": config.experiment_id,
                "parent_model_id": parent_id,
                "run_id": run_id,
                "state": ModelState.TRAINING,
                "created_at": iso(now()),
                **lineage.data_range(parent, window, None if adapting.fresh else rows),
            }
        )
    logger.info(
        "training started",
        extra={"model_id": model_id, "parent_model_id": parent_id, "adapting_to_drift": adapting.active},
    )
    return TrainingResult(
        model_id=model_id,
        job_name=model_id,
        parent_model_id=parent_id,
        warm_start=pretrained is not None,
        status=JobStatus.IN_PROGRESS,
        deadline=deadline.stamp("training", config),
        adapting_to_drift=True if adapting.active else None,
        training_since=adapting.training_since,
    )


def status(training: TrainingResult) -> TrainingResult:
    """Describe the job; on completion the model becomes a `candidate` with its artifact; failure raises."""
    description = client("sagemaker").describe_training_job(TrainingJobName=training.job_name)
    state = jobs.job_state(description)
    if state is JobStatus.FAILED:
        store.update_model(training.job_name, state=ModelState.FAILED)
        raise TrainingJobFailed(jobs.failure_reason(description))
    if state is JobStatus.IN_PROGRESS:
        secondary = description.get("SecondaryStatus")
        deadline.enforce("training", training.deadline, str(secondary or state))
        return replace(training, status=state, secondary_status=secondary)
    artifact = jobs.artifact_uri(description, env("BUCKET_NAME"), "models")
    store.update_model(training.job_name, state=ModelState.CANDIDATE, artifact_uri=artifact)
    return replace(training, status=state, artifact_uri=artifact)


@step_handler("start", "status")
def handler(request: Request) -> Payload:
    """`{"action": "start", "run_id", "join"}` | `{"action": "status", "run_id", "training"}`."""
    if request.verb == "start":
        return start(request.run_id, JoinResult.from_fields(request.child("join"))).to_payload()
    return status(TrainingResult.from_fields(request.child("training"))).to_payload()
