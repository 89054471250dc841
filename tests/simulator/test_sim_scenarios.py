"""Scenarios: deterministic with a seed, correct ground truth, baselines by enumeration, drift and dynamic actions."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_policies import OnlineLearner

from simulator.datasets import load_classification
from simulator.errors import DatasetError, ScenarioError
from simulator.scenarios import (
    CbifyScenario,
    DriftingScenario,
    ReviewsScenario,
    SyntheticScenario,
    baselines,
    build_scenario,
    take,
)
from simulator.scenarios.reviews import SPECIALIST


def _signature(scenario, n: int = 300) -> list[tuple]:
    return [(tuple(sorted(i.context.items())), tuple(i.action_ids), i.noise) for i in take(scenario.interactions(n), n)]


@pytest.mark.parametrize("name", ["synthetic", "reviews"])
def test_same_seed_same_interactions_other_seed_others(name: str) -> None:
    assert _signature(build_scenario(name, seed=5)) == _signature(build_scenario(name, seed=5))
    assert _signature(build_scenario(name, seed=5)) != _signature(build_scenario(name, seed=6))


def test_cbify_is_deterministic(classification_files: dict[str, Path]) -> None:
    a = build_scenario("cbify", seed=1, data=classification_files["comma"])
    b = build_scenario("cbify", seed=1, data=classification_files["comma"])
    assert _signature(a, 150) == _signature(b, 150)


def test_synthetic_baselines_leave_room_to_learn() -> None:
    base = baselines(take(SyntheticScenario(seed=0).interactions(20_000), 20_000))
    assert base.oracle == pytest.approx(0.9)
    assert 0.45 < base.best_constant < 0.6
    assert base.best_constant_action == "grid"
    assert base.uniform < base.best_constant
    assert set(base.constant) == {"grid", "list", "carousel", "hero"}


def test_synthetic_policy_learns_well_above_best_constant() -> None:
    """The scenario must be learnable by a VW contextual bandit quickly (the demo's promise)."""
    scenario = SyntheticScenario(seed=2)
    learner = OnlineLearner(seed=2)
    rewards = [learner.play(i) for i in scenario.interactions(4000)]
    late = sum(rewards[-1000:]) / 1000
    base = baselines(take(scenario.interactions(4000), 4000))
    assert late > base.best_constant + 0.2, (late, base)


def test_rewards_follow_common_random_numbers() -> None:
    interaction = next(iter(SyntheticScenario(seed=0).interactions(1)))
    for action, p in interaction.expected.items():
        assert interaction.reward(action) == (1.0 if interaction.noise < p else 0.0)
    assert interaction.reward("not-offered") == 0.0


@pytest.mark.parametrize("kind", ["comma", "space"])
def test_cbify_reads_comma_and_space_files(classification_files: dict[str, Path], kind: str) -> None:
    data = load_classification(classification_files[kind])
    assert len(data) == 60
    assert data.classes == ["1", "2", "3"]
    scenario = CbifyScenario(data, seed=0)
    plan = take(scenario.interactions(120), 120)
    for interaction in plan:
        label = str(int(interaction.context["x0"]) + 1)
        assert interaction.action_ids == ["1", "2", "3"]
        assert interaction.reward(label) == 1.0
        assert sum(interaction.reward(a) for a in interaction.action_ids) == 1.0
        assert interaction.request()["context"] == dict(interaction.context)
    # two full passes: every row exactly twice
    assert sorted(i.context["x2"] for i in plan) == sorted([0.5 * i for i in range(60)] * 2)
    base = baselines(plan)
    assert (base.oracle, base.uniform) == (1.0, pytest.approx(1 / 3))
    assert base.best_constant == pytest.approx(1 / 3)


def test_cbify_same_result_for_both_separators(classification_files: dict[str, Path]) -> None:
    comma = _signature(CbifyScenario(load_classification(classification_files["comma"]), seed=4), 90)
    space = _signature(CbifyScenario(load_classification(classification_files["space"]), seed=4), 90)
    assert comma == space


def test_cbify_observation_format(classification_files: dict[str, Path]) -> None:
    data = load_classification(classification_files["comma"])
    interaction = next(iter(CbifyScenario(data, seed=0, context_format="observation").interactions(1)))
    request = interaction.request()
    assert "context" not in request
    assert request["observation"] == [interaction.context[f"x{i}"] for i in range(3)]
    assert isinstance(request["observation"][0], int)


def test_cbify_best_constant_is_majority_class(tmp_path: Path) -> None:
    path = tmp_path / "skewed.csv"
    path.write_text("".join(f"{i},{1 if i % 4 else 2}\n" for i in range(100)))
    base = baselines(take(CbifyScenario(load_classification(path), seed=0).interactions(100), 100))
    assert (base.best_constant_action, base.best_constant) == ("1", pytest.approx(0.75))


def test_bad_classification_files_are_named(tmp_path: Path) -> None:
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("1,2,3\n1,2\n")
    with pytest.raises(DatasetError, match=r"ragged\.csv:2"):
        load_classification(ragged)
    with pytest.raises(DatasetError, match="cannot read"):
        load_classification(tmp_path / "missing.csv")
    with pytest.raises(ScenarioError, match="--data"):
        build_scenario("cbify")
    with pytest.raises(ScenarioError, match="unknown scenario"):
        build_scenario("nope")


def test_reviews_adds_the_specialist_mid_run() -> None:
    plan = take(ReviewsScenario(seed=1, add_at=300).interactions(600), 600)
    assert all(SPECIALIST.id not in i.action_ids for i in plan[:300])
    assert all(i.action_ids[-1] == SPECIALIST.id and len(i.action_ids) == 3 for i in plan[300:])
    action = plan[300].request()["actions"][-1]
    assert action == {"id": SPECIALIST.id, "features": {"model_size": 110, "domain": "electronics"}}
    oracle_before = sum(i.oracle_value for i in plan[:300]) / 300
    oracle_after = sum(i.oracle_value for i in plan[300:]) / 300
    assert oracle_after > oracle_before + 0.02
    base = baselines(plan)
    assert SPECIALIST.id not in base.constant  # not available all run long, so never a constant policy


def test_reviews_accuracy_depends_on_length_and_category() -> None:
    plan = take(ReviewsScenario(seed=0, add_at=0).interactions(2000), 2000)
    short = [i for i in plan if i.context["words"] < 60]
    long = [i for i in plan if i.context["words"] >= 60]
    assert short and long
    assert {i.best_action for i in short if i.context["category"] != "electronics"} == {"distilbert-general"}
    assert {i.best_action for i in long if i.context["category"] != "electronics"} == {"roberta-large-general"}
    assert {i.best_action for i in plan if i.context["category"] == "electronics"} == {SPECIALIST.id}


def test_reviews_default_adds_half_way() -> None:
    plan = take(ReviewsScenario(seed=0).interactions(100), 100)
    assert [len(i.action_ids) for i in (plan[49], plan[50])] == [2, 3]


def test_drift_moves_the_best_action_but_keeps_oracle_and_uniform() -> None:
    inner = SyntheticScenario(seed=3)
    drifting = DriftingScenario(inner, at=500)
    plain = take(inner.interactions(1000), 1000)
    drifted = take(drifting.interactions(1000), 1000)
    assert plain[:500] == drifted[:500]
    for a, b in zip(plain[500:], drifted[500:], strict=True):
        assert b.best_action != a.best_action
        assert b.oracle_value == a.oracle_value
        assert b.uniform_value == pytest.approx(a.uniform_value)
    before = baselines(drifted[:500]).best_constant_action
    after = baselines(drifted[500:]).best_constant_action
    assert before != after
