"""Drift for any scenario: from one round on, each candidate earns what its neighbour used to earn.

Rotating the expected rewards among the offered candidates keeps the oracle and uniform values unchanged but moves
the best action in every context, so a policy that stops learning loses exactly what it had learnt.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from simulator.scenarios.base import Interaction, Scenario


def rotate(interaction: Interaction) -> Interaction:
    """The interaction with expected rewards shifted by one candidate (the last takes the first's)."""
    ids = interaction.action_ids
    shifted = {ids[i]: interaction.expected[ids[(i + 1) % len(ids)]] for i in range(len(ids))}
    return replace(interaction, expected=shifted)


class DriftingScenario:
    """`scenario` unchanged before round `at`, rotated from `at` on."""

    def __init__(self, scenario: Scenario, at: int) -> None:
        self.inner = scenario
        self.at = at
        self.name = scenario.name

    def interactions(self, count: int) -> Iterator[Interaction]:
        for interaction in self.inner.interactions(count):
            yield rotate(interaction) if interaction.index >= self.at else interaction
