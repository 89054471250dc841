"""Who becomes a challenger, what its deployment's environment is, and what a run that deployed one amounts to."""

from __future__ import annotations

from typing import Any

import pytest
from deploy import challenger_environment
from pipeline_common.errors import NotDeployable
from pipeline_common.gate import summarize, wants_challenger
from pipeline_common.outcome import decide, failed_step
from pipeline_common.payloads import Fields
from pipeline_common.reconcile_rules import Fix, Registry, reconcile
from pipeline_common.steps import ModelState, Outcome, RunState
from pipeline_helpers import deployment_payload, evaluation_payload, join_payload, training_payload

RUN = "bandit-demo-20261123T020000"


def _evaluation(promote: bool, normal: tuple[float, float], sequence: tuple[float, float] | None) -> dict[str, Any]:
    """The parts of `evaluation.json` the rule reads: the verdict's (normal) difference and the gate's sequence."""
    evaluation: dict[str, Any] = {
        "promote": promote,
        "estimator": "dr",
        "margin": 0.01,
        "difference": {"dr": {"value": sum(normal) / 2, "ci_low": normal[0], "ci_high": normal[1]}},
    }
    if sequence is not None:
        evaluation["gate"] = {"estimators": {"dr": {"value": 0.0, "ci_low": sequence[0], "ci_high": sequence[1]}}}
    return evaluation


@pytest.mark.parametrize(
    ("evaluation", "share", "wanted"),
    [
        # rejected, may well be better: explore it
        (_evaluation(False, (-0.2, 0.3), (-0.5, 0.6)), 0.2, True),
        # the normal interval is sure it is worse, the valid sequence is not (80 rows, truly +0.13): explore it
        (_evaluation(False, (-0.27, -0.014), (-0.6, 0.4)), 0.2, True),
        # the sequence itself rules it out: confidently worse
        (_evaluation(False, (-0.3, -0.2), (-0.35, -0.02)), 0.2, False),
        # without the sequence, the normal upper end decides
        (_evaluation(False, (-0.3, -0.02), None), 0.2, False),
        (_evaluation(False, (-0.3, -0.005), None), 0.2, True),
        # a promoted candidate serves alone; a share of 0 turns challengers off
        (_evaluation(True, (0.02, 0.1), (0.0, 0.2)), 0.2, False),
        (_evaluation(False, (-0.2, 0.3), (-0.5, 0.6)), 0.0, False),
    ],
)
def test_a_rejected_candidate_is_a_challenger_unless_confidently_worse(
    evaluation: dict[str, Any], share: float, wanted: bool
) -> None:
    assert wants_challenger(evaluation, summarize(evaluation), share) is wanted


CHALLENGED = {
    "run_id": RUN,
    "join": join_payload(RUN),
    "training": training_payload(RUN),
    "evaluation": evaluation_payload(RUN, promote=False, challenger=True),
}


def test_the_challengers_model_keeps_the_serving_models_id_and_names_the_share() -> None:
    run = RunState.from_fields(Fields(CHALLENGED))
    artifact = run.training.artifact_uri if run.training else None
    assert challenger_environment(run, RUN, artifact, 0.2) == {
        "MODEL_ID": "m-serving",
        "CHALLENGER_SHARE": "0.2",
        "CHALLENGER_MODEL_ID": RUN,
    }
    with pytest.raises(NotDeployable, match="needs its artifact"):
        challenger_environment(run, RUN, None, 0.2)
    promoted = RunState.from_fields(Fields({**CHALLENGED, "evaluation": evaluation_payload(RUN, promote=True)}))
    assert challenger_environment(promoted, RUN, artifact, 0.2) == {}


def test_a_deployed_challenger_is_a_rejection_that_leaves_the_serving_model_serving() -> None:
    deployed = deployment_payload(RUN, previous_model_id="m-serving", challenger_share=0.2)
    resolution = decide(RunState.from_fields(Fields({**CHALLENGED, "deployment": deployed})))
    assert resolution.outcome is Outcome.REJECTED and resolution.model_state is ModelState.REJECTED
    assert resolution.new_serving_model_id is None and resolution.retire_model_id is None
    assert resolution.challenger_model_id == RUN and resolution.learner_model_id == RUN
    assert resolution.metrics["Promotions"] == 0 and resolution.metrics["Rollbacks"] == 0
    rolled_back = deployment_payload(RUN, status="rolled_back", challenger_share=0.2)
    resolution = decide(RunState.from_fields(Fields({**CHALLENGED, "deployment": rolled_back})))
    assert resolution.outcome is Outcome.ROLLED_BACK and resolution.challenger_model_id is None
    # a promotion replaces whatever challenger was mixed in
    promoted = {**CHALLENGED, "evaluation": evaluation_payload(RUN), "deployment": deployment_payload(RUN)}
    assert decide(RunState.from_fields(Fields(promoted))).challenger_model_id == ""


def test_a_challenger_rollout_that_fails_failed_in_deployment() -> None:
    unfinished = {**CHALLENGED, "deployment": deployment_payload(RUN, status="in_progress", challenger_share=0.2)}
    assert failed_step(RunState.from_fields(Fields(unfinished))) == "deployment"
    assert failed_step(RunState.from_fields(Fields(CHALLENGED))) == "deployment"
    plain = {**CHALLENGED, "evaluation": evaluation_payload(RUN, promote=False)}
    assert failed_step(RunState.from_fields(Fields(plain))) == "finalize"


def test_a_run_that_ended_with_its_challenger_on_the_endpoint_is_reconciled_as_rejected() -> None:
    registry = Registry("m-serving", RUN, ModelState.CANDIDATE, rollout_started=True)
    fix = reconcile(registry, "InService", "m-serving", RUN)
    assert fix == Fix("m-serving", {RUN: ModelState.REJECTED}, challenger_model_id=RUN)
    # the endpoint stayed on the serving model alone: the rollout did not keep the challenger
    assert reconcile(registry, "InService", "m-serving", None) == Fix("m-serving", {RUN: ModelState.ROLLED_BACK})
