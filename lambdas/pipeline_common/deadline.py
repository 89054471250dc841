"""Each polling loop's time limit: the start handler stamps a deadline into its output, the status handler gives
up with `StepTimedOut` once it has passed (RecordFailure then releases the run lock).

The limits come from the settings (`<step>_timeout_seconds`); the state machine's own `TimeoutSeconds` is the
backstop above them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline_common.config import RunSettings
from pipeline_common.errors import StepTimedOut
from pipeline_common.payloads import PayloadObject, key
from pipeline_common.timefmt import iso, now

STEPS = ("join", "training", "evaluation", "deployment")


@dataclass(frozen=True)
class Deadline(PayloadObject):
    """When a step's status checks stop waiting, and the limit it came from (flat in the step's result:
    `deadline`, `timeout_seconds`)."""

    at: datetime = field(metadata=key("deadline"))
    timeout_seconds: int


def stamp(step: str, config: RunSettings) -> Deadline:
    """The deadline a start's output carries so the step's status checks know when to stop waiting."""
    limit = config.step_timeout_seconds(step)
    return Deadline(now() + timedelta(seconds=limit), limit)


def enforce(step: str, deadline: Deadline, state: str) -> None:
    """Raise `StepTimedOut` when `step`, still `state`, is past its deadline."""
    if now() >= deadline.at:
        raise StepTimedOut(
            f"{step} still {state} after its limit of {deadline.timeout_seconds} s (deadline {iso(deadline.at)})"
        )
