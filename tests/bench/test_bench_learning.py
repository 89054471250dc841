"""The learning benchmark's pure pieces: where the protocol pauses, block means, recovery, the new action's share,
the online reference and what a run's output says."""

from __future__ import annotations

import numpy as np
import pytest

from bench.learning import (
    EXPLORATION_ENV,
    SCENARIOS,
    SCENARIOS_ENV,
    OnlineReference,
    block_means,
    decision_truth,
    gate_truth,
    loop_settings,
    new_action_share,
    pooled_gate_truth,
    recovery,
    rolling,
    run_summary,
    scenario_names,
    segments,
    settings,
    true_value,
    warm_rows,
)
from simulator.scenarios import Candidate, Interaction, SyntheticScenario, take
from simulator.warmstart import logged_data


def test_runs_come_each_time_the_reward_count_reaches_the_threshold_warm_start_included() -> None:
    stops = segments(6000, 500, 100)
    assert stops[:3] == [400, 900, 1400]
    assert stops[-2:] == [5900, 6000]
    assert len(stops) - 1 == 12  # twelve retraining runs, then the last 100 interactions
    assert segments(1000, 500, 0) == [500, 1000]


def test_block_means_and_the_trailing_rolling_mean() -> None:
    assert block_means([1.0] * 500 + [0.0] * 500 + [1.0] * 10) == [1.0, 0.0, 1.0]
    assert np.allclose(rolling([1.0, 0.0, 1.0, 1.0], 2), [1.0, 0.5, 0.5, 1.0])


def test_recovery_counts_interactions_until_the_trailing_mean_is_back_to_90_percent() -> None:
    # Level 0.8 before; after the change 0.2 for 300 rows, then 0.8. With k rows of 0.2 in the trailing 250 the
    # mean is 0.8 - 0.6 k / 250 >= 0.72 <=> k <= 33, first at row 300 + (250 - 33) = 517 after the change.
    expected = [0.8] * 1000 + [0.2] * 300 + [0.8] * 1000
    found = recovery(expected, 1000)
    assert found["pre_change_level"] == pytest.approx(0.8) and found["target"] == pytest.approx(0.72)
    assert found["interactions"] == 517
    assert recovery([0.8] * 1000 + [0.2] * 600, 1000)["interactions"] is None


def _interaction(index: int, ids: tuple[str, ...], best: str) -> Interaction:
    expected = {a: 0.9 if a == best else 0.1 for a in ids}
    return Interaction(index, {"x": 1.0}, tuple(Candidate(a) for a in ids), expected, 0.5)


def test_the_new_actions_share_counts_only_contexts_where_it_is_best() -> None:
    plan = [_interaction(i, ("a", "b"), "a") for i in range(4)]
    plan += [_interaction(i, ("a", "b", "new"), "new" if i % 2 else "a") for i in range(4, 12)]
    actions = ["a"] * 4 + ["new", "new", "a", "new", "b", "a", "new", "new"]
    # From 4 on, blocks of 4: rows 5 and 7 are where "new" is best (picked "new", "new"), then 9 and 11 ("a", "new").
    found = new_action_share(plan, actions, 4, block=4)
    assert found == {"actions": ["new"], "share_per_block": [1.0, 0.5], "contexts_per_block": [2, 2]}


class _Fixed:
    """A policy with one fixed distribution over the candidates, whatever the context."""

    def __init__(self, probabilities: list[float]) -> None:
        self.probabilities = probabilities

    def distribution(self, context, actions) -> list[float]:
        assert [a.id for a in actions] == ["a", "b"]  # the interaction's candidates, in their order
        return self.probabilities


def test_the_true_value_and_gap_come_from_the_expected_rewards_of_each_context() -> None:
    plan = [
        Interaction(0, {"x": 0.0}, (Candidate("a"), Candidate("b")), {"a": 1.0, "b": 0.0}, 0.5),
        Interaction(1, {"x": 1.0}, (Candidate("a"), Candidate("b")), {"a": 0.2, "b": 0.6}, 0.5),
    ]
    # (0.75 * 1 + 0.25 * 0) and (0.75 * 0.2 + 0.25 * 0.6): mean (0.75 + 0.3) / 2; uniform: (0.5 + 0.4) / 2.
    assert true_value(_Fixed([0.75, 0.25]), plan) == pytest.approx(0.525)
    truth = decision_truth(_Fixed([0.75, 0.25]), _Fixed([0.5, 0.5]), plan)
    assert truth == pytest.approx({"candidate": 0.525, "serving": 0.45, "gap": 0.075})
    # On the pool (here the first interaction only): 0.75 against 0.5.
    assert decision_truth(_Fixed([0.75, 0.25]), _Fixed([0.5, 0.5]), plan, plan[:1])["past_gap"] == pytest.approx(0.25)


