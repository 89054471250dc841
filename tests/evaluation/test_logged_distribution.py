"""The logger's distribution reaches the evaluator aligned with the actions: from the record `serve` writes, through
a joined row, to the holdout's `rows x actions` matrix (the DR and SNIPS intervals read it per action)."""

from __future__ import annotations

import json

import numpy as np

from container.core.featurizer import Action
from container.core.logged_rows import parse_row
from container.core.policy import Decision
from container.core.records import DecisionRecord
from container.evaluation.holdout import build_holdout


def _joined(event_id: str, ids: list[str], probabilities: list[float], chosen: int) -> dict:
    """A decision as `serve` logs it, plus the reward columns the join adds."""
    decision = Decision(chosen, ids[chosen], probabilities[chosen], probabilities)
    record = DecisionRecord(
        event_id, "2026-11-29T21:00:00.000Z", "exp", "m-1", {"x": 1.0}, [Action(i) for i in ids], decision
    )
    row = json.loads(record.to_json_line())
    return {**row, "reward": 1.0, "reward_time": "2026-11-29T21:00:01.000Z"}


def test_each_logged_probability_lands_in_its_actions_column() -> None:
    rows = [
        _joined("e1", ["b", "a", "c"], [0.7, 0.2, 0.1], 0),
        _joined("e2", ["c", "b"], [0.25, 0.75], 1),  # fewer candidates, another order
        _joined("e3", ["a", "d", "b", "c"], [0.1, 0.4, 0.3, 0.2], 1),  # an action added later
    ]
    holdout = build_holdout([parse_row(r) for r in rows], [])
    logging = holdout.logged.logging
    assert logging is not None
    column = {action: index for index, action in enumerate(holdout.vocabulary)}
    for i, row in enumerate(rows):
        expected = np.zeros(len(column))
        for action, p in zip(json.loads(row["actions"]), json.loads(row["probabilities"]), strict=True):
            expected[column[action["id"]]] = p
        assert np.allclose(logging[i], expected), (row["event_id"], logging[i], expected)
    # and the logged propensity is the chosen action's entry
    chosen = holdout.logged.chosen
    assert np.allclose(logging[np.arange(3), chosen], holdout.logged.propensity)
