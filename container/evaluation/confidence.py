"""Anytime-valid confidence sequences for the mean of bounded per-row terms, by betting (the gate's statistics).

Why: the gate looks at the paired difference again every run, on a holdout that grows, and it must be right at
n = 50-300 where a normal interval is not. Waudby-Smith & Ramdas (2023), "Estimating means of bounded random
variables by betting" (JRSS-B), show that for terms `x_t >= floor` and any *predictable* bets `lambda_t` in
`[0, c / (m - floor)]`, the wealth `K_t(m) = prod_{s<=t} (1 + lambda_s (x_s - m))` is a non-negative
supermartingale when `E[x] <= m`, so by Ville's inequality `P(sup_t K_t(m) >= 1/alpha) <= alpha`: every `m` whose
wealth ever reaches `1/alpha` is ruled out, at every sample size at once, with no normality assumption. A lower
bound only needs the terms bounded *below* (an upper bound only needs them bounded above), which is what makes
importance-weighted terms usable: a candidate's large weights sit in the upper tail.

The bets: an average of a few bettors (the "diversified" strategies of the same paper), bettor `j` using the
predictable plug-in `lambda = sqrt(2 log(J / alpha) / (sigma_{t-1}^2 n_j))` tuned to sample size `n_j`
(`HORIZONS`), capped at `c / (m - floor)`. An average of supermartingales is one, so the mixture's wealth is as
valid as each; it is tight near every horizon instead of only one, which is what gives power at n = 50-300.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
HORIZONS = (100.0, 300.0, 1000.0, 3000.0)
BET_CAP = 0.75  # c: a bet never risks more than 75% of the wealth on a term at its floor
_BISECTION_STEPS = 60


def _bet_sizes(x: Array, scale: float, alpha: float) -> Array:
    """Predictable uncapped bets `J x n`: row `j` tuned to horizon `HORIZONS[j]`, from the variance before row t."""
    n = len(x)
    prior_mean, prior_var = 0.0, (scale / 2.0) ** 2
    mean_before = (prior_mean + np.concatenate(([0.0], np.cumsum(x)[:-1]))) / np.arange(1, n + 1)
    squares = (x - mean_before) ** 2
    var_before = (prior_var + np.concatenate(([0.0], np.cumsum(squares)[:-1]))) / np.arange(1, n + 1)
    var_before = np.maximum(var_before, 1e-12 * max(scale, 1e-12) ** 2)
    log_threshold = math.log(len(HORIZONS) / alpha)
    return np.sqrt(2.0 * log_threshold / (var_before[None, :] * np.asarray(HORIZONS)[:, None]))


def _ruled_out(x: Array, bets: Array, m: float, floor: float, alpha: float) -> bool:
    """True when the mixture wealth against `E[x] <= m` ever reaches `1 / alpha` over the rows in order."""
    cap = BET_CAP / (m - floor) if m > floor else math.inf
    lam = np.minimum(bets, cap)
    log_wealth = np.cumsum(np.log1p(lam * (x[None, :] - m)), axis=1)
    top = log_wealth.max(axis=0)
    mixture = top + np.log(np.mean(np.exp(log_wealth - top[None, :]), axis=0))
    return bool(mixture.max() >= math.log(1.0 / alpha))


def lower_bound(x: Array, floor: float, alpha: float, scale: float = 1.0) -> float:
    """Anytime-valid lower confidence bound of `E[x]` at level `1 - alpha`, given `x >= floor` on every row.

    `x` is in the order the rows arrived (the bound is valid at every prefix, so the gate may look every run);
    `scale` sets the bettors' prior variance `(scale / 2)^2` (the reward range's width).
    """
    x = np.asarray(x, dtype=float)
    if len(x) == 0 or not np.all(np.isfinite(x)) or not math.isfinite(floor):
        return -math.inf
    if float(x.min()) < floor:
        raise ValueError(f"a term {float(x.min())} is below the declared floor {floor}")
    bets = _bet_sizes(x, scale, alpha)
    low, high = floor, float(x.max())
    if not _ruled_out(x, bets, low, floor, alpha):
        return floor
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (low + high)
        if _ruled_out(x, bets, middle, floor, alpha):
            low = middle
        else:
            high = middle
        if high - low <= 1e-9 * (1.0 + abs(high)):
            break
    return low


def upper_bound(x: Array, ceiling: float, alpha: float, scale: float = 1.0) -> float:
    """Anytime-valid upper confidence bound of `E[x]`, given `x <= ceiling` (the lower bound of `-x`)."""
    return -lower_bound(-np.asarray(x, dtype=float), -ceiling, alpha, scale)


def confidence_sequence(
    x: Array, floor: float, ceiling: float, alpha: float = 0.05, scale: float = 1.0
) -> tuple[float, float]:
    """Two-sided anytime-valid `1 - alpha` interval of `E[x]`: `alpha / 2` on each side."""
    return lower_bound(x, floor, alpha / 2.0, scale), upper_bound(x, ceiling, alpha / 2.0, scale)
