"""Deploy: roll a registered model onto the endpoint blue/green (alarm rollback), and watch the rollout.

The endpoint belongs to the pipeline: the first deployment (bootstrap) creates it, later ones update it with
`DeploymentConfig.BlueGreenUpdatePolicy` (a canary with 2+ instances, all at once with a bake on one instance) and
`AutoRollbackConfiguration`, so SageMaker itself rolls back when an alarm fires during a bake or the termination
wait.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from botocore.exceptions import ClientError
from pipeline_common import deadline, store
from pipeline_common.aws import client
from pipeline_common.config import RunSettings, env, env_list, settings
from pipeline_common.endpoint import describe_endpoint
from pipeline_common.errors import ConfigError, DeploymentFailed, NotDeployable, NotFound
from pipeline_common.names import sagemaker_name
from pipeline_common.observability import logger, step_handler
from pipeline_common.payloads import Payload, Request
from pipeline_common.sagemaker_requests import (
    deployment_config,
    endpoint_config_request,
    model_request,
    update_endpoint_request,
)
from pipeline_common.steps import DeploymentMode, DeploymentResult, DeploymentStatus, ModelState, RunState
from pipeline_common.timefmt import iso, now

from contract import environment

# DescribeEndpoint's EndpointStatus values (API reference): OutOfService, Creating, Updating, SystemUpdating,
# RollingBack, InService, Deleting, Failed, UpdateRollbackFailed.
UPDATING_STATES = ("Updating", "RollingBack", "SystemUpdating")
IN_PROGRESS_STATES = ("Creating", *UPDATING_STATES)
# Terminal for a rollout: no later DescribeEndpoint turns these into the new config serving. UpdateRollbackFailed
# is the rollback itself failing: the endpoint waits for an operator, it is not "still updating".
FAILED_STATES = ("Failed", "UpdateRollbackFailed", "OutOfService", "Deleting")
NOT_DEPLOYABLE = (ModelState.TRAINING, ModelState.FAILED)


@dataclass(frozen=True)
class Rollout:
    """Where a rollout stands, read from DescribeEndpoint."""

    status: DeploymentStatus
    seen_updating: bool
    reason: str = ""


def rollout_outcome(
    description: Mapping[str, object], new_config: str, previous_config: str | None, seen_updating: bool
) -> Rollout:
    """Deployed when InService on the new config; rolled back when InService on the old one after an update
    (seen Updating, or a FailureReason); failed on every terminal status (`FAILED_STATES`), on a missing endpoint
    and on a status the API does not document; in progress while Creating/Updating/SystemUpdating/RollingBack.

    Right after UpdateEndpoint the endpoint may still report InService on the old config: without having seen
    Updating (or a failure reason) that is not yet a rollback.
    """
    status = description.get("EndpointStatus", "")
    config = description.get("EndpointConfigName")
    reason = str(description.get("FailureReason") or "")
    seen = seen_updating or status in UPDATING_STATES
    if status in FAILED_STATES:
        return Rollout(DeploymentStatus.FAILED, seen, f"status {status}: {reason or 'no FailureReason given'}")
    if status == "InService" and config == new_config:
        return Rollout(DeploymentStatus.DEPLOYED, seen)
    if status == "InService" and previous_config and config == previous_config and (seen or reason):
        return Rollout(DeploymentStatus.ROLLED_BACK, seen, reason or "endpoint returned to its previous config")
    if status == "InService" or status in IN_PROGRESS_STATES:
        return Rollout(DeploymentStatus.IN_PROGRESS, seen)
    if not description:
        return Rollout(DeploymentStatus.FAILED, seen, "the endpoint does not exist (DescribeEndpoint found nothing)")
    return Rollout(DeploymentStatus.FAILED, seen, f"status {status!r} is not an EndpointStatus this rollout knows")


def _already_exists(error: ClientError) -> bool:
    message = error.response.get("Error", {}).get("Message", "")
    return "already exist" in message.lower()


def _target(run: RunState, run_id: str, config: RunSettings) -> tuple[str, str | None]:
    """(model_id, artifact) to deploy: a rollback target, the run's candidate, or a new uniform policy."""
    model_id = run.input.rollback_to or (run.training.model_id if run.training else None)
    if model_id:
        row = store.read_model(model_id)
        if row is None:
            raise NotFound(f"model {model_id!r} is not in the registry")
        if row.get("state") in NOT_DEPLOYABLE:
            # Without this a model that never produced an artifact would silently deploy the uniform policy.
            raise NotDeployable(f"model {model_id!r} is in state {row.get('state')!r} and cannot be deployed")
        return model_id, row.get("artifact_uri")
    model_id = sagemaker_name(run_id, experiment_id=config.experiment_id)
    store.put_model(
        {
            "model_id": model_id,
            "experiment_id": config.experiment_id,
            "run_id": run_id,
            "state": ModelState.CANDIDATE,
            "created_at": iso(now()),
        }
    )
    return model_id, None


def region_environment(region: str | None) -> dict[str, str]:
    """The region for the serving container's botocore (its decision log writes to Firehose).

    SageMaker hosting does not reliably set `AWS_DEFAULT_REGION`, and botocore reads only that variable (with just
    `AWS_REGION`, creating a client raises NoRegionError), so the model carries its region explicitly: the region
    this Lambda creates the model in. Both names, for SDKs that read the other one.
    """
    if not region:
        raise ConfigError("the SageMaker client has no region: the model's environment cannot name one")
    return {"AWS_DEFAULT_REGION": region, "AWS_REGION": region}


