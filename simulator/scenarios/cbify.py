"""Classification as a bandit ("cbify"): the context is a row's features, the actions are the class ids, and the
reward is 1 for the right class and 0 otherwise (the workshop's Statlog Shuttle setup).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from simulator.datasets import ClassificationData
from simulator.scenarios.base import Candidate, Interaction

CONTEXT_FORMATS = ("context", "observation")


def _number(value: float) -> float | int:
    """Integers stay integers in the JSON body (shuttle's features are integers)."""
    return int(value) if value.is_integer() else value


class CbifyScenario:
    """Rows drawn in a seeded random order (reshuffled each pass); `context` sends {"x0": ...}, `observation` a list."""

    name = "cbify"

    def __init__(self, data: ClassificationData, seed: int = 0, context_format: str = "context") -> None:
        if context_format not in CONTEXT_FORMATS:
            raise ValueError(f"context_format must be one of {CONTEXT_FORMATS}")
        self.data = data
        self.seed = seed
        self.context_format = context_format
        self.candidates = tuple(Candidate(c) for c in data.classes)

    def interactions(self, count: int) -> Iterator[Interaction]:
        rng = np.random.default_rng(self.seed)
        order: list[int] = []
        for index in range(count):
            if not order:
                order = rng.permutation(len(self.data)).tolist()[::-1]
            row = order.pop()
            features = tuple(_number(v) for v in self.data.features[row])
            label = self.data.labels[row]
            expected = {c.id: 1.0 if c.id == label else 0.0 for c in self.candidates}
            context = {f"x{i}": v for i, v in enumerate(features)}
            observation = features if self.context_format == "observation" else None
            yield Interaction(index, context, self.candidates, expected, float(rng.random()), observation)
