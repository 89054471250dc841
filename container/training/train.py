"""SageMaker `train`: learn a VW `--cb_explore_adf` policy from joined rows, warm-started from the serving model.

Writes `model/vw.model` and `model/metadata.json`. No rows gives a uniform-random policy (still a valid model
directory), so the first deployment needs no data. Any error writes `output/failure` and exits 1.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import vowpalwabbit

from container.core.artifacts import METADATA_FILE, MODEL_FILE, ArtifactError, read_metadata, resolve_model_dir
from container.core.challenger import SERVING_DIR, chosen_probability
from container.core.config import ConfigError, TrainConfig, parse_config
from container.core.errors import ContainerError
from container.core.featurizer import Action, Featurizer, Label, actions_from_ids
from container.core.layout import HyperparametersError, Layout, run_job
from container.core.logged_rows import (
    BadRow,
    LoggedRow,
    ReadStats,
    in_arrival_order,
    logged_after,
    moment,
    read_rows,
    reward_bounds,
)
from container.core.policy import Policy
from container.core.split import is_holdout
from container.training.adaptation import Change, detect_change, exploration_floor

TRAINING_CHANNEL = "training"
PRETRAINED_CHANNEL = "pretrained_model"
SERVING_CHANNEL = "serving_model"
AUTO_PASS_EXAMPLES = 20_000


class TrainingError(ContainerError, RuntimeError):
    """Training cannot produce a model; the message tells the operator what to fix."""


@dataclass(frozen=True)
class Parent:
    """The model we warm-start from: its VW file and the featurizer and actions it was trained with."""

    model_id: str | None
    model_file: Path | None
    featurizer: Featurizer
    actions: list[str]
    vw_args: str | None = None


def _log(message: str) -> None:
    print(f"[train] {message}", flush=True)


def load_parent(layout: Layout) -> Parent | None:
    """The `pretrained_model` channel as a warm-start parent, if the job was given one."""
    model_dir = resolve_model_dir(layout.channel(PRETRAINED_CHANNEL))
    if model_dir is None:
        return None
    metadata = read_metadata(model_dir)
    model_file = model_dir / MODEL_FILE
    return Parent(
        model_id=metadata.get("model_id"),
        model_file=model_file if model_file.exists() else None,
        featurizer=Featurizer.from_state(metadata.get("featurizer")),
        actions=[str(a) for a in metadata.get("actions") or []],
        vw_args=metadata.get("vw_args"),
    )


def pack_serving_model(layout: Layout, model_dir: Path, serving_model_id: str, actions: list[str]) -> str | None:
    """Copy the serving model this candidate is trained next to into `model/serving/`, so a rejected candidate can
    serve as a challenger mixed into it from its own artifact (`container/core/challenger.py`).

    The `serving_model` channel holds the serving model's artifact; a serving model without one (the uniform
    bootstrap) is written as its metadata alone, which loads as the uniform policy it serves. Returns the packed
    model's id (None when the job was given no serving model)."""
    source = resolve_model_dir(layout.channel(SERVING_CHANNEL))
    target = model_dir / SERVING_DIR
    if source is not None:
        target.mkdir(parents=True, exist_ok=True)
        for name in (MODEL_FILE, METADATA_FILE):
            if (source / name).is_file():
                shutil.copyfile(source / name, target / name)
        return str(read_metadata(target).get("model_id") or serving_model_id or SERVING_DIR)
    if not serving_model_id:
        return None
    target.mkdir(parents=True, exist_ok=True)
    (target / METADATA_FILE).write_text(json.dumps({"model_id": serving_model_id, "actions": actions}, indent=2))
    return serving_model_id


def _detect_change(layout: Layout, raw: dict[str, str], logged: list[LoggedRow]) -> Change | None:
    """`adaptation.detect_change` on the window, with the packed serving model to reweight rows a challenger was
    mixed into (loaded only when there are such rows)."""
    mixed = any(r.challenger_model_id for r in logged)
    model_dir = resolve_model_dir(layout.channel(SERVING_CHANNEL)) if mixed else None
    serving = Policy.load(model_dir) if model_dir is not None else None
    try:
        return detect_change(raw, logged, reward_bounds(logged), chosen_probability(serving) if serving else None)
    finally:
        if serving is not None:
            serving.close()


