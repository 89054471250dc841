"""Empirical-likelihood intervals with an augmented support (Karampatziakis, Langford & Mineiro 2020 style).

Why not `mean ± 1.96 sd/sqrt(n)`: off-policy terms are heavy-tailed (a few rows carry weights of 1/min propensity)
and often pile up at a reward bound (near-perfect policies). In a holdout that happens to contain no large-weight
failure the sample variance is near zero and a normal interval is confidently wrong. The empirical likelihood
interval instead asks which means are plausible for *some* distribution on the observed rows plus a few unobserved
support points at the known extremes (largest possible weight, reward at either bound): an unseen large-weight
failure costs likelihood but is never ruled out, so the interval cannot collapse to zero width, and it is
asymmetric where the data are. `-2 log R(v) <= F(1, n-1)` (the t-squared quantile) gives the 95% interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Z_95 = 1.959963984540054
_NEWTON_STEPS = 50
_BISECTION_STEPS = 100
# Exact two-sided 97.5% t quantiles for 1 and 2 degrees of freedom (the expansion below is poor there).
_T_SMALL = {1: 12.706204736174698, 2: 4.302652729749464}


def critical_value(rows: int) -> float:
    """`t_{n-1, 0.975}^2`: the chi-square(1) cut-off with a small-sample correction (Cornish-Fisher for t)."""
    df = max(rows - 1, 1)
    if df in _T_SMALL:
        return _T_SMALL[df] ** 2
    z = Z_95
    t = (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )
    return t * t


def _lagrange(g: Array, low: float, high: float) -> float:
    """The dual variable maximising `sum log(1 + lam g)` with `1 + lam s >= 0` at the support bounds `low < 0 < high`.

    The derivative `sum g / (1 + lam g)` decreases in `lam`: safeguarded Newton inside the feasible bracket.
    """
    left, right = -1.0 / high, -1.0 / low
    for edge, sign in ((right, 1.0), (left, -1.0)):  # the constraint binds: the maximum sits on the edge
        shifted = 1.0 + edge * g
        if np.all(shifted > 0.0) and sign * float(np.sum(g / shifted)) >= 0.0:
            return edge
    lam = 0.0
    for _ in range(_NEWTON_STEPS):
        ratio = g / (1.0 + lam * g)
        slope = float(np.sum(ratio))
        if slope > 0.0:
            left = lam
        else:
            right = lam
        curvature = float(np.sum(ratio * ratio))
        step = lam + slope / curvature if curvature > 0.0 else 0.5 * (left + right)
        if not left < step < right:
            step = 0.5 * (left + right)
        if abs(step - lam) <= 1e-12 * (1.0 + abs(lam)):
            return step
        lam = step
    return lam


def log_likelihood_ratio(g: Array, low: float, high: float) -> float:
    """`-2 log R` of the hypothesis `E[g] = 0`, where the support may also hold points at `low` and `high`."""
    if not low < 0.0 < high:
        return math.inf
    if not np.any(g):
        return 0.0
    lam = _lagrange(g, low, high)
    return 2.0 * float(np.sum(np.log(np.maximum(1.0 + lam * g, 1e-300))))


def _invert(statistic: Callable[[float], float], center: float, end: float, cutoff: float, scale: float) -> float:
    """The value between `center` (statistic 0) and `end` where the increasing statistic crosses `cutoff`.

    Brackets the crossing by doubling steps of `scale` from the centre, then refines by the Illinois method.
    """
    direction = 1.0 if end > center else -1.0
    distance = abs(end - center)
    if distance == 0.0:
        return center
    inside, f_inside = 0.0, -cutoff
    step = min(max(scale, 1e-9 * distance), distance)
    while True:
        f_step = statistic(center + direction * step) - cutoff if step < distance else math.inf
        if f_step > 0.0:
            outside, f_outside = step, f_step
            break
        inside, f_inside = step, f_step
        step = min(2.0 * step, distance)
    tolerance = 1e-9 * (1.0 + distance)
    side = 0
    for _ in range(_BISECTION_STEPS):
        if outside - inside <= tolerance:
            break
        if math.isfinite(f_outside):
            trial = inside - f_inside * (outside - inside) / (f_outside - f_inside)
            if not inside < trial < outside:
                trial = 0.5 * (inside + outside)
        else:
            trial = 0.5 * (inside + outside)
        f_trial = statistic(center + direction * trial) - cutoff
        if abs(f_trial) < 1e-9:
            return center + direction * trial
        if f_trial > 0.0:
            outside, f_outside = trial, f_trial
            if side == 1:
                f_inside *= 0.5
            side = 1
        else:
            inside, f_inside = trial, f_trial
            if side == -1 and math.isfinite(f_outside):
                f_outside *= 0.5
            side = -1
    return center + direction * 0.5 * (inside + outside)


def _scale(values: Array) -> float:
    """The normal interval's half-width: where to start looking for the likelihood interval's ends."""
    return Z_95 * float(np.std(values)) / math.sqrt(len(values))


def mean_interval(terms: Array, low: float, high: float) -> tuple[float, float]:
    """95% interval of `E[terms]` when any term lies in `[low, high]` (the augmented support)."""
    center = float(np.mean(terms))
    low, high = min(low, float(terms.min())), max(high, float(terms.max()))
    if high <= low:
        return center, center

    def statistic(v: float) -> float:
        return log_likelihood_ratio(terms - v, low - v, high - v)

    cutoff, scale = critical_value(len(terms)), _scale(terms)
    return _invert(statistic, center, low, cutoff, scale), _invert(statistic, center, high, cutoff, scale)


def ratio_interval(
    weights: Array, rewards: Array, reward_min: float, reward_max: float, max_weight: float
) -> tuple[float, float]:
    """95% interval of the self-normalised value `V` solving `E[w (r - V)] = 0` (SNIPS).

    The support is augmented with rows of weight `max_weight` and a reward at either bound.
    """
    total = float(np.sum(weights))
    if total <= 0.0 or reward_max <= reward_min:
        return reward_min, reward_max
    center = float(np.sum(weights * rewards) / total)
    max_weight = max(max_weight, float(weights.max()))

    def statistic(v: float) -> float:
        g = weights * (rewards - v)
        return log_likelihood_ratio(g, max_weight * (reward_min - v), max_weight * (reward_max - v))

    cutoff = critical_value(len(weights))
    scale = _scale(weights * (rewards - center)) / max(total / len(weights), 1e-12)
    return (
        _invert(statistic, center, reward_min, cutoff, scale),
        _invert(statistic, center, reward_max, cutoff, scale),
    )
