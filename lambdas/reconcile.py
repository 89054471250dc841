"""Reconcile: after an execution ends ABORTED, TIMED_OUT or FAILED, make the registry agree with the endpoint.

EventBridge delivers Step Functions' "Execution Status Change" event for the retrain state machine (at least once).
A run stopped by hand mid-deployment never reaches `Finalize`: the endpoint may serve the candidate while the registry
still names the previous model, and the run lock stays taken. This handler reads which model really serves
(DescribeEndpoint -> its EndpointConfig -> its Model's `MODEL_ID`), waits while a rollout is still in progress, fixes
the models' states and the experiment's `serving_model_id`, leaves the watermark where a failed run leaves it, and
releases the lock only if the ended execution still holds it. Every write sets a state derived from the endpoint, so a
repeated event changes nothing; a lock taken by a newer run means that run owns the endpoint now, and nothing is done.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pipeline_common import store
from pipeline_common.aws import client, unless_missing
from pipeline_common.config import env, settings
from pipeline_common.endpoint import describe_endpoint
from pipeline_common.errors import InvalidEvent, PipelineError
from pipeline_common.names import sagemaker_name
from pipeline_common.observability import MetricUnit, logger, metrics, tracer
from pipeline_common.reconcile_rules import RECONCILED_STATUSES, Registry, endpoint_settled, reconcile
from pipeline_common.steps import ModelState
from pipeline_common.timefmt import iso, now

from contract import environment as env_names

DETAIL_TYPE = "Step Functions Execution Status Change"
SOURCE = "aws.states"
MARGIN_MS = 15_000
"""Stop waiting for a rollout this long before the function's timeout, to raise (and be retried) instead of dying."""


class EndpointStillUpdating(PipelineError):
    """The endpoint's rollout did not settle within this invocation; Lambda's async retry reconciles again."""


def _ended_run(event: Any) -> tuple[str, str, dict[str, Any]]:
    """(run id, status, execution input) of the status-change event, for this state machine only."""
    if not isinstance(event, dict) or event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        raise InvalidEvent(f"not a {SOURCE} {DETAIL_TYPE!r} event")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise InvalidEvent("event has no detail object")
    if detail.get("stateMachineArn") != env("STATE_MACHINE_ARN"):
        raise InvalidEvent(f"event is for state machine {detail.get('stateMachineArn')!r}, not this pipeline's")
    name, status = detail.get("name"), detail.get("status")
    if not isinstance(name, str) or not name:
        raise InvalidEvent("event detail has no execution name")
    if status not in RECONCILED_STATUSES:
        raise InvalidEvent(f"execution status {status!r} is not one of {', '.join(sorted(RECONCILED_STATUSES))}")
    try:
        execution_input = json.loads(detail.get("input") or "{}")
    except (TypeError, ValueError) as error:
        raise InvalidEvent(f"execution input is not JSON: {error}") from error
    return name, str(status), execution_input if isinstance(execution_input, dict) else {}


def _config_exists(name: str) -> bool:
    return unless_missing(lambda: client("sagemaker").describe_endpoint_config(EndpointConfigName=name)) is not None


def _served_model_ids(config_name: str) -> tuple[str | None, str | None]:
    """The registry ids the endpoint config's model serves: its container's `MODEL_ID` and, for a challenger,
    `CHALLENGER_MODEL_ID` (both set by deploy)."""
    sagemaker = client("sagemaker")
    variants = sagemaker.describe_endpoint_config(EndpointConfigName=config_name).get("ProductionVariants") or []
    if not variants:
        return None, None
    model = sagemaker.describe_model(ModelName=variants[0]["ModelName"])
    environment = (model.get("PrimaryContainer") or {}).get("Environment") or {}
    return environment.get(env_names.MODEL_ID), environment.get(env_names.CHALLENGER_MODEL_ID)


def _settled_endpoint(name: str, context: LambdaContext, poll_seconds: float) -> dict[str, Any] | None:
    """DescribeEndpoint, waiting while a rollout is in progress (its outcome decides which model serves)."""
    while True:
        description = describe_endpoint(name)
        status = description.get("EndpointStatus") if description else None
        if endpoint_settled(status):
            return description
        if context.get_remaining_time_in_millis() < MARGIN_MS + poll_seconds * 1000:
            raise EndpointStillUpdating(f"endpoint {name} is still {status}; the retried event reconciles it")
        logger.info("waiting for the endpoint's rollout to settle", extra={"endpoint_status": status})
        time.sleep(poll_seconds)


