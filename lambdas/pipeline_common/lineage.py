"""The learning lineage: which model the next candidate learns from, and the data range a model has learned (pure).

The gate decides what serves, never what is learned. Every candidate that trained is the new head of the lineage
once its run finalizes (promoted, rejected or rolled back), and the next candidate warm-starts from it; so every
window the watermark moves past reaches the learner, whatever the gate said about the model that learned it. A run
that fails keeps the previous head: its watermark stays, its window is joined again by the next run, and learning it
from the failed run's model as well would count it twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contract.settings import DRIFT_EXPLORATION_SHARE
from pipeline_common.errors import InvalidEvent
from pipeline_common.window import Window


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def data_range(parent: dict[str, Any] | None, window: Window | None, rows: int | None) -> dict[str, Any]:
    """The registry's data range of a candidate warm-started from `parent` (its registry row) on one window.

    `data_start`/`data_end` bound the decision times of every row of the lineage (`data_end` is this window's end,
    `data_start` the first window's start); `rows_learned` adds this window's joined rows to the parent's (each
    training job learns its window's non-holdout share). A parent without artifact (the uniform policy, or none)
    starts a new lineage at this window; a parent registered before the range was recorded leaves the start and the
    total unknown (absent) rather than wrong.
    """
    bounds = window.to_dict() if window else {}
    start, end = bounds.get("start"), bounds.get("end")
    own = {"window_start": start, "window_end": end, "window_rows": rows, "data_end": end}
    if not parent or not parent.get("artifact_uri"):
        return {**own, "data_start": start, "rows_learned": rows}
    inherited = _count(parent.get("rows_learned"))
    total = inherited + rows if inherited is not None and rows is not None else None
    return {**own, "data_start": parent.get("data_start"), "rows_learned": total}


@dataclass(frozen=True)
class Adaptation:
    """How the next candidate learns after a change the evaluator recorded (`store.record_drift`).

    `fresh`: the lineage head learned rows from before the change and was trained before the run that detected it,
    so the candidate starts a new lineage instead of warm-starting from it, and trains on every joined row logged
    after the change (`training_since`: the old world's data is what misleads, so recent data gets all the weight).
    A head trained in the detecting run or later learned after the change already (the training job runs the same
    detector on its window and restarts on its own, `container/training/adaptation.py`). `hyperparameters` raise
    exploration for the candidate that starts the new lineage only. Its successors explore as configured (a fresh
    lineage's squarecb counter is small, so they explore widely anyway): a raised share on every candidate costs
    each of them that share of the reward, so after a false alarm no candidate could ever pass the gate against a
    serving model that is still good, and the event, which lasts while that model serves, never ended (the learning
    benchmark's `digits`, 2026-12-03: seven candidates in a row, each truly 0.38-0.68 worse). Once another model
    serves, the event no longer applies.
    """

    active: bool
    fresh: bool = False
    training_since: str | None = None
    hyperparameters: dict[str, str] = field(default_factory=dict)


def changed_under(drift: dict[str, Any] | None, serving_model_id: str | None) -> bool:
    """Whether `drift` is a change recorded under the model `serving_model_id` (`store.record_drift`): the event
    applies while that model serves."""
    return bool(
        serving_model_id and drift and drift.get("detected") and drift.get("serving_model_id") == serving_model_id
    )


def adaptation(head: dict[str, Any] | None, drift: dict[str, Any] | None, serving_model_id: str | None) -> Adaptation:
    """The adaptation a recorded change asks of the next training run (pure); inactive once another model serves."""
    if drift is None or not changed_under(drift, serving_model_id):
        return Adaptation(False)
    change = drift.get("change_after")
    raised = {"exploration_share": f"{DRIFT_EXPLORATION_SHARE:g}"}
    head = head or {}
    started, trained_in, detected_in = head.get("data_start"), head.get("run_id"), drift.get("run_id")
    learned_before = not isinstance(started, str) or not isinstance(change, str) or started < change
    trained_before = not isinstance(trained_in, str) or not isinstance(detected_in, str) or trained_in < detected_in
    if head.get("artifact_uri") and learned_before and trained_before:
        return Adaptation(True, True, change if isinstance(change, str) else None, raised)
    return Adaptation(True, False, None)


def pooled_prefix(output_prefix: str) -> str:
    """The prefix holding every run's joined rows (`s3://B/joined/`), from one run's (`s3://B/joined/<run_id>/`).

    A job reading it filters the rows by time (`holdout_since`, `training_since`) and counts each event once.
    """
    trimmed = output_prefix.rstrip("/")
    parent, _, run = trimmed.rpartition("/")
    if not run or not parent.startswith("s3://") or parent.count("/") < 3:
        raise InvalidEvent(f"cannot pool joined rows: {output_prefix!r} is not s3://bucket/joined/<run_id>/")
    return parent + "/"
