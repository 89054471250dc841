"""When a held run lock is stale: pure rules, no I/O (the trigger does the reading and the takeover).

Finalize releases the lock from inside the execution. An execution stopped by hand, timed out or killed before
finalize never releases it, and without these rules no run would ever start again.
"""

from __future__ import annotations

RUNNING = "RUNNING"
ENDED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
"""Step Functions execution statuses after which the execution can no longer release its lock."""


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
    if execution_status == RUNNING:
        return False
    if execution_status in ENDED:
        return True
    raise ValueError(f"unknown execution status {execution_status!r}")
