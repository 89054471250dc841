"""Scenarios by name: `synthetic`, `nonlinear`, `catalog` (no file), `shuttle`/`cbify` (a classification file)
and `reviews`."""

from __future__ import annotations

from pathlib import Path

from simulator.datasets import load_classification
from simulator.errors import ScenarioError
from simulator.scenarios.base import Baselines, Candidate, Interaction, Scenario, baselines, take
from simulator.scenarios.catalog import CatalogScenario
from simulator.scenarios.cbify import CbifyScenario
from simulator.scenarios.drift import DriftingScenario
from simulator.scenarios.nonlinear import NonlinearScenario
from simulator.scenarios.reviews import ReviewsScenario
from simulator.scenarios.synthetic import SyntheticScenario

SCENARIOS = ("synthetic", "nonlinear", "catalog", "shuttle", "cbify", "reviews")
DEFAULT_SHUTTLE_PATH = Path("../shared/data/shuttle.trn")

__all__ = [
    "SCENARIOS",
    "Baselines",
    "Candidate",
    "CatalogScenario",
    "CbifyScenario",
    "DriftingScenario",
    "Interaction",
    "NonlinearScenario",
    "ReviewsScenario",
    "Scenario",
    "SyntheticScenario",
    "baselines",
    "build_scenario",
    "take",
]


def build_scenario(
    name: str,
    seed: int = 0,
    data: str | Path | None = None,
    drift_at: int | None = None,
    add_action_at: int | None = None,
    context_format: str = "context",
) -> Scenario:
    """The scenario called `name`; `shuttle` defaults to `../shared/data/shuttle.trn`, `cbify` needs `data`."""
    scenario: Scenario
    if name == "synthetic":
        scenario = SyntheticScenario(seed)
    elif name == "nonlinear":
        scenario = NonlinearScenario(seed)
    elif name == "catalog":
        scenario = CatalogScenario(seed)
    elif name in ("shuttle", "cbify"):
        path = data or (DEFAULT_SHUTTLE_PATH if name == "shuttle" else None)
        if path is None:
            raise ScenarioError("the cbify scenario needs --data PATH (numeric features, class last)")
        scenario = CbifyScenario(load_classification(path), seed, context_format)
    elif name == "reviews":
        scenario = ReviewsScenario(seed, add_action_at)
    else:
        raise ScenarioError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    if drift_at is not None:
        scenario = DriftingScenario(scenario, drift_at)
    return scenario
