"""Step Functions "Execution Status Change" events reach EventBridge rules in the local runtime.

AWS sends each status change of a standard workflow's execution to the default bus ("Automating Step Functions event
delivery with EventBridge", https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html); moto's
interpreter sends none. The rule's target here is an SQS queue (moto's own delivery) so the event can be read back.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from local.aws import client
from local.gateway import Gateway

ROLE = "arn:aws:iam::123456789012:role/states"


def _rule_to_queue(gateway: Gateway, state_machine_arn: str) -> str:
    sqs = client("sqs", endpoint_url=gateway.url)
    queue_url = sqs.create_queue(QueueName=f"sfn-events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = client("events", endpoint_url=gateway.url)
    name = f"sfn-status-{uuid.uuid4().hex[:8]}"
    pattern = {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"stateMachineArn": [state_machine_arn]},
    }
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return queue_url


def _events(gateway: Gateway, queue_url: str, until: str, timeout: float = 20) -> list[dict[str, Any]]:
    sqs = client("sqs", endpoint_url=gateway.url)
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and until not in [e["detail"]["status"] for e in seen]:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            seen.append(json.loads(message["Body"]))
    return seen


def _machine(gateway: Gateway, definition: dict[str, Any]) -> str:
    sfn = client("stepfunctions", endpoint_url=gateway.url)
    return sfn.create_state_machine(
        name=f"events-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]


def test_stop_execution_sends_running_then_aborted(gateway: Gateway) -> None:
    machine = _machine(gateway, {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 60, "End": True}}})
    queue = _rule_to_queue(gateway, machine)
    sfn = client("stepfunctions", endpoint_url=gateway.url)
    execution = sfn.start_execution(stateMachineArn=machine, name="held", input=json.dumps({"rollback_to": "m-1"}))
    time.sleep(0.5)
    sfn.stop_execution(executionArn=execution["executionArn"])
    seen = _events(gateway, queue, "ABORTED")
    assert [e["detail"]["status"] for e in seen] == ["RUNNING", "ABORTED"]
    aborted = seen[-1]
    assert aborted["source"] == "aws.states"
    assert aborted["detail-type"] == "Step Functions Execution Status Change"
    assert aborted["resources"] == [execution["executionArn"]]
    detail = aborted["detail"]
    assert detail["executionArn"] == execution["executionArn"] and detail["stateMachineArn"] == machine
    assert detail["name"] == "held"
    assert json.loads(detail["input"]) == {"rollback_to": "m-1"}
    assert isinstance(detail["startDate"], int) and detail["stopDate"] >= detail["startDate"]
    assert detail["output"] is None


def test_a_failing_execution_sends_failed_with_its_error(gateway: Gateway) -> None:
    machine = _machine(
        gateway, {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Broken", "Cause": "on purpose"}}}
    )
    queue = _rule_to_queue(gateway, machine)
    client("stepfunctions", endpoint_url=gateway.url).start_execution(stateMachineArn=machine, name="fails")
    failed = [e for e in _events(gateway, queue, "FAILED") if e["detail"]["status"] == "FAILED"]
    assert len(failed) == 1
    assert (failed[0]["detail"]["error"], failed[0]["detail"]["cause"]) == ("Broken", "on purpose")
