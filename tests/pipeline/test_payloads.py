"""Step payloads are read once, at each handler's edge: a malformed step input fails naming the field; what a step
writes is what the next one reads back."""

from __future__ import annotations

from typing import Any

import deploy
import evaluate
import finalize
import join
import pytest
import train
from pipeline_common import store
from pipeline_common.errors import InvalidEvent
from pipeline_common.payloads import Fields
from pipeline_common.steps import (
    DeploymentResult,
    EvaluationResult,
    JoinResult,
    ModelState,
    RunState,
    TrainingResult,
)
from pipeline_helpers import FakeContext, deployment_payload, evaluation_payload, join_payload, training_payload

RUN = "bandit-demo-20261123T010000"
WINDOW = {"start": "2026-11-23T00:00:00.000Z", "end": "2026-11-23T01:00:00.000Z"}
COMPLETE_JOIN = {
    "run_id": RUN,
    "window": WINDOW,
    "query_execution_id": "q-unload",
    "count_query_execution_id": "q-counts",
    "output_prefix": f"s3://bandit-lake/joined/{RUN}/",
    "bootstrap": False,
    "state": "SUCCEEDED",
    "deadline": "2099-01-01T00:00:00.000Z",
    "timeout_seconds": 2400,
    "rows": 120,
    "defaulted_rows": 0,
    "unmatched_rewards": 0,
    "malformed_rewards": 0,
    "late_rewards": 0,
    "malformed_decisions": 0,
    "data_scanned_bytes": 0,
    "enough_rows": True,
}
"""`$.join` after CheckJoin, written out by hand so these cases read on any version of the handlers."""


def without(payload: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key != name}


@pytest.mark.parametrize(
    ("module", "event", "message"),
    [
        (
            train,
            {"action": "start", "run_id": RUN, "join": without(COMPLETE_JOIN, "output_prefix")},
            r"'payload\.join\.output_prefix' is missing",
        ),
        (
            train,
            {"action": "start", "run_id": RUN, "join": {**COMPLETE_JOIN, "rows": "many"}},
            r"'payload\.join\.rows' must be int, got 'many'",
        ),
        (
            join,
            {"action": "status", "run_id": RUN, "join": {**COMPLETE_JOIN, "state": "DONE"}},
            r"'payload\.join\.state' must be one of PLANNED, RUNNING, SUCCEEDED, FAILED, got 'DONE'",
        ),
        (
            join,
            {"action": "start", "run_id": RUN, "input": {"window": WINDOW, "bootstrap": "yes"}},
            r"'payload\.input\.bootstrap' must be bool, got 'yes'",
        ),
        (
            join,
            {"action": "start", "run_id": RUN, "input": {"window": {"start": WINDOW["end"], "end": WINDOW["start"]}}},
            r"'payload\.input\.window': window start 2026-11-23T01:00:00\.000Z is not before its end",
        ),
        (
            finalize,
            {"action": "finalize", "run_id": RUN, "run": {"reward_count": 12, "join": {**COMPLETE_JOIN, "rows": -0.5}}},
            r"'payload\.run\.join\.rows' must be int, got -0\.5",
        ),
        (
            deploy,
            {"action": "status", "run_id": RUN, "deployment": {"endpoint_name": "e", "endpoint_config": "c"}},
            r"'payload\.deployment\.model_id' is missing",
        ),
        (
            evaluate,
            {"action": "status", "run_id": RUN, "evaluation": {"job_name": f"{RUN}-eval", "status": "InProgress"}},
            r"'payload\.evaluation\.model_id' is missing",
        ),
    ],
)
def test_a_malformed_step_input_fails_naming_the_field(
    aws: None, context: FakeContext, module: Any, event: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidEvent, match=message):
        module.handler(event, context)


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        (JoinResult, join_payload(RUN)),
        (JoinResult, join_payload(RUN, state="RUNNING")),
        (TrainingResult, training_payload(RUN)),
        (TrainingResult, training_payload(RUN, status="InProgress")),
        (EvaluationResult, evaluation_payload(RUN)),
        (EvaluationResult, evaluation_payload(RUN, status="InProgress")),
        (DeploymentResult, deployment_payload(RUN, status="in_progress")),
    ],
)
def test_what_a_step_writes_is_what_the_next_one_reads(kind: Any, payload: dict[str, Any]) -> None:
    parsed = kind.from_fields(Fields(payload))
    assert parsed.to_payload() == payload
    assert all(type(value) in (str, int, float, bool, dict, type(None)) for value in payload.values())


def test_counts_and_verdict_are_read_only_once_the_step_has_them() -> None:
    assert JoinResult.from_fields(Fields(join_payload(RUN, state="RUNNING"))).counts is None
    assert JoinResult.from_fields(Fields(join_payload(RUN))).enough_rows is True
    assert EvaluationResult.from_fields(Fields(evaluation_payload(RUN, status="InProgress"))).verdict is None
    with pytest.raises(InvalidEvent, match=r"'payload\.enough_rows' is missing"):
        JoinResult.from_fields(Fields(without(join_payload(RUN), "enough_rows")))  # counts in part: malformed


def test_record_failure_releases_the_lock_whatever_the_run_carried(aws: None, context: FakeContext) -> None:
    """RecordFailure is where a malformed step input lands: it reads what it can and never stops the loop."""
    store.add_to_counter("bandit-demo", 12)
    assert store.acquire_lock("bandit-demo", RUN, "2026-11-23T01:00:00.000Z", "{}")
    store.put_model({"model_id": RUN, "state": "training"})
    run = {
        "reward_count": 12,
        "join": {**COMPLETE_JOIN, "rows": "many"},
        "training": training_payload(RUN, status="InProgress"),
        "error": {"Error": "InvalidEvent", "Cause": "payload field 'payload.join.rows' must be int"},
    }
    result = finalize.handler({"action": "record_failure", "run_id": RUN, "run": run}, context)
    assert result["lock_released"] is True and result["counter_reset_by"] == 12 and result["error"] == "InvalidEvent"
    assert result["failed_step"] == "join"  # the join it could not read counts as not finished
    assert store.read_lock("bandit-demo") is None and store.read_counter("bandit-demo") == 0
    state, problems = RunState.salvage(Fields(run))
    assert state.join is None and state.training is not None and state.input.reward_count == 12
    assert problems == ["payload field 'payload.join.rows' must be int, got 'many'"]
    assert store.read_model(RUN)["state"] == ModelState.TRAINING  # type: ignore[index]  # failed in join: untouched