def test_gate_truth_classifies_each_decision_by_its_true_gap_against_the_margin() -> None:
    runs = [
        {"outcome": "promoted", "truth": {"gap": -0.05}},  # truly worse, promoted: a false promotion
        {"outcome": "rejected", "truth": {"gap": -0.02}},
        {"outcome": "rejected", "truth": {"gap": -0.01}},  # within the margin: neither
        {"outcome": "promoted", "truth": {"gap": 0.03}},
        {"outcome": "rejected", "truth": {"gap": 0.2}},
        {"outcome": "rejected", "truth": {"gap": 0.04}},
        {"outcome": "skipped"},
        {"outcome": "rejected", "truth_error": "RuntimeError: no artifact"},
    ]
    found = gate_truth(runs, 0.01)
    assert found == {
        "margin": 0.01,
        "judged": 6,
        "truly_worse": 2,
        "truly_worse_promoted": 0.5,
        "truly_better": 3,
        "truly_better_promoted": pytest.approx(1 / 3),
        "within_margin": 1,
    }
    none = gate_truth([], 0.01)
    assert none["truly_worse_promoted"] is None and none["truly_better_promoted"] is None
    pooled = pooled_gate_truth({"one": {"gate_truth": found}, "two": {"gate_truth": gate_truth(runs[:1], 0.01)}})
    assert pooled["truly_worse"] == 3 and pooled["worse_promoted"] == 2
    assert pooled["truly_worse_promoted"] == pytest.approx(2 / 3)
    assert pooled["truly_better"] == 3 and pooled["truly_better_promoted"] == pytest.approx(1 / 3)


def test_the_online_reference_learns_the_demo_scenario_above_uniform() -> None:
    scenario = SyntheticScenario(3)
    reference = OnlineReference(warm_rows(logged_data(SyntheticScenario(4), 100, seed=1)), seed=5)
    rewards = [reference.play(i)[1] for i in take(scenario.interactions(3000), 3000)]
    reference.close()
    # Uniform random earns about 0.45 here, the best constant 0.53 (simulator/scenarios/synthetic.py).
    assert np.mean(rewards[-1000:]) > 0.65


def test_a_runs_output_gives_the_verdict_the_pooled_holdout_and_the_drift_check() -> None:
    output = {
        "evaluation": {
            "promote": False,
            "rows": 300,
            "holdout_since": "2026-11-23T00:00:00.000Z",
            "drift": {"detected": True, "reason": "fell below"},
        },
        "training": {"adapting_to_drift": True},
    }
    summary = run_summary(output)
    assert summary["promote"] is False and summary["rows"] == 300 and summary["drift_detected"] is True
    assert summary["drift_reason"] == "fell below" and summary["adapting_to_drift"] is True
    assert run_summary({})["drift_detected"] is False


def test_the_scenarios_come_from_the_arguments_else_the_environment_else_all(monkeypatch) -> None:
    monkeypatch.delenv(SCENARIOS_ENV, raising=False)
    assert scenario_names() == SCENARIOS
    monkeypatch.setenv(SCENARIOS_ENV, "catalog, new_action")
    assert scenario_names() == ("catalog", "new_action")
    assert scenario_names(["digits"]) == ("digits",)
    monkeypatch.setenv(SCENARIOS_ENV, "catalog,nope")
    with pytest.raises(ValueError, match="nope"):
        scenario_names()


def test_an_exploration_override_reaches_both_the_loop_and_the_online_reference(monkeypatch) -> None:
    monkeypatch.delenv(EXPLORATION_ENV, raising=False)
    assert "exploration" not in loop_settings()  # cdk.json's own, as the loop reads it
    default = settings().exploration
    monkeypatch.setenv(EXPLORATION_ENV, '{"gamma_scale": 7, "floor": 0.01}')
    assert loop_settings()["exploration"]["gamma_scale"] == 7
    assert loop_settings()["exploration"]["algorithm"] == default.algorithm
    reference = OnlineReference(warm_rows(logged_data(SyntheticScenario(4), 20, seed=1)), seed=5)
    reference.close()
    assert reference.config.gamma_scale == 7 and reference.config.exploration_floor == 0.01
    monkeypatch.setenv(EXPLORATION_ENV, '{"floor": 0.9}')
    with pytest.raises(ValueError, match=r"exploration\.floor"):
        settings()
