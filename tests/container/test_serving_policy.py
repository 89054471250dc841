"""The serving policy: loading, uniform fallback, the fast prediction path and sampling."""

from __future__ import annotations

import tarfile
from collections import Counter
from pathlib import Path

import pytest

from container.core.featurizer import Action
from container.core.policy import NoActionsError, Policy, _predict


def test_fast_prediction_path_equals_vw_predict(model_dir: Path) -> None:
    policy = Policy.load(model_dir)
    for x in ([0.9, 0.1, 0.2, 0.3], [0.1, 0.9, 0.5, 0.5], [0.2, 0.1, 0.1, 0.9]):
        lines = policy.featurizer.example({f"x{j}": v for j, v in enumerate(x)}, policy.actions)
        assert _predict(policy._workspace, "\n".join(lines)) == pytest.approx(policy._workspace.predict(lines))


def test_known_actions_and_explicit_candidates_agree(model_dir: Path) -> None:
    policy = Policy.load(model_dir)
    context = {"x0": 0.9, "x1": 0.2}
    explicit = [Action(a.id) for a in policy.actions]
    assert policy.distribution(context) == pytest.approx(policy.distribution(context, explicit))


def test_load_from_model_tar_gz(model_dir: Path, tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("vw.model", "metadata.json"):
            tar.add(model_dir / name, arcname=name)
    policy = Policy.load(archive)
    assert policy.model_id == "m-1" and not policy.is_uniform
    assert Policy.load(tmp_path).model_id == "m-1"  # a channel directory holding the archive


def test_uniform_when_there_is_no_model(tmp_path: Path) -> None:
    policy = Policy.load(tmp_path / "empty", actions=["x", "y"])
    assert policy.is_uniform and policy.model_id == "uniform-random"
    assert policy.distribution({"a": 1}) == [0.5, 0.5]
    assert policy.probe()
    with pytest.raises(NoActionsError):
        Policy.uniform().distribution({"a": 1})


def test_decisions_follow_the_distribution_and_report_their_propensity(model_dir: Path) -> None:
    policy = Policy.load(model_dir, seed=3)
    context = {"x0": 0.3, "x1": 0.2, "x2": 0.1, "x3": 0.4}
    probabilities = policy.distribution(context)
    decisions = [policy.decide(context) for _ in range(4000)]
    counts = Counter(d.action_index for d in decisions)
    for index, p in enumerate(probabilities):
        assert abs(counts[index] / 4000 - p) < 0.04
    assert all(d.action_prob == probabilities[d.action_index] > 0 for d in decisions)


def test_same_seed_same_decisions(model_dir: Path) -> None:
    first, second = Policy.load(model_dir, seed=9), Policy.load(model_dir, seed=9)
    context = {"x0": 0.3}
    assert [first.decide(context).action for _ in range(50)] == [second.decide(context).action for _ in range(50)]
