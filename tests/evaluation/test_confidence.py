"""The gate's confidence sequence: the betting wealth by hand, coverage at n = 50-300, validity under repeated looks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from container.evaluation.confidence import BET_CAP, HORIZONS, confidence_sequence, lower_bound, upper_bound
from container.evaluation.estimators import Z_95, interval


def _wealth_by_hand(x: list[float], m: float, floor: float, alpha: float, scale: float) -> float:
    """The mixture wealth's running maximum, written as plain loops over rows and bettors (the docs' formula)."""
    log_threshold = math.log(len(HORIZONS) / alpha)
    wealth = [1.0] * len(HORIZONS)
    best = 0.0
    total, squares = 0.0, 0.0
    for t, value in enumerate(x):
        mean_before = total / (t + 1)  # prior mean 0 counts as one row
        variance_before = ((scale / 2) ** 2 + squares) / (t + 1)
        for j, horizon in enumerate(HORIZONS):
            bet = math.sqrt(2 * log_threshold / (variance_before * horizon))
            bet = min(bet, BET_CAP / (m - floor))
            wealth[j] *= 1 + bet * (value - m)
        best = max(best, sum(wealth) / len(wealth))
        squares += (value - mean_before) ** 2
        total += value
    return best


def test_lower_bound_is_where_the_hand_computed_wealth_reaches_one_over_alpha() -> None:
    x = [1.0, 0.0, 1.0, 1.0, 1.0, 0.5, 1.0, 1.0, 1.0, 1.0] * 6
    alpha = 0.05
    bound = lower_bound(np.array(x), 0.0, alpha)
    assert 0.0 < bound < float(np.mean(x))
    assert _wealth_by_hand(x, bound - 1e-6, 0.0, alpha, 1.0) >= 1 / alpha  # just below: ruled out
    assert _wealth_by_hand(x, bound + 1e-6, 0.0, alpha, 1.0) < 1 / alpha  # just above: still plausible


def test_upper_bound_mirrors_the_lower_bound_and_the_sequence_splits_alpha() -> None:
    x = np.array([0.2, 0.9, 0.4, 0.7, 0.1, 0.8] * 10)
    assert upper_bound(x, 1.0, 0.05) == pytest.approx(-lower_bound(-x, -1.0, 0.05))
    low, high = confidence_sequence(x, 0.0, 1.0, alpha=0.05)
    assert low == pytest.approx(lower_bound(x, 0.0, 0.025)) and high == pytest.approx(upper_bound(x, 1.0, 0.025))
    assert low < x.mean() < high


def test_a_term_below_the_declared_floor_is_an_error() -> None:
    with pytest.raises(ValueError, match="below the declared floor"):
        lower_bound(np.array([0.5, -2.0]), -1.0, 0.05)


def _skewed(n: int, rng: np.random.Generator) -> np.ndarray:
    """Paired IPS-like differences: -1..0 on most rows, a weight-10 success on a few (mean 0.05, floor -1)."""
    rare = rng.random(n) < 0.1
    success = rng.random(n) < 0.6
    return np.where(rare, 10.0 * success - 1.0, -0.6 * success)


TRUE_MEAN = 0.1 * (10 * 0.6 - 1) + 0.9 * (-0.36)


@pytest.mark.parametrize("n", [50, 100, 300])
def test_coverage_at_small_n_where_the_normal_interval_fails(n: int) -> None:
    rng = np.random.default_rng(n)
    sequence, normal = 0, 0
    for _ in range(200):
        x = _skewed(n, rng)
        low, high = confidence_sequence(x, -1.0, 9.0, scale=1.0)
        sequence += low <= TRUE_MEAN <= high
        ci = interval(x)
        normal += ci.ci_low <= TRUE_MEAN <= ci.ci_high
    assert sequence / 200 >= 0.95
    assert normal / 200 < sequence / 200  # the normal interval misses the skewed mean more often on the same draws


def test_repeated_looks_stay_valid_while_a_normal_interval_looked_at_every_run_does_not() -> None:
    """Looking after every run of 50 rows up to 300: the sequence is ever wrong in <= 2.5% (+ slack) of streams."""
    rng = np.random.default_rng(11)
    streams, sequence_wrong, normal_wrong = 200, 0, 0
    for _ in range(streams):
        x = rng.random(300) < 0.5  # a fair coin: the mean is 0.5
        x = x.astype(float)
        seq_ever, normal_ever = False, False
        for n in range(50, 301, 50):
            low = lower_bound(x[:n], 0.0, 0.025)
            seq_ever |= low > 0.5
            half = Z_95 * np.std(x[:n], ddof=1) / math.sqrt(n)
            normal_ever |= x[:n].mean() - half > 0.5
        sequence_wrong += seq_ever
        normal_wrong += normal_ever
    assert sequence_wrong / streams <= 0.025 + 0.02
    assert normal_wrong / streams > 0.05  # one-sided 2.5% per look, but 6 looks: well over the nominal rate


def test_the_bound_tightens_as_rows_arrive() -> None:
    rng = np.random.default_rng(3)
    x = (rng.random(3000) < 0.7).astype(float)
    widths = [0.7 - lower_bound(x[:n], 0.0, 0.025) for n in (50, 300, 3000)]
    assert widths[0] > widths[1] > widths[2] > 0.0
    assert widths[2] < 0.05
