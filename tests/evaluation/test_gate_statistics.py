"""The gate's paired difference at n = 50-300 on a bandit with a known truth; the ESS warning; DR's floored model."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from container.evaluation.estimators import (
    ESTIMATORS,
    WEIGHT_CAP,
    Logged,
    floored_reward_model,
    logging_policy_terms,
    paired_difference,
    policy_terms,
)
from container.evaluation.report import gate, low_ess, warnings_for

EPSILON = 0.3
GRID = np.linspace(0.0, 1.0, 100_001)


def _means(x: np.ndarray) -> np.ndarray:
    return np.column_stack([0.2 + 0.6 * x, np.full(len(x), 0.5), 0.8 - 0.6 * x])


def _greedy(actions: np.ndarray) -> np.ndarray:
    return (1 - EPSILON) * np.eye(3)[actions] + EPSILON / 3


def _serving(x: np.ndarray) -> np.ndarray:
    return _greedy(np.ones(len(x), dtype=np.int64))  # always the middle action, explores 30%


@functools.cache
def _share(gap: float) -> float:
    """How much of the best (gap > 0) or worst (gap < 0) policy to mix into serving for a true gap `gap`."""
    means = _means(GRID)
    other = _greedy(np.argmax(means, axis=1) if gap > 0 else np.argmin(means, axis=1))
    serving_value = float(np.mean(np.sum(_serving(GRID) * means, axis=1)))
    share = gap / (float(np.mean(np.sum(other * means, axis=1))) - serving_value) if gap else 0.0
    assert 0.0 <= share <= 1.0, f"gap {gap} is out of this problem's reach"
    return share


def _candidate(x: np.ndarray, gap: float) -> np.ndarray:
    """Serving mixed with the best (gap > 0) or the worst (gap < 0) epsilon-greedy policy to a true gap `gap`."""
    share = _share(gap)
    chosen_other = _greedy(np.argmax(_means(x), axis=1) if gap > 0 else np.argmin(_means(x), axis=1))
    return share * chosen_other + (1 - share) * _serving(x)


def _holdout(n: int, rng: np.random.Generator) -> tuple[np.ndarray, Logged, np.ndarray]:
    x = rng.random(n)
    mu = _serving(x)
    chosen = (rng.random(n)[:, None] > np.cumsum(mu, axis=1)).sum(axis=1)
    reward = (rng.random(n) < _means(x)[np.arange(n), chosen]).astype(float)
    # a deliberately biased reward model: DR must stay valid whatever the model
    reward_hat = np.clip(_means(x) + 0.2, 0.0, 1.0)
    return x, Logged(chosen.astype(np.int64), mu[np.arange(n), chosen], reward, (0.0, 1.0), logging=mu), reward_hat


@pytest.mark.parametrize("n", [50, 100, 300])
def test_paired_difference_covers_the_true_gap_at_small_n(n: int) -> None:
    """200 holdouts per n, candidates better and worse by 0.1: every estimator's interval covers >= 95%."""
    rng = np.random.default_rng(100 + n)
    covered = {name: 0 for name in ESTIMATORS}
    draws = 0
    for _ in range(100):
        x, logged, reward_hat = _holdout(n, rng)
        serving = policy_terms(_serving(x), logged, reward_hat)
        for gap in (-0.1, 0.1):
            terms = policy_terms(_candidate(x, gap), logged, reward_hat)
            draws += 1
            for name in ESTIMATORS:
                result = paired_difference(terms, serving, name).interval
                covered[name] += result.ci_low <= gap <= result.ci_high
    for name in ESTIMATORS:
        assert covered[name] / draws >= 0.95, (name, covered[name] / draws)


def test_the_normal_interval_undercovers_on_the_same_holdouts_at_n_50() -> None:
    """Why the gate changed: the previous normal interval on the same paired terms misses too often at n = 50."""
    rng = np.random.default_rng(150)
    normal, draws = 0, 0
    for _ in range(100):
        x, logged, reward_hat = _holdout(50, rng)
        serving = policy_terms(_serving(x), logged, reward_hat)
        for gap in (-0.1, 0.1):
            result = paired_difference(policy_terms(_candidate(x, gap), logged, reward_hat), serving, "ips").normal
            normal += result.ci_low <= gap <= result.ci_high
            draws += 1
    assert normal / draws < 0.93


