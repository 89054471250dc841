"""The ASL file's shape: the contract's substitutions, readable state names, a Catch and a Retry on every task."""

from __future__ import annotations

import json
import re

from pipeline_helpers import ASL_PATH, render_asl

from infra.names import ASL_FUNCTION_SUBSTITUTIONS, ASL_VALUE_SUBSTITUTIONS

CONTRACT_SUBSTITUTIONS = {*ASL_FUNCTION_SUBSTITUTIONS, *ASL_VALUE_SUBSTITUTIONS}
"""What the stack substitutes (infra.names); the ASL may use nothing else."""
LAMBDA_RETRIED = {"Lambda.ServiceException", "Lambda.TooManyRequestsException", "Lambda.AWSLambdaException"}


def states() -> dict[str, dict]:
    return json.loads(render_asl(poll_seconds=1))["States"]


def test_only_contract_substitutions_are_used() -> None:
    used = set(re.findall(r"\$\{(\w+)\}", ASL_PATH.read_text()))
    assert used <= CONTRACT_SUBSTITUTIONS
    assert '"Seconds": ${PollSeconds}' in ASL_PATH.read_text()


def test_the_states_a_person_reads_in_the_console() -> None:
    assert set(states()) == {
        "IsRollback?", "RewardsDue?", "WaitForRewards", "StartJoin", "WaitForJoin", "CheckJoin", "JoinDone?",
        "EnoughRows?",
        "StartTraining", "WaitForTraining", "CheckTraining", "TrainingDone?", "IsBootstrap?",
        "StartEvaluation", "WaitForEvaluation", "CheckEvaluation", "EvaluationDone?", "Promote?",
        "StartDeployment", "WaitForDeployment", "CheckDeployment", "DeploymentDone?",
        "Finalize", "RecordFailure", "Fail", "Succeed",
    }  # fmt: skip


def test_every_task_retries_lambda_errors_and_catches_into_record_failure() -> None:
    for name, state in states().items():
        if state["Type"] != "Task":
            continue
        retried = {error for retry in state["Retry"] for error in retry["ErrorEquals"]}
        assert retried >= LAMBDA_RETRIED, name
        assert state["Resource"].startswith("arn:aws:lambda:"), name
        assert state["ResultPath"].startswith("$."), name  # never replaces the run's story
        catch = state["Catch"]
        assert catch[0]["ErrorEquals"] == ["States.ALL"], name
        assert catch[0]["Next"] == ("Fail" if name == "RecordFailure" else "RecordFailure"), name


def test_every_wait_uses_the_poll_interval_and_every_state_is_reachable() -> None:
    machine = states()
    polls = {name: s for name, s in machine.items() if s["Type"] == "Wait" and name != "WaitForRewards"}
    assert polls and all(s["Seconds"] == 1 for s in polls.values())
    # The one timed wait: a triggered run joins at its `join_after`, a run started by hand at once.
    assert machine["WaitForRewards"]["TimestampPath"] == "$.join_after"
    assert machine["RewardsDue?"]["Choices"] == [
        {"Variable": "$.join_after", "IsPresent": True, "Next": "WaitForRewards"}
    ]
    assert machine["RewardsDue?"]["Default"] == machine["WaitForRewards"]["Next"] == "StartJoin"
    targets = {"IsRollback?"}
    for state in machine.values():
        targets |= {state.get("Next"), state.get("Default")} - {None}
        targets |= {choice["Next"] for choice in state.get("Choices", [])}
        targets |= {catch["Next"] for catch in state.get("Catch", [])}
    assert targets == set(machine)


def test_every_task_retries_aws_retryable_with_jittered_backoff() -> None:
    """`AwsRetryable` (pipeline_common/aws.py) is retried on every task; `AwsCallFailed` goes to the Catch."""
    for name, state in states().items():
        if state["Type"] != "Task":
            continue
        retriers = [retry for retry in state["Retry"] if retry["ErrorEquals"] == ["AwsRetryable"]]
        assert len(retriers) == 1, name
        retrier = retriers[0]
        assert retrier["BackoffRate"] > 1 and retrier["MaxAttempts"] >= 3 and retrier["IntervalSeconds"] >= 1, name
        assert retrier["JitterStrategy"] == "FULL" and retrier["MaxDelaySeconds"] >= retrier["IntervalSeconds"], name
        assert not any("AwsCallFailed" in retry["ErrorEquals"] for retry in state["Retry"]), name


def test_the_execution_has_a_timeout_from_the_settings() -> None:
    assert '"TimeoutSeconds": ${RunTimeoutSeconds}' in ASL_PATH.read_text()
    assert json.loads(render_asl(run_timeout_seconds=123))["TimeoutSeconds"] == 123
