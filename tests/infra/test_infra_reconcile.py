"""The reconcile rule: Step Functions status changes of this state machine that end a run without Finalize.

Event shape and source: "AWS Step Functions events - Amazon EventBridge"
(https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html); the pattern is evaluated with moto's
EventBridge matcher (the one the local runtime uses), with the state machine's Ref resolved to its ARN.
"""

from __future__ import annotations

import json
from typing import Any

from moto.events.models import EventPattern
from moto.events.utils import EventMessageType

STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:bandit-demo-retrain"


def _reconcile_rule(synth: Any) -> tuple[str, dict[str, Any]]:
    rules = [
        (lid, r["Properties"])
        for lid, r in synth.of_type("AWS::Events::Rule").items()
        if r["Properties"]["EventPattern"]["source"] == ["aws.states"]
    ]
    assert len(rules) == 1
    return rules[0]


def _event(status: str, state_machine: str = STATE_MACHINE) -> EventMessageType:
    execution = state_machine.replace(":stateMachine:", ":execution:") + ":run-1"
    return {
        "version": "0",
        "id": "e",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [execution],
        "detail": {
            "executionArn": execution,
            "stateMachineArn": state_machine,
            "name": "run-1",
            "status": status,
            "startDate": 1767225600000,
            "stopDate": 1767225660000,
            "input": "{}",
            "output": None,
        },
    }


def test_reconcile_rule_matches_only_this_state_machine_and_the_three_ended_statuses(synth: Any) -> None:
    _, props = _reconcile_rule(synth)
    pattern = props["EventPattern"]
    (machine_ref,) = pattern["detail"]["stateMachineArn"]
    assert synth.resources[machine_ref["Ref"]]["Type"] == "AWS::StepFunctions::StateMachine"
    resolved = json.loads(json.dumps(pattern).replace(json.dumps(machine_ref), json.dumps(STATE_MACHINE)))
    matcher = EventPattern.load(json.dumps(resolved))
    for status in ("ABORTED", "TIMED_OUT", "FAILED"):
        assert matcher.matches_event(_event(status)), status
    for status in ("SUCCEEDED", "RUNNING", "PENDING_REDRIVE"):
        assert not matcher.matches_event(_event(status)), status
    other = STATE_MACHINE.replace("bandit-demo-retrain", "someone-else")
    assert not matcher.matches_event(_event("ABORTED", other))


def test_reconcile_rule_targets_the_reconcile_function_with_a_dead_letter_queue(synth: Any) -> None:
    _, props = _reconcile_rule(synth)
    functions = {r["Properties"]["FunctionName"]: lid for lid, r in synth.of_type("AWS::Lambda::Function").items()}
    reconcile_id = functions[f"{synth.settings.experiment_id}-reconcile"]
    (target,) = props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [reconcile_id, "Arn"]}
    assert "DeadLetterConfig" in target
    function = synth.resources[reconcile_id]["Properties"]
    assert function["Handler"] == "reconcile.handler"
    assert function["Timeout"] == 900
    invoke_configs = [
        r["Properties"]
        for r in synth.of_type("AWS::Lambda::EventInvokeConfig").values()
        if reconcile_id in json.dumps(r["Properties"]["FunctionName"])
    ]
    assert len(invoke_configs) == 1 and "OnFailure" in invoke_configs[0]["DestinationConfig"]