def test_a_worse_candidate_is_rarely_promoted_and_a_clearly_better_one_usually_is() -> None:
    """Truly worse by 0.05 at n = 300: promoted <= 5%. Better by 0.1 (this problem's per-row sd is ~1.4, so it
    takes ~1,000 rows for any valid test): promoted in most of 100 holdouts of 1,000 rows."""
    rng = np.random.default_rng(7)
    worse = 0
    for _ in range(200):
        x, logged, reward_hat = _holdout(300, rng)
        serving = policy_terms(_serving(x), logged, reward_hat)
        result = paired_difference(policy_terms(_candidate(x, -0.05), logged, reward_hat), serving, "dr")
        worse += gate(result.interval, "dr", 0.01).promote
    better = 0
    for _ in range(100):
        x, logged, reward_hat = _holdout(1000, rng)
        serving = policy_terms(_serving(x), logged, reward_hat)
        result = paired_difference(policy_terms(_candidate(x, 0.1), logged, reward_hat), serving, "dr")
        better += gate(result.interval, "dr", 0.01).promote
    assert worse / 200 <= 0.05
    assert better / 100 >= 0.45


def test_at_the_default_one_sided_95_percent_a_worse_candidate_is_still_rarely_promoted() -> None:
    """`promotion_confidence` 0.95, both intervals, n = 300 (three runs' pooled holdout): a candidate truly worse by
    0.03 (three times the margin) passes at most 5% of 200 holdouts, and the level buys power: a candidate better
    by 0.1 passes more often at 0.95 than at 0.975 on the same holdouts."""
    rng = np.random.default_rng(95)
    worse = {"normal": 0, "sequence": 0}
    better = {0.95: 0, 0.975: 0}
    for _ in range(200):
        x, logged, reward_hat = _holdout(300, rng)
        serving = policy_terms(_serving(x), logged, reward_hat)
        result = paired_difference(policy_terms(_candidate(x, -0.03), logged, reward_hat), serving, "dr", 0.95)
        worse["normal"] += gate(result.normal, "dr", 0.01, confidence=0.95).promote
        worse["sequence"] += gate(result.interval, "dr", 0.01, confidence=0.95).promote
        terms = policy_terms(_candidate(x, 0.1), logged, reward_hat)
        for level in better:
            better[level] += gate(paired_difference(terms, serving, "dr", level).normal, "dr", 0.01).promote
    assert worse["normal"] / 200 <= 0.05 and worse["sequence"] / 200 <= 0.05, worse
    assert better[0.95] > better[0.975], better


def test_a_lower_confidence_moves_both_lower_bounds_up_and_the_normal_one_by_the_quantile_ratio() -> None:
    """`promotion_confidence` 0.95 against the two-sided 95% interval's 0.975: the normal half-width shrinks by
    z_0.95 / z_0.975, and the sequence (alpha doubled on the lower side) rules out more, never less."""
    x, logged, reward_hat = _holdout(300, np.random.default_rng(3))
    terms = policy_terms(_candidate(x, 0.03), logged, reward_hat)
    serving = policy_terms(_serving(x), logged, reward_hat)
    strict = paired_difference(terms, serving, "dr")
    loose = paired_difference(terms, serving, "dr", 0.95)
    ratio = (loose.normal.value - loose.normal.ci_low) / (strict.normal.value - strict.normal.ci_low)
    assert ratio == pytest.approx(1.6448536269514722 / 1.959963984540054)
    assert loose.interval.ci_low > strict.interval.ci_low and loose.interval.ci_high < strict.interval.ci_high
    assert loose.interval.value == strict.interval.value


