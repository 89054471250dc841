"""What an execution that ended without `Finalize` leaves to fix: pure rules, no I/O (`reconcile` reads and writes).

A run stopped by hand, timed out or failed can end while the endpoint is mid-rollout: the endpoint may end up serving
the run's candidate, or its previous model, whatever the registry says. The endpoint is the truth; the registry is
made to agree with it. The watermark is never moved (docs/contracts.md: it stays on failure), and a FAILED run's
`RecordFailure` outcome (`last_outcome`, the candidate marked `failed`) is kept unless the endpoint serves the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline_common.lock_rules import ENDED
from pipeline_common.steps import ModelState

RECONCILED_STATUSES = ENDED - {"SUCCEEDED"}
"""Step Functions execution statuses that end a run without `Finalize` (SUCCEEDED always passes through it)."""

SETTLED = "InService"
IN_PROGRESS = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed"})
"""Endpoint statuses in which a rollout has not finished: which model will serve is not known yet."""

UNFINISHED_STATES = frozenset({ModelState.TRAINING})
"""Registry states of a candidate whose run ended before it had an artifact: it can never be deployed."""


@dataclass(frozen=True)
class Registry:
    """What the registry says before reconciling."""

    recorded_serving_id: str | None
    candidate_id: str | None
    candidate_state: ModelState | None
    rollout_started: bool
    """The run's endpoint config exists: its deployment reached CreateEndpointConfig."""


@dataclass(frozen=True)
class Fix:
    """The registry writes that make it agree with the endpoint (empty when it already does)."""

    serving_model_id: str | None
    model_states: dict[str, ModelState] = field(default_factory=dict)
    challenger_model_id: str | None = None
    """The run's candidate when the endpoint serves it as a challenger (None: the experiment row is left alone)."""


def endpoint_settled(endpoint_status: str | None) -> bool:
    """True when the endpoint is not mid-rollout (absent, InService, Failed, OutOfService, Deleting)."""
    return endpoint_status not in IN_PROGRESS


def reconcile(
    registry: Registry,
    endpoint_status: str | None,
    actual_serving_id: str | None,
    actual_challenger_id: str | None = None,
) -> Fix:
    """The fix for a run that ended without finalize, given the endpoint's real state.

    `actual_serving_id` is the registry id of the model the InService endpoint's config runs (None without an
    endpoint), `actual_challenger_id` the rejected candidate it mixes in, if any. An endpoint that is not InService
    serves nothing known, so the serving record is left alone. A candidate the endpoint serves as a challenger was
    rejected by the gate and kept by its rollout: `rejected`, as finalize would have left it.
    """
    if not endpoint_settled(endpoint_status):
        raise ValueError(f"endpoint is {endpoint_status}: reconcile only once the rollout has settled")
    states: dict[str, ModelState] = {}
    serving = registry.recorded_serving_id
    if endpoint_status == SETTLED and actual_serving_id and actual_serving_id != serving:
        states[actual_serving_id] = ModelState.SERVING
        if serving:
            states[serving] = ModelState.RETIRED  # as finalize retires the model a promotion replaces
        serving = actual_serving_id
    candidate = registry.candidate_id
    if endpoint_status == SETTLED and candidate and actual_challenger_id == candidate and candidate != serving:
        states[candidate] = ModelState.REJECTED
        return Fix(serving_model_id=serving, model_states=states, challenger_model_id=candidate)
    if candidate and candidate != serving and candidate not in states:
        if registry.candidate_state is ModelState.SERVING:
            states[candidate] = ModelState.ROLLED_BACK  # recorded as serving, but the endpoint runs another model
        elif registry.rollout_started and registry.candidate_state in (ModelState.CANDIDATE, ModelState.TRAINING):
            states[candidate] = ModelState.ROLLED_BACK  # its rollout began and the endpoint did not keep it
        elif registry.candidate_state in UNFINISHED_STATES:
            states[candidate] = ModelState.FAILED  # as RecordFailure marks a candidate whose run failed in training
    return Fix(serving_model_id=serving, model_states=states)
