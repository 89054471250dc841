"""The `train` job: learns a policy better than any constant action, warm-starts, and fails helpfully."""

from __future__ import annotations

import json
import math
import tarfile
from pathlib import Path

from container_helpers import ACTIONS, contexts, logged_rows, make_layout, true_class

from container.core.layout import Layout
from container.core.policy import Policy
from container.core.split import is_holdout
from container.training import train


def _mean_reward(policy: Policy, xs: list[list[float]]) -> float:
    hits = 0
    for x in xs:
        decision = policy.decide({f"x{j}": v for j, v in enumerate(x)})
        hits += decision.action == true_class(x)
    return hits / len(xs)


def test_trained_policy_beats_the_best_constant_action_on_held_out_rows(trained_root: Path) -> None:
    metadata = json.loads((trained_root / "model" / "metadata.json").read_text())
    holdout = [x for i, x in enumerate(contexts(3000)) if is_holdout(f"e-1-{i}", 0.2)]
    assert 450 < len(holdout) < 750
    best_constant = max(sum(true_class(x) == a for x in holdout) / len(holdout) for a in ACTIONS)
    policy = Policy.load(trained_root / "model", seed=11)
    assert _mean_reward(policy, holdout) > best_constant + 0.2
    assert metadata["examples"] == 3000 - metadata["rows_holdout"]
    assert metadata["rows_read"] == 3000 and metadata["rows_skipped"] == 0


def test_metadata_has_the_contract_keys(model_dir: Path) -> None:
    metadata = json.loads((model_dir / "metadata.json").read_text())
    for key in (
        "model_id",
        "parent_model_id",
        "experiment_id",
        "vw_args",
        "featurizer",
        "actions",
        "examples",
        "average_loss",
        "hyperparameters",
        "created_at",
        "rows_read",
        "rows_skipped",
    ):
        assert key in metadata
    assert metadata["model_id"] == "m-1"
    assert metadata["actions"] == ACTIONS
    assert "--cb_explore_adf" in metadata["vw_args"] and "--save_resume" in metadata["vw_args"]
    assert "-q sa" in metadata["vw_args"]
    assert metadata["featurizer"]["bins"]
    assert metadata["created_at"].endswith("Z")
    assert (model_dir / "vw.model").stat().st_size > 0


def test_warm_start_from_a_model_tar_gz_keeps_the_parent_featurizer(model_dir: Path, tmp_path: Path) -> None:
    root = make_layout(tmp_path, logged_rows(300, seed=2), {"model_id": "m-2", "quantile_bins": "3"})
    channel = root / "input" / "data" / "pretrained_model"
    channel.mkdir(parents=True)
    with tarfile.open(channel / "model.tar.gz", "w:gz") as archive:
        for name in ("vw.model", "metadata.json"):
            archive.add(model_dir / name, arcname=name)
    metadata = train.run(Layout(root))
    parent = json.loads((model_dir / "metadata.json").read_text())
    assert metadata["parent_model_id"] == "m-1"
    assert metadata["featurizer"] == parent["featurizer"]  # not refitted with 3 bins
    child = Policy.load(root / "model", seed=5)
    holdout = contexts(400, seed=9)
    # 300 new rows alone could not reach this: the parent's weights were carried over.
    assert _mean_reward(child, holdout) > 0.75


def test_warm_start_from_an_extracted_model_dir(model_dir: Path, tmp_path: Path) -> None:
    root = make_layout(tmp_path, [], {"model_id": "m-3", "parent_model_id": "m-1"})
    channel = root / "input" / "data" / "pretrained_model"
    channel.mkdir(parents=True)
    for name in ("vw.model", "metadata.json"):
        (channel / name).write_bytes((model_dir / name).read_bytes())
    metadata = train.run(Layout(root))
    assert metadata["examples"] == 0 and metadata["parent_model_id"] == "m-1"
    assert not Policy.load(root / "model").is_uniform  # no new rows: the parent is kept


def test_no_data_gives_a_valid_uniform_random_model_dir(tmp_path: Path) -> None:
    root = make_layout(tmp_path, None, {"model_id": "boot", "actions": "1,2,3"})
    metadata = train.run(Layout(root))
    assert metadata["examples"] == 0 and metadata["actions"] == ["1", "2", "3"]
    policy = Policy.load(root / "model")
    assert policy.is_uniform and policy.model_id == "boot"
    assert policy.distribution({"x": 1}) == [1 / 3] * 3