def registry_state(row: dict[str, Any] | None) -> ModelState | None:
    """A registry row's state; None without a row or with a state this code does not know (left alone)."""
    state = row.get("state") if row else None
    known = {member.value for member in ModelState}
    return ModelState(state) if isinstance(state, str) and state in known else None


def _superseded(experiment_id: str, run_id: str, status: str) -> dict[str, Any] | None:
    """The answer when a newer run holds the lock: it owns the endpoint and the registry now."""
    lock = store.read_lock(experiment_id)
    if lock is None or lock.run_id == run_id:
        return None
    logger.info("a newer run holds the lock and owns the endpoint: nothing to reconcile", extra={"lock": lock.run_id})
    return {"run_id": run_id, "execution_status": status, "reconciled": False, "reason": "superseded"}


def reconcile_run(run_id: str, status: str, execution_input: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config = settings()
    experiment_id = config.experiment_id
    endpoint_name = env("ENDPOINT_NAME")
    if (superseded := _superseded(experiment_id, run_id, status)) is not None:
        return superseded
    description = _settled_endpoint(endpoint_name, context, min(float(config.poll_seconds), 30.0))
    # While it waited the trigger may have released the ended run's lock as stale and started a newer run.
    if (superseded := _superseded(experiment_id, run_id, status)) is not None:
        return superseded
    lock = store.read_lock(experiment_id)
    endpoint_status = description.get("EndpointStatus") if description else None
    serving_config = description.get("EndpointConfigName") if description and endpoint_status == "InService" else None
    actual, challenger = _served_model_ids(str(serving_config)) if serving_config else (None, None)
    rollback_to = execution_input.get("rollback_to")
    candidate = str(rollback_to) if rollback_to else sagemaker_name(run_id, experiment_id=experiment_id)
    row = store.read_model(candidate)
    recorded = store.read_experiment(experiment_id).get("serving_model_id")
    registry = Registry(
        recorded_serving_id=str(recorded) if recorded else None,
        candidate_id=candidate if row else None,
        candidate_state=registry_state(row),
        rollout_started=_config_exists(sagemaker_name(run_id, "-config", experiment_id)),
    )
    fix = reconcile(registry, endpoint_status, actual, challenger)
    stamp = iso(now())
    for model_id, state in fix.model_states.items():
        if store.read_model(model_id) is None:
            logger.warning("serving model is not in the registry", extra={"model_id": model_id})
            continue
        store.update_model(model_id, state=state, updated_at=stamp)
    record = {
        "run_id": run_id,
        "execution_status": status,
        "endpoint_status": endpoint_status or "NONE",
        "serving_model_id": fix.serving_model_id,
        "at": stamp,
    }
    store.update_experiment(
        experiment_id,
        serving_model_id=fix.serving_model_id,
        endpoint_name=endpoint_name if fix.serving_model_id else None,
        challenger_model_id=fix.challenger_model_id,
        last_reconciled=record,
        updated_at=stamp,
    )
    released = store.release_lock(experiment_id, run_id) if lock is not None else False
    if fix.model_states:
        metrics.add_metric(name="RegistryReconciled", unit=MetricUnit.Count, value=1)
    result = {**record, "reconciled": True, "model_states": fix.model_states, "lock_released": released}
    logger.warning("reconciled an execution that ended without finalize", extra=result)
    return result


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """EventBridge `Step Functions Execution Status Change` (ABORTED | TIMED_OUT | FAILED) -> reconcile the run.

    An event this handler cannot read is logged and answered, not raised: EventBridge would redeliver the same event.
    """
    try:
        run_id, status, execution_input = _ended_run(event)
    except InvalidEvent as error:
        logger.error("ignoring event", extra={"error": str(error)})
        return {"reconciled": False, "reason": str(error)}
    logger.set_correlation_id(run_id)
    return reconcile_run(run_id, status, execution_input, context)
