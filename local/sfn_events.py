"""Step Functions "Execution Status Change" events on the default event bus, as AWS sends them.

AWS sends every status change of a standard workflow's execution (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED) to
the account's default EventBridge bus ("Automating Step Functions event delivery with EventBridge",
https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html; source `aws.states`, detail-type
`Step Functions Execution Status Change`, "AWS Step Functions events - Amazon EventBridge",
https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html). moto's ASL interpreter sends none.

`install()` wraps the two places moto's interpreter changes an execution's status: `Execution.start` (RUNNING) and
`BaseExecutionWorkerCommunication.terminated`, which the worker thread calls when the program ends (SUCCEEDED, FAILED,
TIMED_OUT, and ABORTED after `StopExecution`). Each puts the event on moto's default bus of the execution's account and
region (`EventsBackend.put_events`), so rules match it with moto's matcher and Lambda targets receive it through the
gateway's EventBridge hook (`local.events`). Express workflows send no such events, and neither do they here.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from typing import Any

from moto.events.models import events_backends
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

DETAIL_TYPE = "Step Functions Execution Status Change"
SOURCE = "aws.states"

_original_start = Execution.start
_original_terminated = BaseExecutionWorkerCommunication.terminated
_install_lock = threading.Lock()
_sent: set[tuple[str, str]] = set()
"""(execution ARN, status) pairs already put on the bus: Step Functions sends one event per status change."""
_sent_lock = threading.Lock()


def _millis(when: dt.datetime | None) -> int | None:
    return int(when.timestamp() * 1000) if isinstance(when, dt.datetime) else None


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def status_change_detail(execution: Execution) -> dict[str, Any]:
    """The event's `detail`: the execution as DescribeExecution shows it, dates in epoch milliseconds."""
    status = execution.exec_status.value if execution.exec_status is not None else None
    succeeded = status == "SUCCEEDED"
    return {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine.arn,
        "name": execution.name,
        "status": status,
        "startDate": _millis(execution.start_date),
        "stopDate": _millis(execution.stop_date),
        "input": _json_text(execution.input_data),
        "output": _json_text(execution.output) if succeeded else None,
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if succeeded else None,
        "error": execution.error,
        "cause": execution.cause,
    }


def emit(execution: Execution, status: str | None = None) -> None:
    """Put the execution's status (`status`, else its current one) on its account's default bus, once per status
    (standard workflows only)."""
    if str(getattr(execution.sm_type, "value", execution.sm_type)) != "STANDARD":
        return
    detail = status_change_detail(execution)
    if status is not None:
        detail["status"] = status
        if status == "RUNNING":
            detail.update(stopDate=None, output=None, outputDetails=None, error=None, cause=None)
    with _sent_lock:
        if (execution.exec_arn, str(detail["status"])) in _sent:
            return
        _sent.add((execution.exec_arn, str(detail["status"])))
    try:
        backend = events_backends[execution.account_id][execution.region_name]
        backend.put_events(
            [
                {
                    "Source": SOURCE,
                    "DetailType": DETAIL_TYPE,
                    "Detail": json.dumps(detail),
                    "Resources": [execution.exec_arn],
                }
            ]
        )
    except Exception as err:  # a failed event must not break the execution (AWS delivers best effort)
        print(f"local states: status event of {execution.exec_arn} not sent: {err!r}", file=sys.stderr)


def _start(self: Execution) -> None:
    _original_start(self)
    # RUNNING, whatever the worker thread has reached already: a one-state execution may have ended by now.
    emit(self, "RUNNING")


def _terminated(self: BaseExecutionWorkerCommunication) -> None:
    _original_terminated(self)
    emit(self.execution)


def install() -> None:
    """Emit status-change events for every execution of this process's moto Step Functions."""
    with _install_lock:
        Execution.start = _start  # type: ignore[method-assign]
        BaseExecutionWorkerCommunication.terminated = _terminated  # type: ignore[method-assign]


def uninstall() -> None:
    with _install_lock:
        Execution.start = _original_start  # type: ignore[method-assign]
        BaseExecutionWorkerCommunication.terminated = _original_terminated  # type: ignore[method-assign]
