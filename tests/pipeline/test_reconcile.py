"""Reconcile: an execution that ended ABORTED, TIMED_OUT or FAILED leaves the registry agreeing with the endpoint.

The endpoint, its configs and models are moto's SageMaker; the event is Step Functions' "Execution Status Change"
("AWS Step Functions events - Amazon EventBridge", https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
import reconcile
from moto.sagemaker.models import sagemaker_backends
from pipeline_common import store
from pipeline_helpers import (
    ACCOUNT,
    REGION,
    FakeContext,
    deployment_payload,
    evaluation_payload,
    join_payload,
    training_payload,
)

EXPERIMENT = "bandit-demo"
ENDPOINT = "bandit-demo-policy"  # the conftest's endpoint and state machine
STATE_MACHINE_NAME = "bandit-demo-retrain"
RUN = "bandit-demo-20260101T000000"
OLD = "bandit-demo-20251201T000000"
WATERMARK = "2025-12-01T00:00:00Z"
STATE_MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}"


def status_event(status: str, run_id: str = RUN, execution_input: dict[str, Any] | None = None) -> dict[str, Any]:
    execution = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{STATE_MACHINE_NAME}:{run_id}"
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": ACCOUNT,
        "time": "2026-01-01T01:00:00Z",
        "region": REGION,
        "resources": [execution],
        "detail": {
            "executionArn": execution,
            "stateMachineArn": STATE_MACHINE,
            "name": run_id,
            "status": status,
            "startDate": 1767225600000,
            "stopDate": 1767229200000,
            "input": json.dumps(execution_input or {"reward_count": 12}),
            "inputDetails": {"included": True},
            "output": None,
            "outputDetails": None,
            "error": None,
            "cause": None,
        },
    }


def _sagemaker_model(model_id: str) -> str:
    """A model + endpoint config of `model_id`, named as deploy names them; returns the config name."""
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model(
        ModelName=f"{model_id}-model",
        PrimaryContainer={"Image": "bandit:latest", "Environment": {"MODEL_ID": model_id}},
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/sagemaker",
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{model_id}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{model_id}-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    return f"{model_id}-config"


def _endpoint(**attributes: Any) -> None:
    endpoint = sagemaker_backends[ACCOUNT][REGION].endpoints[ENDPOINT]
    for name, value in attributes.items():
        setattr(endpoint, name, value)


@pytest.fixture
def mid_deployment(aws: None) -> None:
    """Serving OLD; RUN's candidate trained, its rollout requested (config exists), the run holding the lock."""
    old_config = _sagemaker_model(OLD)
    _sagemaker_model(RUN)
    boto3.client("sagemaker", region_name=REGION).create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=old_config)
    store.put_model({"model_id": OLD, "experiment_id": EXPERIMENT, "state": "serving"})
    store.put_model({"model_id": RUN, "experiment_id": EXPERIMENT, "run_id": RUN, "state": "candidate"})
    store.update_experiment(EXPERIMENT, serving_model_id=OLD, watermark=WATERMARK, last_outcome="promoted")
    store.add_to_counter(EXPERIMENT, 12)
    assert store.acquire_lock(EXPERIMENT, RUN, "2026-01-01T00:00:00Z", "{}")
    store.mark_lock_started(EXPERIMENT, RUN)


def _state(model_id: str) -> str | None:
    return (store.read_model(model_id) or {}).get("state")


def test_a_run_stopped_after_its_rollout_completed_leaves_the_candidate_serving(
    mid_deployment: None, context: FakeContext
) -> None:
    """The defect: stopped by hand mid-deployment, the endpoint served the candidate while the registry said OLD."""
    _endpoint(endpoint_config_name=f"{RUN}-config")
    result = reconcile.handler(status_event("ABORTED"), context)
    assert result["reconciled"] is True and result["lock_released"] is True
    assert (_state(RUN), _state(OLD)) == ("serving", "retired")
    experiment = store.read_experiment(EXPERIMENT)
    assert experiment["serving_model_id"] == RUN
    assert experiment["watermark"] == WATERMARK  # a run that did not finish does not consume its window
    assert experiment["last_outcome"] == "promoted"  # the outcome record is finalize's / RecordFailure's
    assert experiment["last_reconciled"]["execution_status"] == "ABORTED"
    assert store.read_lock(EXPERIMENT) is None
    assert store.read_counter(EXPERIMENT) == 12


def test_a_repeated_event_changes_nothing(mid_deployment: None, context: FakeContext) -> None:
    _endpoint(endpoint_config_name=f"{RUN}-config")
    reconcile.handler(status_event("ABORTED"), context)
    before = (store.read_model(RUN), store.read_model(OLD), store.read_counter(EXPERIMENT))
    again = reconcile.handler(status_event("ABORTED"), context)
    assert again["model_states"] == {} and again["lock_released"] is False
    after = (store.read_model(RUN), store.read_model(OLD), store.read_counter(EXPERIMENT))
    assert after == before
    assert store.read_experiment(EXPERIMENT)["serving_model_id"] == RUN


