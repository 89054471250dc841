"""New actions are explored at a controlled rate, not greedily; every candidate keeps the exploration floor."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from container_helpers import ACTIONS, logged_rows, make_layout

from container.core.artifacts import ArtifactError
from container.core.featurizer import Action, actions_from_ids
from container.core.layout import Layout
from container.core.policy import Policy
from container.training import train
from contract.settings import Exploration

CONTEXT = {"x0": 0.9, "x1": 0.1, "x2": 0.3, "x3": 0.5}


def _trained(root: Path, hyperparameters: dict[str, str], rows: list | None = None) -> Path:
    layout = make_layout(root, logged_rows(300) if rows is None else rows, {"model_id": "m", **hyperparameters})
    train.run(Layout(layout))
    return layout / "model"


def test_a_new_action_gets_exactly_the_default_share(model_dir: Path) -> None:
    policy = Policy.load(model_dir)
    known = policy.distribution(CONTEXT, actions_from_ids(ACTIONS))
    served = policy.distribution(CONTEXT, [*actions_from_ids(ACTIONS), Action("z")])
    share = Exploration().new_action_share
    assert 0.0 < share < 0.5
    assert math.isclose(served[3], share, abs_tol=1e-12)
    for with_new, without in zip(served[:3], known, strict=True):
        assert math.isclose(with_new, (1.0 - share) * without, rel_tol=1e-9)
    assert math.isclose(sum(served), 1.0, abs_tol=1e-12)


def test_new_actions_split_the_configured_share(tmp_path: Path) -> None:
    policy = Policy.load(_trained(tmp_path, {"new_action_share": "0.2"}))
    served = policy.distribution(CONTEXT, [Action("y"), *actions_from_ids(ACTIONS), Action("z")])
    assert math.isclose(served[0], 0.1, abs_tol=1e-12) and math.isclose(served[4], 0.1, abs_tol=1e-12)
    assert math.isclose(sum(served[1:4]), 0.8, abs_tol=1e-9)


def test_the_logged_propensity_is_the_served_probability(model_dir: Path) -> None:
    policy = Policy.load(model_dir, seed=3)
    candidates = [*actions_from_ids(ACTIONS), Action("z")]
    expected = policy.distribution(CONTEXT, candidates)
    chosen = set()
    for _ in range(300):
        decision = policy.decide(CONTEXT, candidates)
        assert decision.probabilities == expected
        assert decision.action_prob == expected[decision.action_index]
        chosen.add(decision.action)
    assert "z" in chosen


def test_after_training_on_its_rows_the_action_is_known_and_learned(tmp_path: Path) -> None:
    """Rows where `z` was offered (and is the right answer when x3 > 0.5) teach the next model about it."""
    rows = []
    for row in logged_rows(600, seed=6):
        x3 = json.loads(row["context"])["x3"]
        row = {**row, "actions": json.dumps([{"id": a, "features": {}} for a in [*ACTIONS, "z"]])}
        if row["action_index"] == 0 and len(rows) % 2:
            row = {**row, "action": "z", "action_index": 3, "action_prob": 0.25}
        if row["action"] == "z":
            row["reward"] = 1.0 if x3 > 0.5 else 0.0
        rows.append(row)
    policy = Policy.load(_trained(tmp_path, {}, rows))
    assert "z" in [a.id for a in policy.actions]
    candidates = [*actions_from_ids(ACTIONS), Action("z")]
    assert policy.distribution({**CONTEXT, "x3": 0.9}, candidates)[3] > 0.5


def test_the_floor_holds_for_every_candidate(tmp_path: Path) -> None:
    policy = Policy.load(_trained(tmp_path, {"exploration_floor": "0.02"}))
    for candidates in (None, [*actions_from_ids(ACTIONS), Action("z")]):
        served = policy.distribution(CONTEXT, candidates)
        assert min(served) >= 0.02 - 1e-12 and math.isclose(sum(served), 1.0, abs_tol=1e-9)


def test_a_share_out_of_range_in_the_metadata_is_refused(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    copy.mkdir()
    metadata = json.loads((model_dir / "metadata.json").read_text())
    metadata["hyperparameters"]["new_action_share"] = 1.5
    (copy / "metadata.json").write_text(json.dumps(metadata))
    (copy / "vw.model").write_bytes((model_dir / "vw.model").read_bytes())
    with pytest.raises(ArtifactError, match="new_action_share"):
        Policy.load(copy)


def test_a_share_out_of_range_is_a_bad_hyperparameter(tmp_path: Path) -> None:
    with pytest.raises(train.ConfigError, match="new_action_share"):
        train.parse_config({"new_action_share": "0.9"})
