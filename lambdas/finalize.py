"""Finalize / record failure: write the run's outcome to the registry, emit its metrics, release the run lock.

`finalize` ends every successful path (promoted, rejected, skipped, rolled back, rollback on demand, bootstrap);
`record_failure` is where every Catch lands. `Finalize` moves the lineage head (`learner_model_id`) to the
candidate the run trained, promoted or not; a failure leaves it, as it leaves the watermark.

Both release the lock and take what the run consumed off the counter,
in one transaction with the lock's delete so a retried call cannot subtract twice. A failed run still takes its
rewards off the counter: the watermark does not move, so the next run re-reads them, but a persistent failure
waits for another `retrain_threshold` of rewards instead of restarting on every new reward object.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from pipeline_common import outcome, store
from pipeline_common.aws import aws_errors, client
from pipeline_common.config import env, settings
from pipeline_common.observability import MetricUnit, logger, metrics, tracer
from pipeline_common.payloads import action, field
from pipeline_common.timefmt import iso, now

METRIC_UNITS = {
    "RowsJoined": MetricUnit.Count,
    "Promotions": MetricUnit.Count,
    "Rollbacks": MetricUnit.Count,
    **dict.fromkeys(outcome.QUARANTINE_METRICS, MetricUnit.Count),
}


def release(experiment_id: str, run_id: str, consumed: int) -> dict[str, Any]:
    """Delete the lock held by `run_id` and ADD -consumed to the counter, atomically."""
    if consumed <= 0:
        return {"lock_released": store.release_lock(experiment_id, run_id), "counter_reset_by": 0}
    state_table = env("STATE_TABLE")
    try:
        client("dynamodb").transact_write_items(
            TransactItems=[
                {
                    "Delete": {
                        "TableName": state_table,
                        "Key": {"pk": {"S": store.lock_key(experiment_id)}},
                        "ConditionExpression": "run_id = :run",
                        "ExpressionAttributeValues": {":run": {"S": run_id}},
                    }
                },
                {
                    "Update": {
                        "TableName": state_table,
                        "Key": {"pk": {"S": store.counter_key(experiment_id)}},
                        "UpdateExpression": "ADD #count :minus",
                        "ExpressionAttributeNames": {"#count": "count"},
                        "ExpressionAttributeValues": {":minus": {"N": str(-consumed)}},
                    }
                },
            ]
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise
        logger.warning("lock not held by this run: already released, counter left alone", extra={"run_id": run_id})
        return {"lock_released": False, "counter_reset_by": 0}
    return {"lock_released": True, "counter_reset_by": consumed}


def _consumed(run: dict[str, Any]) -> int:
    count = run.get("reward_count")
    return int(count) if isinstance(count, int) and not isinstance(count, bool) else 0


def finalize(run_id: str, run: dict[str, Any]) -> dict[str, Any]:
    config = settings()
    decision = outcome.decide(run)
    stamp = iso(now())
    if decision.model_id and decision.model_state:
        store.update_model(decision.model_id, state=decision.model_state, updated_at=stamp)
    if decision.retire_model_id and decision.retire_model_id != decision.new_serving_model_id:
        store.update_model(decision.retire_model_id, state="retired", updated_at=stamp)
    store.update_experiment(
        config.experiment_id,
        serving_model_id=decision.new_serving_model_id,
        learner_model_id=decision.learner_model_id,
        endpoint_name=env("ENDPOINT_NAME") if decision.new_serving_model_id else None,
        watermark=decision.watermark,
        last_run_id=run_id,
        last_outcome=decision.outcome,
        updated_at=stamp,
    )
    for name, value in decision.metrics.items():
        metrics.add_metric(name=name, unit=METRIC_UNITS.get(name, MetricUnit.NoUnit), value=value)
    released = release(config.experiment_id, run_id, _consumed(run))
    result = {
        "outcome": decision.outcome,
        "model_id": decision.model_id,
        "serving_model_id": decision.new_serving_model_id,
        "learner_model_id": decision.learner_model_id,
        "watermark": decision.watermark,
        **released,
    }
    logger.info("run finalized", extra=result)
    return result


def record_failure(run_id: str, run: dict[str, Any]) -> dict[str, Any]:
    config = settings()
    error = run.get("error") if isinstance(run.get("error"), dict) else {}
    step = outcome.failed_step(run)
    stamp = iso(now())
    model_id = (run.get("training") or {}).get("model_id") if isinstance(run.get("training"), dict) else None
    if model_id and step in ("training", "evaluation", "deployment"):
        store.update_model(str(model_id), state="failed", updated_at=stamp)
    store.update_experiment(
        config.experiment_id,
        last_run_id=run_id,
        last_outcome=outcome.FAILED,
        last_error=f"{step}: {error.get('Error', 'unknown')}",
        updated_at=stamp,
    )
    metrics.add_metric(name="RunsFailed", unit=MetricUnit.Count, value=1)
    released = release(config.experiment_id, run_id, _consumed(run))
    result = {
        "outcome": outcome.FAILED,
        "failed_step": step,
        "error": error.get("Error", "unknown"),
        "cause": str(error.get("Cause", ""))[:2000],
        "model_id": model_id,
        **released,
    }
    logger.error("run failed", extra=result)
    return result


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@aws_errors
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """`{"action": "finalize" | "record_failure", "run_id", "run": $}`."""
    verb = action(event, ("finalize", "record_failure"))
    run_id = field(event, "run_id", str)
    logger.set_correlation_id(run_id)
    run = field(event, "run", dict)
    return finalize(run_id, run) if verb == "finalize" else record_failure(run_id, run)