def test_a_rollout_the_endpoint_did_not_keep_is_rolled_back(mid_deployment: None, context: FakeContext) -> None:
    result = reconcile.handler(status_event("TIMED_OUT"), context)  # endpoint still (or again) on OLD's config
    assert result["model_states"] == {RUN: "rolled_back"}
    assert (_state(RUN), _state(OLD)) == ("rolled_back", "serving")
    assert store.read_experiment(EXPERIMENT)["serving_model_id"] == OLD
    assert store.read_lock(EXPERIMENT) is None


def test_an_update_in_progress_is_waited_for(
    mid_deployment: None, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _endpoint(endpoint_status="Updating")
    polls: list[float] = []

    def settle(seconds: float) -> None:  # the rollout finishes on the candidate while the handler waits
        polls.append(seconds)
        _endpoint(endpoint_status="InService", endpoint_config_name=f"{RUN}-config")

    monkeypatch.setattr(reconcile.time, "sleep", settle)
    result = reconcile.handler(status_event("ABORTED"), context)
    assert len(polls) == 1
    assert result["serving_model_id"] == RUN and _state(RUN) == "serving"


def test_an_update_still_in_progress_at_the_timeout_is_retried_not_guessed(
    mid_deployment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _endpoint(endpoint_status="Updating")

    class Ending(FakeContext):
        def get_remaining_time_in_millis(self) -> int:
            return 1_000

    with pytest.raises(reconcile.EndpointStillUpdating):
        reconcile.handler(status_event("ABORTED"), Ending())
    assert (_state(RUN), _state(OLD)) == ("candidate", "serving")
    assert store.read_lock(EXPERIMENT).run_id == RUN  # a new run must not update an endpoint mid-rollout


def test_a_lock_held_by_a_newer_run_is_left_alone(mid_deployment: None, context: FakeContext) -> None:
    store.release_lock(EXPERIMENT, RUN)
    newer = "bandit-demo-20260102T000000"
    assert store.acquire_lock(EXPERIMENT, newer, "2026-01-02T00:00:00Z", "{}")
    _endpoint(endpoint_config_name=f"{RUN}-config")
    result = reconcile.handler(status_event("ABORTED"), context)
    assert result == {"run_id": RUN, "execution_status": "ABORTED", "reconciled": False, "reason": "superseded"}
    assert store.read_lock(EXPERIMENT).run_id == newer
    assert (_state(RUN), _state(OLD)) == ("candidate", "serving")


def test_a_failed_run_keeps_what_record_failure_wrote(mid_deployment: None, context: FakeContext) -> None:
    """RecordFailure already marked the candidate failed, released the lock and took the rewards off the counter."""
    import finalize

    finalize.handler(
        {
            "action": "record_failure",
            "run_id": RUN,
            "run": {
                "reward_count": 12,
                "join": join_payload(RUN),
                "training": training_payload(RUN),
                "evaluation": evaluation_payload(RUN, promote=True),
                "deployment": deployment_payload(RUN, status="in_progress"),
                "error": {"Error": "DeploymentFailed", "Cause": "x"},
            },
        },
        context,
    )
    assert _state(RUN) == "failed" and store.read_counter(EXPERIMENT) == 0
    result = reconcile.handler(status_event("FAILED"), context)
    assert result["model_states"] == {} and result["lock_released"] is False
    experiment = store.read_experiment(EXPERIMENT)
    assert (experiment["last_outcome"], experiment["serving_model_id"]) == ("failed", OLD)
    assert (_state(RUN), _state(OLD)) == ("failed", "serving")
    assert store.read_counter(EXPERIMENT) == 0  # not subtracted twice


def test_a_failed_run_whose_candidate_the_endpoint_serves_is_recorded_serving(
    mid_deployment: None, context: FakeContext
) -> None:
    store.update_model(RUN, state="failed")
    _endpoint(endpoint_config_name=f"{RUN}-config")
    reconcile.handler(status_event("FAILED"), context)
    assert (_state(RUN), _state(OLD)) == ("serving", "retired")
    assert store.read_experiment(EXPERIMENT)["serving_model_id"] == RUN


@pytest.mark.parametrize(
    "event",
    [
        status_event("SUCCEEDED"),
        status_event("RUNNING"),
        {**status_event("ABORTED"), "source": "aws.s3"},
        {
            **status_event("ABORTED"),
            "detail": {**status_event("ABORTED")["detail"], "stateMachineArn": STATE_MACHINE + "-other"},
        },
        {"detail-type": "Step Functions Execution Status Change", "source": "aws.states"},
    ],
)
def test_other_events_are_ignored(mid_deployment: None, context: FakeContext, event: dict[str, Any]) -> None:
    assert reconcile.handler(event, context)["reconciled"] is False
    assert store.read_lock(EXPERIMENT).run_id == RUN
    assert (_state(RUN), _state(OLD)) == ("candidate", "serving")


def test_the_reconciled_statuses_are_the_ended_ones_but_succeeded() -> None:
    """The handler, the lock rules and the infra rule name the same statuses."""
    from pipeline_common.lock_rules import ENDED
    from pipeline_common.reconcile_rules import RECONCILED_STATUSES

    from infra.reconcile import RECONCILED_STATUSES as RULE_STATUSES

    assert RECONCILED_STATUSES == ENDED - {"SUCCEEDED"} == set(RULE_STATUSES)
