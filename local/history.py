"""The Step Functions console in a terminal: executions of a state machine, and one execution's history."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from typing import Any

_DETAIL_KEYS = (
    "executionStartedEventDetails",
    "executionSucceededEventDetails",
    "executionFailedEventDetails",
    "stateEnteredEventDetails",
    "stateExitedEventDetails",
    "taskFailedEventDetails",
    "taskSucceededEventDetails",
    "taskScheduledEventDetails",
    "lambdaFunctionFailedEventDetails",
    "lambdaFunctionSucceededEventDetails",
    "executionAbortedEventDetails",
    "executionTimedOutEventDetails",
)


def summarize(value: Any, width: int = 110) -> str:
    """One line of JSON (text as given when it is not JSON), cut to `width`."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _changes(state_input: Any, state_output: Any) -> Any:
    """What a state added or changed: the output's top-level fields that differ from its input (the ResultPath)."""
    try:
        before = json.loads(state_input) if isinstance(state_input, str) else state_input
        after = json.loads(state_output) if isinstance(state_output, str) else state_output
    except ValueError:
        return state_output
    if isinstance(before, dict) and isinstance(after, dict):
        changed: dict[str, Any] = {}
        for key, value in after.items():
            old = before.get(key)
            if old == value:
                continue
            if isinstance(old, dict) and isinstance(value, dict):  # one level down: only the fields that moved
                value = {k: v for k, v in value.items() if old.get(k) != v}
            changed[key] = value
        return changed if changed else "(unchanged)"
    return state_output


def _seconds(start: dt.datetime | None, stop: dt.datetime | None) -> str:
    if start is None or stop is None:
        return "-"
    return f"{(stop - start).total_seconds():.1f}"


def executions_table(sfn: Any, state_machine_arn: str) -> str:
    rows = []
    paginator = sfn.get_paginator("list_executions")
    for page in paginator.paginate(stateMachineArn=state_machine_arn):
        rows.extend(page["executions"])
    rows.sort(key=lambda e: e["startDate"])
    lines = [f"{'NAME':40} {'STATUS':10} {'STARTED (UTC)':20} {'SECONDS':>8}"]
    for e in rows:
        started = e["startDate"].astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(
            f"{e['name'][:40]:40} {e['status']:10} {started:20} {_seconds(e['startDate'], e.get('stopDate')):>8}"
        )
    if not rows:
        lines.append("(no executions)")
    return "\n".join(lines)


def history_events(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    token = None
    while True:
        kwargs = {"executionArn": execution_arn, "maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            return events


def render_history(sfn: Any, execution_arn: str, width: int = 110) -> str:
    """States entered and exited with times and durations; inputs, outputs and errors summarized."""
    described = sfn.describe_execution(executionArn=execution_arn)
    events = history_events(sfn, execution_arn)
    start = described["startDate"]
    lines = [
        f"execution {described['name']}  status {described['status']}  "
        f"started {start.astimezone(dt.UTC).strftime('%Y-%m-%d %H:%M:%S')} UTC  "
        f"seconds {_seconds(start, described.get('stopDate'))}",
        f"  input:  {summarize(described.get('input', ''), width)}",
    ]
    entered: dict[str, dt.datetime] = {}
    inputs: dict[str, Any] = {}
    for event in events:
        when = event["timestamp"]
        offset = (when - start).total_seconds()
        etype = event["type"]
        details: dict[str, Any] = {}
        for key in _DETAIL_KEYS:
            if key in event:
                details = event[key]
                break
        prefix = f"  +{offset:7.1f}s  "
        if etype.endswith("StateEntered"):
            name = details.get("name", "?")
            entered[name] = when
            inputs[name] = details.get("input", "")
            lines.append(f"{prefix}> {name}")
        elif etype.endswith("StateExited"):
            name = details.get("name", "?")
            took = _seconds(entered.get(name), when)
            output = _changes(inputs.get(name), details.get("output", ""))
            lines.append(f"{prefix}< {name:22} {took:>5}s {summarize(output, width - 45)}")
        elif etype in (
            "TaskFailed",
            "LambdaFunctionFailed",
            "ExecutionFailed",
            "ExecutionAborted",
            "ExecutionTimedOut",
        ):
            error = details.get("error", "")
            cause = summarize(details.get("cause", ""), width - 30)
            lines.append(f"{prefix}! {etype}: {error} {cause}")
        elif etype == "ExecutionSucceeded":
            lines.append(f"{prefix}= ExecutionSucceeded out: {summarize(details.get('output', ''), width - 30)}")
    if described.get("status") == "FAILED" and described.get("error"):
        lines.append(f"  error: {described.get('error')} {summarize(described.get('cause', ''), width)}")
    return "\n".join(lines)
