"""What every scenario produces: interactions with their ground truth, and the baselines computed from it.

Each interaction carries the expected reward of every candidate and one uniform draw (`noise`) that is shared by
all candidates (common random numbers): the Bernoulli reward is `noise < expected[action]`, so a run is fully
determined by the seed and the actions the endpoint picks, and deterministic scenarios (cbify) are a special case.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

FeatureValue = float | int | str | bool


@dataclass(frozen=True)
class Candidate:
    """One action offered to the endpoint: its id and optional action features (contracts: `{"id", "features"}`)."""

    id: str
    features: Mapping[str, FeatureValue] = field(default_factory=dict)

    def to_request(self) -> str | dict[str, Any]:
        """The request's form: a bare id when featureless, else the object form."""
        if not self.features:
            return self.id
        return {"id": self.id, "features": dict(self.features)}


@dataclass(frozen=True)
class Interaction:
    """One round: the context the application sees, its candidates, and the ground truth behind the reward."""

    index: int
    context: Mapping[str, FeatureValue]
    candidates: tuple[Candidate, ...]
    expected: Mapping[str, float]
    noise: float
    observation: tuple[float, ...] | None = None

    def request(self, event_id: str | None = None) -> dict[str, Any]:
        """The `POST /invocations` body for this round (the workshop's `observation` form when the scenario uses it)."""
        body: dict[str, Any] = (
            {"observation": list(self.observation)} if self.observation is not None else {"context": dict(self.context)}
        )
        body["actions"] = [c.to_request() for c in self.candidates]
        if event_id is not None:
            body["event_id"] = event_id
        return body

    @property
    def action_ids(self) -> list[str]:
        return [c.id for c in self.candidates]

    def reward(self, action_id: str) -> float:
        """The realised reward of `action_id` (0 for an id that was not offered)."""
        return 1.0 if self.noise < self.expected.get(action_id, 0.0) else 0.0

    @property
    def oracle_value(self) -> float:
        return max(self.expected[c.id] for c in self.candidates)

    @property
    def best_action(self) -> str:
        return max(self.candidates, key=lambda c: self.expected[c.id]).id

    @property
    def uniform_value(self) -> float:
        return sum(self.expected[c.id] for c in self.candidates) / len(self.candidates)


class Scenario(Protocol):
    """A deterministic environment: the same seed gives the same interactions."""

    name: str

    def interactions(self, count: int) -> Iterator[Interaction]:
        """The first `count` rounds."""
        ...


@dataclass(frozen=True)
class Baselines:
    """Expected mean rewards of reference policies over one run's interactions (exact, from the ground truth)."""

    oracle: float
    best_constant: float
    best_constant_action: str | None
    uniform: float
    constant: Mapping[str, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "oracle": self.oracle,
            "best_constant": self.best_constant,
            "best_constant_action": self.best_constant_action,
            "uniform": self.uniform,
            "constant": dict(self.constant),
        }


def baselines(interactions: Sequence[Interaction]) -> Baselines:
    """Oracle, uniform random and best constant action, by enumeration over the run.

    A constant policy must be able to play its action every round, so only actions offered in every interaction
    are constant candidates (the reviews scenario's late model is not).
    """
    if not interactions:
        return Baselines(0.0, 0.0, None, 0.0, {})
    n = len(interactions)
    oracle = sum(i.oracle_value for i in interactions) / n
    uniform = sum(i.uniform_value for i in interactions) / n
    always = set(interactions[0].action_ids)
    for interaction in interactions:
        always &= set(interaction.action_ids)
    constant = {a: sum(i.expected[a] for i in interactions) / n for a in sorted(always)}
    best = max(constant, key=lambda a: constant[a]) if constant else None
    return Baselines(oracle, constant[best] if best else 0.0, best, uniform, constant)


def take(interactions: Iterable[Interaction], count: int) -> list[Interaction]:
    """The first `count` interactions as a list (scenarios are generators)."""
    out: list[Interaction] = []
    for interaction in interactions:
        if len(out) >= count:
            break
        out.append(interaction)
    return out
