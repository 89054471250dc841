"""The learning benchmark's scenarios: a non-linear reward with action features, and string contexts with 24 actions."""

from __future__ import annotations

import math

import pytest

from simulator.scenarios import baselines, build_scenario, take
from simulator.scenarios.catalog import ARTICLES, CatalogScenario
from simulator.scenarios.nonlinear import FLOOR, PEAK, bump, ring_actions


def test_the_nonlinear_reward_is_a_bump_around_each_actions_point() -> None:
    spot = ring_actions()[0]  # angle 0: (0.85, 0.5)
    assert dict(spot.features) == {"u": 0.85, "v": 0.5}
    assert bump(0.85, 0.5, spot) == pytest.approx(FLOOR + PEAK)
    assert bump(0.5, 0.5, spot) == pytest.approx(FLOOR + PEAK * math.exp(-(0.35**2) / 0.12))
    plan = take(build_scenario("nonlinear", seed=3).interactions(2000), 2000)
    assert all(c.features for c in plan[0].candidates) and len(plan[0].candidates) == 8
    refs = baselines(plan)
    assert refs.oracle > refs.best_constant + 0.4  # no constant action is good: the best one depends on (x, y)


def test_catalog_contexts_are_strings_and_the_best_article_is_the_topics() -> None:
    scenario = CatalogScenario(seed=4)
    plan = take(scenario.interactions(3000), 3000)
    assert len(plan[0].candidates) == len(ARTICLES) == 24
    assert all(isinstance(v, str) for i in plan for v in i.context.values())
    for interaction in plan[:50]:
        assert interaction.best_action == scenario.by_topic[str(interaction.context["topic"])]
    refs = baselines(plan)
    assert refs.best_constant < 0.3 < refs.oracle - 0.3
    assert take(CatalogScenario(seed=4).interactions(5), 5) == plan[:5]  # deterministic per seed
