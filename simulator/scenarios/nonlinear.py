"""A non-linear reward with action features: each action is a point in the plane, the visitor another.

The expected reward falls off with the distance between the visitor's position and the action's (a Gaussian bump,
so no linear model of the raw features ranks the actions right); the actions are offered with their coordinates as
action features. Eight actions on a ring around the centre, contexts uniform in the unit square.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from simulator.scenarios.base import Candidate, Interaction

RING = 8
FLOOR = 0.1
PEAK = 0.85
WIDTH = 0.12  # squared distance scale of the bump


def ring_actions() -> tuple[Candidate, ...]:
    """Eight actions on a circle of radius 0.35 around (0.5, 0.5), their coordinates as action features."""
    points = []
    for k in range(RING):
        angle = 2 * math.pi * k / RING
        u, v = round(0.5 + 0.35 * math.cos(angle), 3), round(0.5 + 0.35 * math.sin(angle), 3)
        points.append(Candidate(f"spot-{k}", {"u": u, "v": v}))
    return tuple(points)


def bump(x: float, y: float, action: Candidate) -> float:
    """Ground truth: `FLOOR + PEAK * exp(-distance^2 / WIDTH)` between the visitor and the action."""
    u, v = float(action.features["u"]), float(action.features["v"])
    return FLOOR + PEAK * math.exp(-((x - u) ** 2 + (y - v) ** 2) / WIDTH)


class NonlinearScenario:
    """Contexts `x`, `y` uniform in [0, 1]; eight actions with features `u`, `v`; Bernoulli rewards."""

    name = "nonlinear"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.candidates = ring_actions()

    def interactions(self, count: int) -> Iterator[Interaction]:
        rng = np.random.default_rng(self.seed)
        for index in range(count):
            x, y = round(float(rng.random()), 3), round(float(rng.random()), 3)
            noise = float(rng.random())
            expected = {c.id: bump(x, y, c) for c in self.candidates}
            yield Interaction(index, {"x": x, "y": y}, self.candidates, expected, noise)
