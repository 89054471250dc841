"""What a finished run amounts to, decided from the execution's state (pure: the rules in one place).

The state machine hands `finalize` the whole run (`$`): the input plus `join`, `training`, `evaluation` and
`deployment` results (`steps.RunState`). From those this module decides the outcome, the registry transitions, the
watermark and the lineage head (`learner_model_id`: the candidate this run trained, whatever the gate or the rollout
said; `lineage.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline_common.steps import DeploymentStatus, JobStatus, JoinState, ModelState, Outcome, RunState


@dataclass(frozen=True)
class RunResolution:
    """A finished run's outcome and the registry writes it implies (not a served `Decision`)."""

    outcome: Outcome
    model_id: str | None = None
    model_state: ModelState | None = None
    new_serving_model_id: str | None = None
    retire_model_id: str | None = None
    watermark: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    learner_model_id: str | None = None
    challenger_model_id: str | None = None
    """The rejected candidate now mixed into the serving model on the endpoint ("" once a deployment replaced it)."""


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


def _run_metrics(run: RunState) -> dict[str, float]:
    counts = run.join.counts if run.join else None
    values: dict[str, float | int | None] = {
        "RowsJoined": counts.rows if counts else None,
        **{name: getattr(counts, key) if counts else None for name, key in QUARANTINE_METRICS.items()},
        "CandidateValue": run.evaluation.verdict.candidate.value if run.evaluation and run.evaluation.verdict else None,
        "ServingValue": run.evaluation.verdict.serving.interval.value
        if run.evaluation and run.evaluation.verdict
        else None,
    }
    return {name: float(value) for name, value in values.items() if value is not None}


def trained_model(run: RunState) -> str | None:
    """The candidate this run trained to completion (the new lineage head), if it trained one."""
    if run.training is None or run.training.status is not JobStatus.COMPLETED:
        return None
    return run.training.model_id


def decide(run: RunState) -> RunResolution:
    """The outcome of a run that reached `Finalize` (every path but a failure)."""
    learner = trained_model(run)
    window_end = run.join.window.to_dict()["end"] if run.join else None
    deployment = run.deployment
    base = _run_metrics(run)
    deployed = deployment is not None and deployment.status is DeploymentStatus.DEPLOYED
    if run.input.rollback_to:
        model_id = run.input.rollback_to
        if deployment is not None and deployed:
            return RunResolution(
                Outcome.ROLLBACK_DEPLOYED,
                model_id,
                ModelState.SERVING,
                new_serving_model_id=model_id,
                retire_model_id=deployment.previous_model_id,
                metrics={**base, "Promotions": 0, "Rollbacks": 1},
                challenger_model_id="",
            )
        return RunResolution(Outcome.ROLLBACK_REVERTED, model_id, None, metrics={**base, "Rollbacks": 1})
    if deployment is not None:
        if deployed and deployment.challenger_share is not None:  # rejected, and serving a share beside the model
            return RunResolution(
                Outcome.REJECTED,
                deployment.model_id,
                ModelState.REJECTED,
                watermark=window_end,
                metrics={**base, "Promotions": 0, "Rollbacks": 0},
                learner_model_id=learner,
                challenger_model_id=deployment.model_id,
            )
        if deployed:
            return RunResolution(
                Outcome.BOOTSTRAPPED if run.input.bootstrap else Outcome.PROMOTED,
                deployment.model_id,
                ModelState.SERVING,
                new_serving_model_id=deployment.model_id,
                retire_model_id=deployment.previous_model_id,
                watermark=window_end,
                metrics={**base, "Promotions": 1, "Rollbacks": 0},
                learner_model_id=learner,
                challenger_model_id="",
            )
        # The alarms judged the rollout (5XX, latency), not what the candidate learned: it stays the lineage head.
        rolled_back = {**base, "Promotions": 0, "Rollbacks": 1}
        return RunResolution(
            Outcome.ROLLED_BACK,
            deployment.model_id,
            ModelState.ROLLED_BACK,
            watermark=window_end,
            metrics=rolled_back,
            learner_model_id=learner,
        )
    verdict = run.evaluation.verdict if run.evaluation else None
    if verdict is not None and not verdict.promote:
        return RunResolution(
            Outcome.REJECTED,
            run.training.model_id if run.training else None,
            ModelState.REJECTED,
            watermark=window_end,
            metrics={**base, "Promotions": 0},
            learner_model_id=learner,
        )
    return RunResolution(Outcome.SKIPPED, watermark=window_end, metrics=base)


def failed_step(run: RunState) -> str:
    """The step the run was in when it failed: the first step on its path that has not finished.

    The path depends on the run: a rollback only deploys; a bootstrap skips evaluation (and training without data).
    """
    if run.input.rollback_to:
        return "deployment"
    if run.join is None or run.join.state is not JoinState.SUCCEEDED:
        return "join"
    bootstrap = run.input.bootstrap
    if not run.join.enough_rows:
        return "deployment" if bootstrap else "finalize"
    if run.training is None or run.training.status is not JobStatus.COMPLETED:
        return "training"
    if not bootstrap:
        if run.evaluation is None or run.evaluation.status is not JobStatus.COMPLETED:
            return "evaluation"
        promoted = run.evaluation.verdict is not None and run.evaluation.verdict.promote
        if not promoted and not run.evaluation.challenger:
            return "finalize"
    finished = (DeploymentStatus.DEPLOYED, DeploymentStatus.ROLLED_BACK)
    if run.deployment is None or run.deployment.status not in finished:
        return "deployment"
    return "finalize"