def test_a_candidate_identical_to_serving_has_a_zero_difference_and_promotes() -> None:
    x, logged, reward_hat = _holdout(50, np.random.default_rng(1))
    same = policy_terms(_serving(x), logged, reward_hat)
    for name in ESTIMATORS:
        result = paired_difference(same, same, name).interval
        assert (result.value, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
        assert gate(result, name, 0.01).promote


def test_the_floor_of_the_paired_terms_bounds_every_row_and_every_action() -> None:
    x, logged, reward_hat = _holdout(120, np.random.default_rng(2))
    terms = policy_terms(_candidate(x, 0.1), logged, reward_hat)
    serving = logging_policy_terms(logged)
    for name in ESTIMATORS:
        result = paired_difference(terms, serving, name)
        paired = terms.gate[name] - serving.gate[name]
        assert result.floor <= paired.min() and paired.max() <= result.ceiling
        assert result.floor >= -(1 + WEIGHT_CAP) - 1e-9  # floored corrections: no row below -(1 + tau) * spread


def test_ess_warning_fires_on_a_weight_problem_not_on_a_small_holdout_that_agrees() -> None:
    assert not low_ess(49.0, 49)  # 49 rows, the candidate plays like the logger: small, not skewed
    assert not low_ess(30.0, 49)
    assert low_ess(20.0, 49)  # the weights lose more than half the rows
    assert low_ess(80.0, 1000)  # below 10% of the rows
    assert not low_ess(120.0, 1000)
    x, logged, reward_hat = _holdout(49, np.random.default_rng(4))
    agreeing = policy_terms(_serving(x), logged, reward_hat)
    assert agreeing.ess == pytest.approx(49.0)
    assert not any("effective sample size" in w for w in warnings_for(agreeing, 49))


def test_dr_cannot_be_dragged_below_the_range_by_a_few_large_weight_failures() -> None:
    """49 rows; the candidate always plays action 0, which the logger plays with 0.05; the model says it always
    succeeds. 2 of its 5 logged rows succeed: IPS 40/49 = 0.82, while unfloored DR is 1 - 60/49 < 0 (clipped to 0)."""
    n = 49
    chosen = np.array([0] * 5 + [1] * 44)
    reward = np.array([1.0, 1.0, 0.0, 0.0, 0.0] + [1.0] * 44)
    mu = np.tile([0.05, 0.95], (n, 1))
    logged = Logged(chosen, mu[np.arange(n), chosen], reward, (0.0, 1.0), logging=mu)
    target = np.tile([1.0, 0.0], (n, 1))
    reward_hat = np.tile([1.0, 1.0], (n, 1))
    terms = policy_terms(target, logged, reward_hat)
    ips, dr = terms.interval("ips").value, terms.interval("dr").value
    assert ips == pytest.approx(40 / 49)
    floored = floored_reward_model(target, mu, reward_hat, (0.0, 1.0))
    assert floored[0, 0] == pytest.approx(WEIGHT_CAP / 20)  # lo + tau * spread / w
    assert dr == pytest.approx(0.1 + (2 * 20 * 0.9 - 3 * 20 * 0.1) / 49)
    assert abs(dr - ips) < 0.15
    assert terms.dr_unfloored == pytest.approx(1 - 60 / 49)
    assert any("DR with the full reward model fell below the reward range" in w for w in warnings_for(terms, n))


def test_the_normal_interval_reads_the_policies_own_terms_not_the_floored_gate_terms() -> None:
    """Under a near-deterministic logger (the candidate's action logged with 0.002) the floored model makes the
    large-weight rows IPS terms; the normal interval must be centred on the policies' own DR difference."""
    n = 400
    rng = np.random.default_rng(7)
    x = rng.random(n)
    mu = np.column_stack([np.full(n, 0.002), np.full(n, 0.996), np.full(n, 0.002)])
    chosen = (rng.random(n)[:, None] > np.cumsum(mu, axis=1)).sum(axis=1)
    reward = (rng.random(n) < _means(x)[np.arange(n), chosen]).astype(float)
    logged = Logged(chosen.astype(np.int64), mu[np.arange(n), chosen], reward, (0.0, 1.0), logging=mu)
    reward_hat = _means(x)
    candidate = policy_terms(np.eye(3)[np.argmax(_means(x), axis=1)], logged, reward_hat)
    serving = policy_terms(mu, logged, reward_hat)
    result = paired_difference(candidate, serving, "dr")
    own = float(np.mean(candidate.terms["dr"]) - np.mean(serving.terms["dr"]))
    assert result.normal.value == pytest.approx(own)
    assert result.normal.ci_low <= own <= result.normal.ci_high
