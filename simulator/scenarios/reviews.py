"""The workshop's review scenario: which sentiment classifier should label this product review?

Two general models are offered from the start: a small one that is right on short reviews and a large one that is
right on long reviews. From round `add_at` on a third, electronics-specialist model joins the candidates (dynamic
actions with features `model_size` and `domain`), so the oracle rises and the policy must discover it.
The reward is 1 when the chosen classifier labels the review correctly (Bernoulli with the model's accuracy).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from simulator.scenarios.base import Candidate, FeatureValue, Interaction

CATEGORIES: tuple[str, ...] = ("books", "electronics", "apparel")
LONG_REVIEW_WORDS = 60
SMALL = Candidate("distilbert-general", {"model_size": 66, "domain": "general"})
LARGE = Candidate("roberta-large-general", {"model_size": 355, "domain": "general"})
SPECIALIST = Candidate("bert-electronics", {"model_size": 110, "domain": "electronics"})


def accuracy(model: str, words: int, category: str) -> float:
    """Ground truth: the chance `model` labels a review of `words` words in `category` correctly."""
    long_review = words >= LONG_REVIEW_WORDS
    if model == SMALL.id:
        return 0.62 if long_review else 0.86
    if model == LARGE.id:
        return 0.88 if long_review else 0.72
    if model == SPECIALIST.id:
        return 0.96 if category == "electronics" else 0.55
    raise KeyError(model)


class ReviewsScenario:
    """Reviews with `words`, `category`, `stars`; the specialist model is added at round `add_at`."""

    name = "reviews"

    def __init__(self, seed: int = 0, add_at: int | None = None) -> None:
        self.seed = seed
        self.add_at = add_at

    def interactions(self, count: int) -> Iterator[Interaction]:
        rng = np.random.default_rng(self.seed)
        add_at = count // 2 if self.add_at is None else self.add_at
        early, late = (SMALL, LARGE), (SMALL, LARGE, SPECIALIST)
        for index in range(count):
            words = int(np.clip(rng.lognormal(mean=3.9, sigma=0.8), 3, 1000))
            category = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
            stars = int(rng.integers(1, 6))
            noise = float(rng.random())
            candidates = late if index >= add_at else early
            expected = {c.id: accuracy(c.id, words, category) for c in candidates}
            context: dict[str, FeatureValue] = {"words": words, "category": category, "stars": stars}
            yield Interaction(index, context, candidates, expected, noise)
