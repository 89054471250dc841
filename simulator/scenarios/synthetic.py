"""The built-in scenario (the demo's default, no file needed): a page layout per visitor.

Which layout converts best depends on the visitor's segment and age, so a learnt policy reaches ~0.9 while the
best constant layout stays near 0.53 and uniform random near 0.45 (Bernoulli rewards).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from simulator.scenarios.base import Candidate, FeatureValue, Interaction

ACTIONS: tuple[str, ...] = ("grid", "list", "carousel", "hero")
SEGMENTS: tuple[str, ...] = ("new", "returning", "loyal")
OLD_AGE = 40.0
BEST_RATE = 0.9
# Conversion rate of each layout where it is not the best one: the asymmetry makes "grid" the best constant.
BASE_RATE: dict[str, float] = {"grid": 0.35, "list": 0.30, "carousel": 0.30, "hero": 0.25}
# (segment, is_old) -> the layout that converts at BEST_RATE.
BEST_LAYOUT: dict[tuple[str, bool], str] = {
    ("new", False): "grid",
    ("new", True): "list",
    ("returning", False): "carousel",
    ("returning", True): "carousel",
    ("loyal", False): "hero",
    ("loyal", True): "grid",
}


def conversion_rates(segment: str, age: float) -> dict[str, float]:
    """Ground truth: expected reward of each layout for one visitor (mobile and hour are noise features)."""
    best = BEST_LAYOUT[(segment, age >= OLD_AGE)]
    return {a: BEST_RATE if a == best else BASE_RATE[a] for a in ACTIONS}


class SyntheticScenario:
    """Visitors with `segment`, `age`, `mobile`, `hour`; four layouts; a context-dependent best layout."""

    name = "synthetic"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def interactions(self, count: int) -> Iterator[Interaction]:
        rng = np.random.default_rng(self.seed)
        candidates = tuple(Candidate(a) for a in ACTIONS)
        for index in range(count):
            segment = SEGMENTS[int(rng.integers(len(SEGMENTS)))]
            age = round(float(rng.uniform(18.0, 65.0)), 1)
            mobile = bool(rng.random() < 0.6)
            hour = int(rng.integers(24))
            noise = float(rng.random())
            context: dict[str, FeatureValue] = {"segment": segment, "age": age, "mobile": mobile, "hour": hour}
            yield Interaction(index, context, candidates, conversion_rates(segment, age), noise)