def training_since(raw: dict[str, str]) -> datetime | None:
    """Optional `training_since`: learn only the rows logged after it (set by the pipeline after a detected change,
    with the training channel holding every run's joined rows)."""
    text = str(raw.get("training_since", "")).strip().strip('"')
    if not text:
        return None
    try:
        return moment(text)
    except ValueError:
        raise ConfigError("training_since", f"is {text!r}, not an ISO-8601 time such as 2026-11-23T00:00:00Z") from None


def known_actions(config: TrainConfig, parent: Parent | None, rows: list[LoggedRow]) -> list[str]:
    """Every action id the policy may choose when a request names none: configured, inherited and seen."""
    ids: dict[str, None] = dict.fromkeys(config.actions)
    if parent is not None:
        ids.update(dict.fromkeys(parent.actions))
    for row in rows:
        if row.actions is not None:
            ids.update(dict.fromkeys(a.id for a in row.actions))
        ids[row.action] = None
    return list(ids)


def passes_for(config: TrainConfig, examples: int) -> int:
    """Passes over the data: as configured, or enough to see about 20k examples on small data (at most 10)."""
    if config.passes:
        return config.passes
    return max(1, min(10, AUTO_PASS_EXAMPLES // max(examples, 1)))


def train_examples(config: TrainConfig, featurizer: Featurizer, rows: list[LoggedRow], actions: list[str]):
    """Labelled multiline examples; rows whose chosen action is not among their candidates are skipped."""
    known: list[Action] = actions_from_ids(actions)
    examples: list[list[str]] = []
    skipped: list[str] = []
    for row in rows:
        candidates = row.candidates(known)
        try:
            index = row.chosen_index(candidates)
        except BadRow as error:
            skipped.append(str(error))
            continue
        label = Label(index, config.cost(row.reward), row.action_prob)
        examples.append(featurizer.example(row.context, candidates, label))
    return examples, skipped


def fit(config: TrainConfig, parent: Parent | None, examples: list[list[str]], workdir: Path) -> tuple[float, int]:
    """Run VW over the examples (several passes in-process) and save the model; returns (average loss, passes).

    The saved model counts each interaction once, however many passes learned it: VW's example counter (saved with
    the model and carried by every warm start) sets SquareCB's gamma and cover's epsilon decay, and ten passes over a
    small window would count it ten times and cut exploration as if ten times the data had been seen.
    """
    if parent is not None and parent.model_file is not None:
        # The model file carries its reductions, interactions and seed; restating them risks VW's
        # "disagreeing option values" error, so only the file is named.
        args = f"--quiet --save_resume -i {parent.model_file}"
    else:
        args = f"{config.vw_args()} --quiet"
    workspace = vowpalwabbit.Workspace(args)
    try:
        passes = passes_for(config, len(examples))
        for number in range(1, passes + 1):
            for example in examples:
                workspace.learn(example)
            _log(f"pass {number}/{passes}: {len(examples)} examples, average loss {_average_loss(workspace):.5f}")
        loss = _average_loss(workspace)
        if passes == 1:
            workspace.save(str(workdir / MODEL_FILE))
        else:
            save_counted_once(args, examples, workspace, workdir / MODEL_FILE)
    finally:
        workspace.finish()
    return loss, passes


def save_counted_once(args: str, examples: list[list[str]], trained: vowpalwabbit.Workspace, path: Path) -> None:
    """Save `trained`'s weights with the counters of a single pass over `examples` from the same start.

    A second workspace starts where `trained` started (same arguments, same parent) and learns the examples once,
    so its reductions' counters and VW's example statistics count interactions; then every weight, with its
    adaptive and normalised state, is copied over from the multi-pass workspace (pyvw's `get_weight`/`set_weight`
    address weight `index` at `offset` within its stride)."""
    counted = vowpalwabbit.Workspace(args)
    try:
        for example in examples:
            counted.learn(example)
        stride = trained.get_stride()
        for index in range(trained.num_weights()):
            for offset in range(stride):
                value = trained.get_weight(index, offset)
                if value != counted.get_weight(index, offset):
                    counted.set_weight(index, offset, value)
        counted.save(str(path))
    finally:
        counted.finish()


def _average_loss(workspace: vowpalwabbit.Workspace) -> float:
    weighted = workspace.get_weighted_examples()
    return float(workspace.get_sum_loss() / weighted) if weighted else math.nan


def _finite_or_none(value: Any, where: str = "metadata") -> Any:
    """The metadata with every non-finite float as null: VW's loss overflows float32 on extreme costs, and
    `json.dumps` would write `NaN`/`Infinity`, which is not JSON (strict readers such as orjson refuse the file)."""
    if isinstance(value, float) and not math.isfinite(value):
        _log(f"{where} is {value}: written as null")
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def run(layout: Layout) -> dict[str, Any]:
    """Train and write the model directory; returns the metadata written."""
    started = time.perf_counter()
    config = parse_config(layout.hyperparameters())
    parent = load_parent(layout)
    if parent is not None and parent.model_file is not None and parent.vw_args != config.vw_args():
        _log(f"VW arguments changed ({parent.vw_args!r} -> {config.vw_args()!r}): training from scratch")
        parent = Parent(parent.model_id, None, parent.featurizer, parent.actions, parent.vw_args)
    stats = ReadStats()
    channel = layout.channel(TRAINING_CHANNEL)
    logged = list(read_rows(channel, stats))
    rows = [r for r in logged if not is_holdout(r.event_id, config.holdout_share)]
    holdout_rows = stats.rows_read - len(rows)
    _log(f"read {stats.rows_read} rows ({stats.rows_skipped} skipped), {len(rows)} on the training side")
    raw = layout.hyperparameters()
    change = _detect_change(layout, raw, logged)
    since = training_since(raw)
    if change is not None:
        _log(
            f"DRIFT: the serving model's realized reward left its predicted band after {change.change_after} "
            f"(detected at {change.detected_at}): learning only the rows after it, from scratch, with more exploration"
        )
        since = max(since, moment(change.change_after)) if since is not None else moment(change.change_after)
        parent = None
    if since is not None:
        rows, before = logged_after(rows, since)
        rows, repeated = in_arrival_order(rows)
        _log(
            f"after a detected change: {len(rows)} rows logged after {since.isoformat()} ({before} earlier left out, "
            f"{repeated} repeated events counted once)"
        )
    actions = known_actions(config, parent, rows)
    featurizer = (
        parent.featurizer if parent is not None else Featurizer.fit((r.context for r in rows), config.quantile_bins)
    )
    model_dir = layout.model_dir
    model_dir.mkdir(parents=True, exist_ok=True)
    examples, unusable = train_examples(config, featurizer, rows, actions)
    for message in unusable[:20]:
        print(f"skipped {message}", file=sys.stderr, flush=True)
    loss, passes = math.nan, 0  # no examples, no loss: written as null
    if examples:
        loss, passes = fit(config, parent, examples, model_dir)
    elif parent is not None and parent.model_file is not None:
        shutil.copyfile(parent.model_file, model_dir / MODEL_FILE)
        _log("no training rows: the parent model is kept as it is")
    else:
        _log("no training rows and no parent: writing a uniform-random policy")
    metadata = {
        "model_id": config.model_id,
        "parent_model_id": config.parent_model_id or (parent.model_id if parent else None),
        "experiment_id": config.experiment_id,
        "vw_args": config.vw_args(),
        "featurizer": featurizer.state(),
        "actions": actions,
        "examples": len(examples),
        "passes": passes,
        "average_loss": loss,
        "rows_read": stats.rows_read,
        "rows_skipped": stats.rows_skipped + len(unusable),
        "rows_holdout": holdout_rows,
        "hyperparameters": {
            **config.as_dict(),
            "exploration_floor": exploration_floor(raw, config.exploration_floor, len(actions), change),
        },
        "drift": (
            {"change_after": change.change_after, "detected_at": change.detected_at, "rows_after": change.rows_after}
            if change is not None
            else None
        ),
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "training_seconds": round(time.perf_counter() - started, 3),
    }
    metadata["serving_model_id"] = pack_serving_model(
        layout, model_dir, str(raw.get("serving_model_id", "")).strip(), actions
    )
    metadata = _finite_or_none(metadata)
    (model_dir / "metadata.json").write_text(json.dumps(metadata, indent=2, sort_keys=True, allow_nan=False))
    _log(f"wrote {model_dir} ({len(examples)} examples, {passes} passes, average loss {loss:.5f})")
    return metadata


def main(argv: list[str] | None = None) -> int:
    """Entry point of `train`; exit code 1 with `output/failure` on any error."""
    return run_job("train", "training", run, (ConfigError, HyperparametersError, ArtifactError, TrainingError))
