"""The learning lineage: which model the next candidate learns from, and the data range a model has learned (pure).

The gate decides what serves, never what is learned. Every candidate that trained is the new head of the lineage
once its run finalizes (promoted, rejected or rolled back), and the next candidate warm-starts from it; so every
window the watermark moves past reaches the learner, whatever the gate said about the model that learned it. A run
that fails keeps the previous head: its watermark stays, its window is joined again by the next run, and learning it
from the failed run's model as well would count it twice.
"""

from __future__ import annotations

from typing import Any

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
