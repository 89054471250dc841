"""When a held run lock is stale: pure rules, no I/O (the trigger does the reading and the takeover).

Finalize releases the lock from inside the execution. An execution stopped by hand, timed out or killed before
finalize never releases it, and without these rules no run would ever start again.
"""

from __future__ import annotations

from datetime import datetime

RUNNING = "RUNNING"
LIVE = frozenset({RUNNING, "PENDING_REDRIVE"})
"""Statuses of an execution that will still run (and so release its lock): `PENDING_REDRIVE` is a redriven
execution about to run again from its failed state (DescribeExecution, Step Functions API Reference)."""
ENDED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
"""Step Functions execution statuses after which the execution can no longer release its lock."""
START_GRACE_SECONDS = 90.0
"""Longer than the trigger's 60 s timeout: a lock whose start is unconfirmed after this lost its holder."""


def execution_arn(state_machine_arn: str, run_id: str) -> str:
    """The ARN of execution `run_id` of a state machine (`...:stateMachine:NAME` -> `...:execution:NAME:RUN`)."""
    prefix, marker, name = state_machine_arn.rpartition(":stateMachine:")
    if not marker or not name:
        raise ValueError(f"not a state machine ARN: {state_machine_arn!r}")
    return f"{prefix}:execution:{name}:{run_id}"


def lock_is_stale(started: bool, execution_status: str | None) -> bool:
    """True when the lock's execution ended (or vanished) without releasing it.

    `execution_status` is None when Step Functions does not know the execution. A lock whose start was never
    confirmed (`started` False) is not stale: the trigger re-issues its idempotent start instead.
    """
    if not started:
        return False
    if execution_status is None:
        return True
    if execution_status in LIVE:
        return False
    if execution_status in ENDED:
        return True
    raise ValueError(f"unknown execution status {execution_status!r}")


def start_abandoned(since: datetime, now: datetime, grace_seconds: float = START_GRACE_SECONDS) -> bool:
    """True when a lock taken at `since` still has no confirmed start after the grace: its trigger died.

    Before that the holder is alive and between taking the lock and starting (re-reading the count, recording
    the input); another trigger that started the run then would start it with the holder's stale input.
    """
    return (now - since).total_seconds() >= grace_seconds
