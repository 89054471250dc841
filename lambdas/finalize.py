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

from botocore.exceptions import ClientError
from pipeline_common import outcome, store
from pipeline_common.aws import client
from pipeline_common.config import env, settings
from pipeline_common.observability import MetricUnit, logger, metrics, step_handler
from pipeline_common.payloads import Payload, Request
from pipeline_common.steps import FailureOutcome, ModelState, Outcome, Release, RunOutcome, RunState
from pipeline_common.timefmt import iso, now

METRIC_UNITS = {
    "RowsJoined": MetricUnit.Count,
    "Promotions": MetricUnit.Count,
    "Rollbacks": MetricUnit.Count,
    **dict.fromkeys(outcome.QUARANTINE_METRICS, MetricUnit.Count),
}
FAILED_WITH_A_MODEL = ("training", "evaluation", "deployment")
"""Steps whose failure leaves the run's candidate `failed`."""


def release(experiment_id: str, run_id: str, consumed: int) -> Release:
    """Delete the lock held by `run_id` and ADD -consumed to the counter, atomically."""
    if consumed <= 0:
        return Release(lock_released=store.release_lock(experiment_id, run_id), counter_reset_by=0)
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
        return Release(lock_released=False, counter_reset_by=0)
    return Release(lock_released=True, counter_reset_by=consumed)


def finalize(run_id: str, run: RunState) -> RunOutcome:
    config = settings()
    decision = outcome.decide(run)
    stamp = iso(now())
    if decision.model_id and decision.model_state:
        store.update_model(decision.model_id, state=decision.model_state, updated_at=stamp)
    if decision.retire_model_id and decision.retire_model_id != decision.new_serving_model_id:
        store.update_model(decision.retire_model_id, state=ModelState.RETIRED, updated_at=stamp)
    store.update_experiment(
        config.experiment_id,
        serving_model_id=decision.new_serving_model_id,
        learner_model_id=decision.learner_model_id,
        endpoint_name=env("ENDPOINT_NAME") if decision.new_serving_model_id else None,
        watermark=decision.watermark,
        last_run_id=run_id,
        last_outcome=decision.outcome,
        challenger_model_id=decision.challenger_model_id,
        updated_at=stamp,
    )
    if decision.challenger_model_id and run.deployment is not None:
        store.update_model(decision.challenger_model_id, challenger_share=run.deployment.challenger_share)
    for name, value in decision.metrics.items():
        metrics.add_metric(name=name, unit=METRIC_UNITS.get(name, MetricUnit.NoUnit), value=value)
    result = RunOutcome(
        outcome=decision.outcome,
        model_id=decision.model_id,
        serving_model_id=decision.new_serving_model_id,
        learner_model_id=decision.learner_model_id,
        watermark=decision.watermark,
        release=release(config.experiment_id, run_id, run.input.reward_count),
        challenger_model_id=decision.challenger_model_id or None,
    )
    logger.info("run finalized", extra=result.to_payload())
    return result


def record_failure(run_id: str, run: RunState, problems: list[str]) -> FailureOutcome:
    """Record the failure and release the lock, whatever the run carried (`problems`: the parts it could not read)."""
    config = settings()
    if problems:
        logger.warning("parts of the failed run's state could not be read", extra={"problems": problems})
    error = run.error.error if run.error else "unknown"
    step = outcome.failed_step(run)
    stamp = iso(now())
    model_id = run.training.model_id if run.training else None
    if model_id and step in FAILED_WITH_A_MODEL:
        store.update_model(model_id, state=ModelState.FAILED, updated_at=stamp)
    store.update_experiment(
        config.experiment_id,
        last_run_id=run_id,
        last_outcome=Outcome.FAILED,
        last_error=f"{step}: {error}",
        updated_at=stamp,
    )
    metrics.add_metric(name="RunsFailed", unit=MetricUnit.Count, value=1)
    result = FailureOutcome(
        failed_step=step,
        error=error,
        cause=(run.error.cause if run.error else "")[:2000],
        model_id=model_id,
        release=release(config.experiment_id, run_id, run.input.reward_count),
    )
    logger.error("run failed", extra=result.to_payload())
    return result


@step_handler("finalize", "record_failure")
def handler(request: Request) -> Payload:
    """`{"action": "finalize" | "record_failure", "run_id", "run": $}`."""
    if request.verb == "finalize":
        return finalize(request.run_id, RunState.from_fields(request.child("run"))).to_payload()
    return record_failure(request.run_id, *RunState.salvage(request.child("run"))).to_payload()