def _create(kind: str, **request: object) -> None:
    try:
        getattr(client("sagemaker"), kind)(**request)
    except ClientError as error:
        if not _already_exists(error):
            raise


def challenger_environment(run: RunState, model_id: str, artifact: str | None, share: float) -> dict[str, str]:
    """The model environment of a rejected candidate deployed as a challenger: the serving model keeps its id
    (`MODEL_ID`, what decisions log and reconcile reads) and `CHALLENGER_SHARE` mixes the candidate in from the
    serving model its artifact carries (`container/core/challenger.py`). Empty for any other deployment."""
    evaluation = run.evaluation
    if run.input.rollback_to or evaluation is None or not evaluation.challenger:
        return {}
    if not artifact or not evaluation.serving_model_id:
        raise NotDeployable(f"challenger {model_id!r} needs its artifact and the serving model it was judged against")
    return {
        environment.MODEL_ID: evaluation.serving_model_id,
        environment.CHALLENGER_SHARE: f"{share:g}",
        environment.CHALLENGER_MODEL_ID: model_id,  # for reconcile; the container takes the id from the artifact
    }


def start(run_id: str, run: RunState) -> DeploymentResult:
    """CreateModel + CreateEndpointConfig, then CreateEndpoint (first time) or a blue/green UpdateEndpoint."""
    config = settings()
    model_id, artifact = _target(run, run_id, config)
    challenger = challenger_environment(run, model_id, artifact, config.challenger_share)
    endpoint_name = env("ENDPOINT_NAME")
    model_name = sagemaker_name(run_id, "-model", config.experiment_id)
    config_name = sagemaker_name(run_id, "-config", config.experiment_id)
    _create(
        "create_model",
        **model_request(
            model_name=model_name,
            image_uri=env("TRAINING_IMAGE_URI"),
            role_arn=env("ENDPOINT_ROLE_ARN"),
            artifact_uri=artifact,
            environment={
                "DECISIONS_STREAM": env("DECISIONS_STREAM"),
                "EXPERIMENT_ID": config.experiment_id,
                "MODEL_ID": model_id,
                "DECISIONS_ACKNOWLEDGEMENT": config.decision_acknowledgement,
                **region_environment(client("sagemaker").meta.region_name),
                **challenger,
            },
        ),
    )
    _create(
        "create_endpoint_config",
        **endpoint_config_request(
            config_name=config_name,
            model_name=model_name,
            instance_type=config.endpoint_instance_type,
            instance_count=config.endpoint_instance_count,
        ),
    )
    previous_model_id, _ = store.serving_model(config.experiment_id)
    current = describe_endpoint(endpoint_name)
    previous_config = current.get("EndpointConfigName") if current else None
    if current is None:
        client("sagemaker").create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name)
        mode = DeploymentMode.CREATE
    elif previous_config == config_name:
        mode = DeploymentMode.UPDATE  # a retried start: the update was already requested
    else:
        request = update_endpoint_request(
            endpoint_name=endpoint_name,
            config_name=config_name,
            deployment=deployment_config(
                instance_count=config.endpoint_instance_count,
                canary_percent=config.canary_percent,
                canary_wait_seconds=config.canary_wait_seconds,
                termination_wait_seconds=config.termination_wait_seconds,
                alarm_names=env_list("ROLLBACK_ALARMS"),
            ),
        )
        client("sagemaker").update_endpoint(**request)
        mode = DeploymentMode.UPDATE
    result = DeploymentResult(
        model_id=model_id,
        artifact_uri=artifact,
        sagemaker_model=model_name,
        endpoint_name=endpoint_name,
        endpoint_config=config_name,
        previous_config=previous_config if previous_config != config_name else None,
        previous_model_id=previous_model_id,
        mode=mode,
        seen_updating=False,
        status=DeploymentStatus.IN_PROGRESS,
        deadline=deadline.stamp("deployment", config),
        challenger_share=config.challenger_share if challenger else None,
    )
    logger.info("deployment started", extra=result.to_payload())
    return result


def status(deployment: DeploymentResult) -> DeploymentResult:
    """DescribeEndpoint -> deployed / rolled_back / in_progress; a terminal status (Failed, UpdateRollbackFailed,
    OutOfService, Deleting) or a vanished endpoint raises `DeploymentFailed` naming it and the FailureReason."""
    description = describe_endpoint(deployment.endpoint_name) or {}
    rollout = rollout_outcome(
        description, deployment.endpoint_config, deployment.previous_config, deployment.seen_updating
    )
    if rollout.status is DeploymentStatus.FAILED:
        raise DeploymentFailed(f"endpoint {deployment.endpoint_name} {rollout.reason}")
    endpoint_status = description.get("EndpointStatus")
    if rollout.status is DeploymentStatus.IN_PROGRESS:
        deadline.enforce("deployment", deployment.deadline, str(endpoint_status or "unknown"))
    return replace(
        deployment,
        status=rollout.status,
        seen_updating=rollout.seen_updating,
        endpoint_status=endpoint_status,
        reason=rollout.reason or deployment.reason or None,
    )


@step_handler("start", "status")
def handler(request: Request) -> Payload:
    """`{"action": "start", "run_id", "run": $}` (model: `run.rollback_to`, else `run.training.model_id`, else a new
    uniform policy) | `{"action": "status", "run_id", "deployment": <start's output>}`."""
    if request.verb == "start":
        return start(request.run_id, RunState.from_fields(request.child("run"))).to_payload()
    return status(DeploymentResult.from_fields(request.child("deployment"))).to_payload()
