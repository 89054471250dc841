"""String-valued contexts and many actions: which of 24 articles to show a reader, by country, device and topic.

Every context feature is a string. Each topic has its article and each country its own (a fixed hidden draw): an
article earns `BASE_RATE`, plus `TOPIC_LIFT` where it is the topic's, plus `COUNTRY_LIFT` where it is the
country's; the device shifts every rate a little. The best article is the topic's (or one that is both), so a
policy must learn which of 24 actions goes with 5 topics and 8 countries; the best constant article is right for
only about a fifth of the readers.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from simulator.scenarios.base import Candidate, FeatureValue, Interaction

COUNTRIES = ("de", "fr", "es", "it", "nl", "pl", "se", "pt")
DEVICES = ("phone", "tablet", "desktop")
TOPICS = ("sport", "politics", "science", "culture", "travel")
ARTICLES = tuple(f"article-{k:02d}" for k in range(24))
BASE_RATE = 0.1
TOPIC_LIFT = 0.5
COUNTRY_LIFT = 0.25
DEVICE_SHIFT = {"phone": 0.0, "tablet": 0.03, "desktop": 0.05}
TABLE_SEED = 99


def preferred_articles() -> tuple[dict[str, str], dict[str, str]]:
    """The hidden draw: each topic's article and each country's, with a fixed seed (topics' articles distinct)."""
    rng = np.random.default_rng(TABLE_SEED)
    order = [ARTICLES[int(k)] for k in rng.permutation(len(ARTICLES))]
    topics = dict(zip(TOPICS, order[: len(TOPICS)], strict=True))
    countries = {c: ARTICLES[int(rng.integers(len(ARTICLES)))] for c in COUNTRIES}
    return topics, countries


class CatalogScenario:
    """Readers with `country`, `device`, `topic` (strings); 24 articles without features; Bernoulli rewards."""

    name = "catalog"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.by_topic, self.by_country = preferred_articles()
        self.candidates = tuple(Candidate(a) for a in ARTICLES)

    def expected(self, country: str, device: str, topic: str) -> dict[str, float]:
        """Ground truth of every article for one reader."""
        shift = DEVICE_SHIFT[device]
        topic_article, country_article = self.by_topic[topic], self.by_country[country]
        return {
            a: BASE_RATE + shift + TOPIC_LIFT * (a == topic_article) + COUNTRY_LIFT * (a == country_article)
            for a in ARTICLES
        }

    def interactions(self, count: int) -> Iterator[Interaction]:
        rng = np.random.default_rng(self.seed)
        for index in range(count):
            country = COUNTRIES[int(rng.integers(len(COUNTRIES)))]
            device = DEVICES[int(rng.integers(len(DEVICES)))]
            topic = TOPICS[int(rng.integers(len(TOPICS)))]
            noise = float(rng.random())
            context: dict[str, FeatureValue] = {"country": country, "device": device, "topic": topic}
            yield Interaction(index, context, self.candidates, self.expected(country, device, topic), noise)
