"""The doubly robust estimator's reward model: per-action ridge regression, cross-fitted over k folds.

Cross-fitting means a row's predicted rewards come from a model fitted on the other folds, so a row never scores
itself and DR stays unbiased even when the model overfits. Rows outside the holdout (the training split of the
same period, `Supplement`) join every fold's fit: they are independent of every holdout row, so they add data
without breaking that, and the model (DR's variance) improves most where the holdout is small.

The design is deliberately simple and fixed (no tuning on the holdout): standardised numeric features, their
quantile bins one-hot (shuttle-like data has threshold structure a linear model misses) and one-hot categorical
values.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from container.evaluation.estimators import Logged

Array = NDArray[np.float64]
DEFAULT_FOLDS = 5
DEFAULT_BINS = 8
DEFAULT_RIDGE = 1.0
_MAX_CATEGORIES = 50


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def design_matrix(contexts: Sequence[Mapping[str, Any]], bins: int = DEFAULT_BINS) -> Array:
    """Contexts as a numeric design (without intercept); the same columns for every row of the holdout."""
    n = len(contexts)
    numeric: dict[str, Array] = {}
    categories: dict[str, Counter[str]] = {}
    for i, context in enumerate(contexts):
        for name, value in context.items():
            if _is_number(value):
                numeric.setdefault(name, np.full(n, np.nan))[i] = float(value)
            elif value is not None:
                categories.setdefault(name, Counter())[f"{value}"] += 1
    columns: list[Array] = []
    for name in sorted(numeric):
        column = numeric[name]
        present = np.isfinite(column)
        filled = np.where(present, column, np.nanmean(column) if present.any() else 0.0)
        scale = float(np.std(filled)) or 1.0
        columns.append((filled - float(np.mean(filled))) / scale)
        if not present.all():
            columns.append((~present).astype(float))
        edges = np.unique(np.quantile(filled, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
        codes = np.searchsorted(edges, filled, side="right")
        columns.extend((codes == code).astype(float) for code in np.unique(codes)[1:])
    for name in sorted(categories):
        kept = [value for value, _ in categories[name].most_common(_MAX_CATEGORIES)]
        values = [f"{context.get(name)}" if context.get(name) is not None else None for context in contexts]
        columns.extend(np.array([v == value for v in values], dtype=float) for value in kept)
    if not columns:
        return np.zeros((n, 0))
    return np.column_stack(columns)


@dataclass(frozen=True)
class Supplement:
    """Logged rows outside the holdout that every fold's model also learns from: design rows (the same columns as
    the holdout's), the chosen action's vocabulary column and the reward."""

    x: Array
    chosen: NDArray[np.int64]
    reward: Array

    def __post_init__(self) -> None:
        if not (len(self.x) == len(self.chosen) == len(self.reward)):
            raise ValueError("a supplement needs one design row, chosen action and reward per row")


@dataclass(frozen=True)
class _Moments:
    """Sufficient statistics of a ridge fit (row count, sums, cross-products): fits of overlapping row sets (every
    fold shares the supplement and most of the holdout) are sums and differences of these, not refits."""

    rows: float
    x: Array
    y: float
    xx: Array
    xy: Array

    @classmethod
    def of(cls, x: Array, y: Array) -> _Moments:
        return cls(float(len(y)), x.sum(axis=0), float(y.sum()), x.T @ x, x.T @ y)

    def __add__(self, other: _Moments) -> _Moments:
        return _Moments(
            self.rows + other.rows, self.x + other.x, self.y + other.y, self.xx + other.xx, self.xy + other.xy
        )

    def __sub__(self, other: _Moments) -> _Moments:
        return _Moments(
            self.rows - other.rows, self.x - other.x, self.y - other.y, self.xx - other.xx, self.xy - other.xy
        )


def _ridge(moments: _Moments, penalty: float) -> tuple[Array, float]:
    """Ridge on centred data: the intercept (the mean reward) is never shrunk."""
    x_mean = moments.x / moments.rows
    y_mean = moments.y / moments.rows
    gram = moments.xx - moments.rows * np.outer(x_mean, x_mean) + penalty * np.eye(len(x_mean))
    beta: Array = np.linalg.solve(gram, moments.xy - moments.rows * x_mean * y_mean).astype(np.float64)
    return beta, y_mean - float(x_mean @ beta)


def fold_ids(rows: int, folds: int, seed: int) -> NDArray[np.int64]:
    """A random balanced assignment of rows to folds (fixed by the seed)."""
    folds = max(1, min(folds, rows))
    return np.random.default_rng(seed).permutation(np.arange(rows) % folds)


def cross_fitted_rewards(
    x: Array,
    logged: Logged,
    actions: int,
    folds: int = DEFAULT_FOLDS,
    penalty: float = DEFAULT_RIDGE,
    seed: int = 0,
    supplement: Supplement | None = None,
) -> Array:
    """Predicted reward of every action on every row (`rows x actions`), each row predicted out of fold.

    Each fold's model learns from the other folds and the `supplement`. Actions with fewer than two training rows
    in a fold fall back to that fold's mean reward; predictions are clipped to the observed reward range.
    """
    n = logged.rows
    extra = supplement or Supplement(np.zeros((0, x.shape[1])), np.zeros(0, dtype=np.int64), np.zeros(0))
    if extra.x.shape[1] != x.shape[1]:
        raise ValueError(f"the supplement has {extra.x.shape[1]} design columns, the holdout {x.shape[1]}")
    low, high = float(logged.reward.min()), float(logged.reward.max())
    assignment = fold_ids(n, folds, seed)
    fold_list = list(np.unique(assignment))
    # moments[action][fold] of the holdout rows, and of the supplement per action: each fold's training set is the
    # holdout less that fold, plus the supplement (or the whole holdout when there is a single fold).
    per_fold = [
        [_Moments.of(x[m], logged.reward[m]) for m in ((assignment == f) & (logged.chosen == a) for f in fold_list)]
        for a in range(actions)
    ]
    extra_moments = [_Moments.of(extra.x[extra.chosen == a], extra.reward[extra.chosen == a]) for a in range(actions)]
    none = _Moments.of(x[:0], logged.reward[:0])
    totals = [
        sum(holdout_part, start=none) + added for holdout_part, added in zip(per_fold, extra_moments, strict=True)
    ]
    predictions = np.empty((n, actions))
    for k, fold in enumerate(fold_list):
        test = assignment == fold
        if len(fold_list) > 1:
            trained = [total - per_fold[action][k] for action, total in enumerate(totals)]
        else:
            trained = totals
        fallback = sum(m.y for m in trained) / sum(m.rows for m in trained)
        for action, moments in enumerate(trained):
            if moments.rows < 2 or x.shape[1] == 0:
                predictions[test, action] = moments.y / moments.rows if moments.rows else fallback
                continue
            beta, intercept = _ridge(moments, penalty)
            predictions[test, action] = x[test] @ beta + intercept
    return np.clip(predictions, low, high)
