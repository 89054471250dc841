"""Least privilege: each role holds exactly the actions its code calls (plus what the services need on its behalf).

The expected actions are derived from the handlers' code (tests/infra/handler_actions.py) and from the ASL file, never
listed by hand, so a new boto3 call without a grant, or a grant no code uses, fails here.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import handler_actions as derive
import pytest

from infra.names import FUNCTION_KEYS

STATE_MACHINE_SERVICE_ACTIONS = {
    "logs:CreateLogDelivery": "Step Functions delivers execution logs to the log group (vended logs).",
    "logs:GetLogDelivery": "Vended log delivery.",
    "logs:UpdateLogDelivery": "Vended log delivery.",
    "logs:DeleteLogDelivery": "Vended log delivery.",
    "logs:ListLogDeliveries": "Vended log delivery.",
    "logs:PutResourcePolicy": "Vended log delivery sets the log group's resource policy.",
    "logs:DescribeResourcePolicies": "Vended log delivery.",
    "logs:DescribeLogGroups": "Vended log delivery.",
    "xray:PutTraceSegments": "Execution tracing.",
    "xray:PutTelemetryRecords": "Execution tracing.",
    "xray:GetSamplingRules": "Execution tracing.",
    "xray:GetSamplingTargets": "Execution tracing.",
}


def function_ids(resources: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Function key -> logical id, by the handler each function runs (`trigger.handler`)."""
    found = {
        v["Properties"]["Handler"].removesuffix(".handler"): k
        for k, v in resources.items()
        if v["Type"] == "AWS::Lambda::Function" and v["Properties"].get("Handler", "").endswith(".handler")
    }
    return {key: found[key] for key in FUNCTION_KEYS}


def compare(resources: dict[str, dict[str, Any]], key: str, function_id: str) -> tuple[set[str], set[str]]:
    """(granted but not needed, needed but not granted) for one function's role."""
    required = derive.required_actions(key, dead_letter_queue=_has_failure_queue(resources, function_id))
    granted = derive.granted_actions(resources, function_id)
    return granted - set(required), set(required) - granted


def _has_failure_queue(resources: dict[str, dict[str, Any]], function_id: str) -> bool:
    """The function sends failed async invocations to SQS (dead-letter config or an on-failure destination)."""
    if resources[function_id]["Properties"].get("DeadLetterConfig"):
        return True
    return any(
        v["Type"] == "AWS::Lambda::EventInvokeConfig"
        and function_id in json.dumps(v["Properties"].get("FunctionName"))
        and "OnFailure" in v["Properties"].get("DestinationConfig", {})
        for v in resources.values()
    )


@pytest.mark.parametrize("key", FUNCTION_KEYS)
def test_each_function_role_holds_exactly_what_its_code_calls(synth: Any, key: str) -> None:
    extra, missing = compare(synth.resources, key, function_ids(synth.resources)[key])
    assert not extra, f"{key}: granted but no code path calls it: {sorted(extra)}"
    assert not missing, f"{key}: called by the code but not granted: {sorted(missing)}"


def test_the_derivation_sees_the_calls_each_step_is_known_for() -> None:
    """Guards the scanner itself: if it stopped seeing calls, 'no extras' would hold for an empty set."""
    assert {"s3:GetObject", "states:StartExecution", "dynamodb:PutItem@IDEMPOTENCY_TABLE"} <= derive.code_actions(
        "trigger"
    )
    assert {"athena:StartQueryExecution", "dynamodb:PutItem@JOINS_TABLE"} <= derive.code_actions("join")
    assert "sagemaker:CreateTrainingJob" in derive.code_actions("train")
    # reached only through getattr(client("sagemaker"), kind) with the method name passed in
    assert {"sagemaker:CreateModel", "sagemaker:CreateEndpointConfig"} <= derive.code_actions("deploy")
    # TransactWriteItems is authorized per item
    assert {"dynamodb:DeleteItem@STATE_TABLE", "dynamodb:UpdateItem@STATE_TABLE"} <= derive.code_actions("finalize")
    # store.py touches every table, but the trigger's call graph never reaches the models registry
    assert not any("MODELS_TABLE" in action for action in derive.code_actions("trigger"))


def _inject(resources: dict[str, dict[str, Any]], function_id: str, action: str, resource: Any) -> dict[str, Any]:
    changed = copy.deepcopy(resources)
    role_id = changed[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    changed["InjectedPolicy"] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "injected",
            "Roles": [{"Ref": role_id}],
            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]},
        },
    }
    return changed


def test_an_extra_grant_is_caught(synth: Any) -> None:
    trigger = function_ids(synth.resources)["trigger"]
    changed = _inject(synth.resources, trigger, "s3:DeleteObject", "arn:aws:s3:::bucket/rewards/*")
    extra, missing = compare(changed, "trigger", trigger)
    assert extra == {"s3:DeleteObject"} and not missing


def test_a_grant_on_the_wrong_table_is_caught(synth: Any) -> None:
    """Scan is not needed anywhere, and PutItem on the models table is not the trigger's business."""
    ids = function_ids(synth.resources)
    table_id = synth.resources[ids["train"]]["Properties"]["Environment"]["Variables"]["MODELS_TABLE"]["Ref"]
    changed = _inject(synth.resources, ids["trigger"], "dynamodb:PutItem", {"Fn::GetAtt": [table_id, "Arn"]})
    extra, _ = compare(changed, "trigger", ids["trigger"])
    assert extra == {"dynamodb:PutItem@MODELS_TABLE"}


def test_a_missing_grant_is_caught(synth: Any) -> None:
    ids = function_ids(synth.resources)
    changed = copy.deepcopy(synth.resources)
    role_id = changed[ids["trigger"]]["Properties"]["Role"]["Fn::GetAtt"][0]
    for statement in derive.role_statements(changed, role_id):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [a for a in actions if a != "states:StartExecution"] or ["xray:PutTraceSegments"]
    _, missing = compare(changed, "trigger", ids["trigger"])
    assert missing == {"states:StartExecution"}


def test_the_state_machine_invokes_exactly_the_functions_its_asl_names(synth: Any) -> None:
    asl = synth.statemachine_path.read_text()
    named = {m.lower() for m in re.findall(r"\$\{(\w+)FunctionArn\}", asl)}
    assert named, "the ASL names no function"
    ids = function_ids(synth.resources)
    machine = next(v for v in synth.resources.values() if v["Type"] == "AWS::StepFunctions::StateMachine")
    role_id = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    invoked: set[str] = set()
    other: set[str] = set()
    for statement in derive.role_statements(synth.resources, role_id):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            if action == "lambda:InvokeFunction":
                invoked |= {key for key, fid in ids.items() if fid in set(derive._logical_ids(statement["Resource"]))}
            else:
                other.add(action)
    assert invoked == named
    assert other <= set(STATE_MACHINE_SERVICE_ACTIONS), sorted(other - set(STATE_MACHINE_SERVICE_ACTIONS))
