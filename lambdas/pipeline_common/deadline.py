"""Each polling loop's time limit: the start handler stamps a deadline into its output, the status handler gives
up with `StepTimedOut` once it has passed (RecordFailure then releases the run lock).

The limits come from the settings (`<step>_timeout_seconds`); the state machine's own `TimeoutSeconds` is the
backstop above them all.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pipeline_common.config import RunSettings
from pipeline_common.errors import StepTimedOut
from pipeline_common.payloads import field
from pipeline_common.timefmt import iso, now, parse_iso

STEPS = ("join", "training", "evaluation", "deployment")


def stamp(step: str, config: RunSettings) -> dict[str, Any]:
    """The fields a start's output carries so the step's status checks know when to stop waiting."""
    limit = config.step_timeout_seconds(step)
    return {"deadline": iso(now() + timedelta(seconds=limit)), "timeout_seconds": limit}


def enforce(step: str, progress: dict[str, Any], state: str) -> None:
    """Raise `StepTimedOut` when `step`, still `state`, is past the deadline its start stamped."""
    deadline = field(progress, "deadline", str)
    if now() >= parse_iso(deadline):
        limit = progress.get("timeout_seconds")
        raise StepTimedOut(f"{step} still {state} after its limit of {limit} s (deadline {deadline})")
