"""What a finished run amounts to, decided from the execution's state (pure: the rules in one place).

The state machine hands `finalize` the whole run (`$`): the input plus `join`, `training`, `evaluation` and
`deployment` results. From those this module decides the outcome, the registry transitions, the watermark and
the lineage head (`learner_model_id`: the candidate this run trained, whatever the gate or the rollout said;
`lineage.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROMOTED = "promoted"
BOOTSTRAPPED = "bootstrapped"
REJECTED = "rejected"
SKIPPED = "skipped"
ROLLED_BACK = "rolled_back"
ROLLBACK_DEPLOYED = "rollback_deployed"
ROLLBACK_REVERTED = "rollback_reverted"
FAILED = "failed"


@dataclass(frozen=True)
class Decision:
    """The outcome and the writes it implies."""

    outcome: str
    model_id: str | None = None
    model_state: str | None = None
    new_serving_model_id: str | None = None
    retire_model_id: str | None = None
    watermark: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    learner_model_id: str | None = None


def _get(run: dict[str, Any], *path: str) -> Any:
    value: Any = run
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


QUARANTINE_METRICS = {
    "LinesQuarantined": "quarantined_lines",
    "DecisionsDuplicated": "duplicate_decisions",
    "DecisionsMalformed": "malformed_decisions",
    "RewardsMalformed": "malformed_rewards",
    "RewardsOutOfRange": "out_of_range_rewards",
    "RewardsUnmatched": "unmatched_rewards",
    "RewardsBeforeDecision": "backdated_rewards",
    "RewardsDuplicated": "duplicate_rewards",
    "RewardsLate": "late_rewards",
}
"""The join's quarantine counts (docs/contracts.md "Quarantine") as the run's metrics."""


def _run_metrics(run: dict[str, Any]) -> dict[str, float]:
    values = {
        "RowsJoined": _number(_get(run, "join", "rows")),
        **{name: _number(_get(run, "join", key)) for name, key in QUARANTINE_METRICS.items()},
        "CandidateValue": _number(_get(run, "evaluation", "candidate", "value")),
        "ServingValue": _number(_get(run, "evaluation", "serving", "value")),
    }
    return {name: value for name, value in values.items() if value is not None}


def trained_model(run: dict[str, Any]) -> str | None:
    """The candidate this run trained to completion (the new lineage head), if it trained one."""
    if _get(run, "training", "status") != "Completed":
        return None
    model_id = _get(run, "training", "model_id")
    return str(model_id) if model_id else None


def decide(run: dict[str, Any]) -> Decision:
    """The outcome of a run that reached `Finalize` (every path but a failure)."""
    learner = trained_model(run)
    window_end = _get(run, "join", "window", "end")
    deployment = run.get("deployment") if isinstance(run.get("deployment"), dict) else None
    base = _run_metrics(run)
    if run.get("rollback_to"):
        model_id = str(run["rollback_to"])
        if deployment and deployment.get("status") == "deployed":
            return Decision(
                ROLLBACK_DEPLOYED,
                model_id,
                "serving",
                new_serving_model_id=model_id,
                retire_model_id=deployment.get("previous_model_id"),
                metrics={**base, "Promotions": 0, "Rollbacks": 1},
            )
        return Decision(ROLLBACK_REVERTED, model_id, None, metrics={**base, "Rollbacks": 1})
    if deployment:
        model_id = str(deployment.get("model_id"))
        if deployment.get("status") == "deployed":
            outcome = BOOTSTRAPPED if run.get("bootstrap") else PROMOTED
            return Decision(
                outcome,
                model_id,
                "serving",
                new_serving_model_id=model_id,
                retire_model_id=deployment.get("previous_model_id"),
                watermark=window_end,
                metrics={**base, "Promotions": 1, "Rollbacks": 0},
                learner_model_id=learner,
            )
        # The alarms judged the rollout (5XX, latency), not what the candidate learned: it stays the lineage head.
        rolled_back = {**base, "Promotions": 0, "Rollbacks": 1}
        return Decision(
            ROLLED_BACK, model_id, "rolled_back", watermark=window_end, metrics=rolled_back, learner_model_id=learner
        )
    evaluation = run.get("evaluation")
    if isinstance(evaluation, dict) and evaluation.get("promote") is False:
        return Decision(
            REJECTED,
            _get(run, "training", "model_id"),
            "rejected",
            watermark=window_end,
            metrics={**base, "Promotions": 0},
            learner_model_id=learner,
        )
    return Decision(SKIPPED, watermark=window_end, metrics=base)


def failed_step(run: dict[str, Any]) -> str:
    """The step the run was in when it failed: the first step on its path that has not finished.

    The path depends on the run: a rollback only deploys; a bootstrap skips evaluation (and training without data).
    """
    if run.get("rollback_to"):
        return "deployment"
    if _get(run, "join", "state") != "SUCCEEDED":
        return "join"
    bootstrap = run.get("bootstrap") is True
    if not _get(run, "join", "enough_rows"):
        return "deployment" if bootstrap else "finalize"
    if _get(run, "training", "status") != "Completed":
        return "training"
    if not bootstrap:
        if _get(run, "evaluation", "status") != "Completed":
            return "evaluation"
        if _get(run, "evaluation", "promote") is not True:
            return "finalize"
    if _get(run, "deployment", "status") not in ("deployed", "rolled_back"):
        return "deployment"
    return "finalize"