def test_bad_hyperparameter_writes_output_failure_and_exits_1(tmp_path: Path, monkeypatch) -> None:
    root = make_layout(tmp_path, logged_rows(10), {"model_id": "m", "exploration": "greedy"})
    monkeypatch.setenv("SM_ML_ROOT", str(root))
    assert train.main([]) == 1
    failure = (root / "output" / "failure").read_text()
    assert "exploration" in failure and "squarecb" in failure


def test_corrupt_pretrained_model_fails_with_a_reason(tmp_path: Path, monkeypatch) -> None:
    root = make_layout(tmp_path, logged_rows(10), {"model_id": "m"})
    channel = root / "input" / "data" / "pretrained_model"
    channel.mkdir(parents=True)
    (channel / "model.tar.gz").write_bytes(b"not a tarball")
    monkeypatch.setenv("SM_ML_ROOT", str(root))
    assert train.main([]) == 1
    assert "model.tar.gz" in (root / "output" / "failure").read_text()


def test_every_exploration_algorithm_trains(tmp_path: Path) -> None:
    rows = logged_rows(60)
    for algorithm in ("epsilon", "bag", "cover", "softmax", "squarecb", "rnd"):
        root = make_layout(tmp_path / algorithm, rows, {"model_id": algorithm, "exploration": algorithm})
        metadata = train.run(Layout(root))
        distribution = Policy.load(root / "model").distribution({"x0": 0.9, "x1": 0.1})
        assert metadata["examples"] > 0 and abs(sum(distribution) - 1) < 1e-6, algorithm


def test_changed_exploration_trains_from_scratch_instead_of_failing(model_dir: Path, tmp_path: Path) -> None:
    root = make_layout(tmp_path, logged_rows(200, seed=4), {"model_id": "m-4", "exploration": "epsilon"})
    channel = root / "input" / "data" / "pretrained_model"
    channel.mkdir(parents=True)
    for name in ("vw.model", "metadata.json"):
        (channel / name).write_bytes((model_dir / name).read_bytes())
    metadata = train.run(Layout(root))
    assert "--epsilon" in metadata["vw_args"] and metadata["examples"] > 0


def test_workshop_csv_trains_with_the_action_set_it_has_seen(tmp_path: Path) -> None:
    root = make_layout(tmp_path, None, {"model_id": "csv", "actions": "1,2,3"})
    lines = ["event_id,action,action_prob,model_id,observation,sample_prob,reward"]
    for i, x in enumerate(contexts(200)):
        action = str(1 + i % 3)
        reward = int(action == str(1 + ACTIONS.index(true_class(x))))
        lines.append(f'e{i},{action},0.3333,m0,"{json.dumps(x[:2])}",0.5,{reward}')
    (root / "input" / "data" / "training" / "joined.csv").write_text("\n".join(lines) + "\n")
    metadata = train.run(Layout(root))
    assert metadata["actions"] == ["1", "2", "3"] and metadata["examples"] > 100
    assert len(Policy.load(root / "model").distribution({"x0": 0.5, "x1": 0.5})) == 3


def _strict_json(path: Path) -> dict:
    """The file as a strict JSON parser reads it: `NaN` and `Infinity` are not JSON."""

    def refuse(name: str) -> None:
        raise ValueError(f"{path} holds {name}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_metadata_is_valid_json_when_vw_reports_a_non_finite_loss(tmp_path: Path) -> None:
    # a finite float64 reward that overflows VW's float32 makes its summed loss NaN
    rows = logged_rows(60)
    rows[0]["reward"] = 1e300
    root = make_layout(tmp_path, rows, {"model_id": "m-nan", "holdout_share": "0"})
    written = train.run(Layout(root))
    metadata = _strict_json(root / "model" / "metadata.json")
    assert metadata["examples"] == 60 and metadata["average_loss"] is None
    assert written["average_loss"] is None


def test_metadata_without_examples_has_a_null_loss(tmp_path: Path) -> None:
    root = make_layout(tmp_path, [], {"model_id": "m-empty"})
    train.run(Layout(root))
    metadata = _strict_json(root / "model" / "metadata.json")
    assert metadata["examples"] == 0 and metadata["average_loss"] is None


def test_bin_edges_stay_finite_for_contexts_spanning_the_float64_range(tmp_path: Path) -> None:
    rows = logged_rows(40)
    for i, row in enumerate(rows):
        row["context"] = json.dumps({"x0": 1.7e308 if i % 2 else -1.7e308, "x1": i / 40})
    root = make_layout(tmp_path, rows, {"model_id": "m-wide", "holdout_share": "0"})
    train.run(Layout(root))
    metadata = _strict_json(root / "model" / "metadata.json")
    assert all(math.isfinite(edge) for edges in metadata["featurizer"]["bins"].values() for edge in edges)
    assert metadata["featurizer"]["bins"]["x1"]
