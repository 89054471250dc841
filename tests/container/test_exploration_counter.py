"""Multi-pass training counts each interaction once: the counter behind SquareCB's gamma is not inflated by passes."""

from __future__ import annotations

import re
from pathlib import Path

import vowpalwabbit
from container_helpers import contexts, logged_rows, make_layout

from container.core.featurizer import actions_from_ids
from container.core.layout import Layout
from container.core.policy import Policy
from container.training import train


def squarecb_counter(model_file: Path, workdir: Path) -> int:
    """The example counter SquareCB saved with the model (VW prints it in the readable model)."""
    readable = workdir / "readable.txt"
    vowpalwabbit.Workspace(f"--quiet -i {model_file} --readable_model {readable}").finish()
    match = re.search(r"example counter:\s*=\s*(\d+)", readable.read_text())
    assert match, "no SquareCB counter in the readable model"
    return int(match.group(1))


def _pretrained(root: Path, parent: Path) -> None:
    channel = root / "input" / "data" / "pretrained_model"
    channel.mkdir(parents=True)
    for name in ("vw.model", "metadata.json"):
        (channel / name).write_bytes((parent / name).read_bytes())


def test_counter_after_multi_pass_training_equals_the_interactions(tmp_path: Path) -> None:
    root = make_layout(tmp_path / "first", logged_rows(279), {"model_id": "m-1", "passes": "10"})
    first = train.run(Layout(root))
    assert first["passes"] == 10
    assert squarecb_counter(root / "model" / "vw.model", tmp_path) == first["examples"]


def test_warm_start_adds_only_the_new_interactions(tmp_path: Path) -> None:
    parent_root = make_layout(tmp_path / "parent", logged_rows(200), {"model_id": "m-1"})
    parent = train.run(Layout(parent_root))
    assert parent["passes"] > 1  # the automatic pass count on a small window
    child_root = make_layout(tmp_path / "child", logged_rows(150, seed=3), {"model_id": "m-2"})
    _pretrained(child_root, parent_root / "model")
    child = train.run(Layout(child_root))
    assert child["passes"] > 1
    counter = squarecb_counter(child_root / "model" / "vw.model", tmp_path)
    assert counter == parent["examples"] + child["examples"]


def test_the_saved_model_keeps_what_every_pass_learned(tmp_path: Path) -> None:
    """The weights are the multi-pass ones: the same as VW learning the same passes in one workspace."""
    rows = logged_rows(120)
    hyperparameters = {"model_id": "m-e", "exploration": "epsilon", "passes": "6", "quantile_bins": "0"}
    root = make_layout(tmp_path, rows, hyperparameters)
    metadata = train.run(Layout(root))
    policy = Policy.load(root / "model")
    config = train.parse_config(hyperparameters)
    layout_rows = [r for r in train.read_rows(root / "input" / "data" / "training") if r.event_id]
    training_rows = [r for r in layout_rows if not train.is_holdout(r.event_id, config.holdout_share)]
    examples, _ = train.train_examples(config, policy.featurizer, training_rows, metadata["actions"])
    reference = vowpalwabbit.Workspace(f"{config.vw_args()} --quiet")
    for _ in range(6):
        for example in examples:
            reference.learn(example)
    candidates = actions_from_ids(metadata["actions"])
    for x in contexts(20, seed=5):
        context = {f"x{j}": v for j, v in enumerate(x)}
        expected = reference.predict(policy.featurizer.example(context, candidates))
        assert policy.distribution(context) == [p / sum(expected) for p in expected]
    reference.finish()
