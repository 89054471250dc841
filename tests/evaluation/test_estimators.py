"""The estimators on hand-computed logs, on a synthetic log with a known value, and on degenerate input."""

from __future__ import annotations

import numpy as np
import pytest

from container.evaluation.errors import DistributionError, EmptyHoldoutError, EvaluationError, PropensityError
from container.evaluation.estimators import (
    Z_95,
    Logged,
    difference,
    interval,
    logging_policy_terms,
    policy_terms,
)


def _tiny() -> tuple[Logged, np.ndarray, np.ndarray]:
    logged = Logged(
        chosen=np.array([0, 1, 0, 1]),
        propensity=np.array([0.5, 0.5, 0.25, 0.75]),
        reward=np.array([1.0, 0.0, 1.0, 1.0]),
    )
    target = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.5, 0.5]])
    reward_hat = np.array([[0.8, 0.2], [0.6, 0.4], [0.5, 0.5], [0.7, 0.3]])
    return logged, target, reward_hat


def test_ips_snips_dr_match_hand_computation() -> None:
    logged, target, reward_hat = _tiny()
    terms = policy_terms(target, logged, reward_hat)
    # weights: 1/0.5=2, 0.5/0.5=1, 0/0.25=0, 0.5/0.75=2/3
    w = np.array([2.0, 1.0, 0.0, 2 / 3])
    assert terms.interval("ips").value == pytest.approx((2 + 0 + 0 + 2 / 3) / 4)
    assert terms.interval("snips").value == pytest.approx((2 + 2 / 3) / w.sum())
    direct = np.array([0.8, 0.5, 0.5, 0.5])
    correction = w * (logged.reward - np.array([0.8, 0.4, 0.5, 0.3]))
    assert terms.interval("dr").value == pytest.approx(float(np.mean(direct + correction)))
    assert terms.ess == pytest.approx(w.sum() ** 2 / (w**2).sum())
    assert terms.min_propensity == 0.25


def test_interval_is_mean_plus_minus_z_standard_error() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0])
    result = interval(values)
    half = Z_95 * np.std(values, ddof=1) / 2
    assert (result.value, result.ci_low, result.ci_high) == pytest.approx((2.5, 2.5 - half, 2.5 + half))


def test_interval_at_a_one_sided_confidence_uses_that_normal_quantile() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0])
    result = interval(values, 0.95)
    half = 1.6448536269514722 * np.std(values, ddof=1) / 2  # the 95th percentile of the standard normal
    assert (result.ci_low, result.ci_high) == pytest.approx((2.5 - half, 2.5 + half))
    for confidence in (0.5, 1.0, 0.3, float("nan")):
        with pytest.raises(EvaluationError, match=r"must be above 0\.5 and below 1"):
            interval(values, confidence)


def test_snips_interval_is_the_delta_method() -> None:
    logged, target, reward_hat = _tiny()
    snips = policy_terms(target, logged, reward_hat).terms["snips"]
    w = target[np.arange(4), logged.chosen] / logged.propensity
    value = np.sum(w * logged.reward) / w.sum()
    influence = w * (logged.reward - value) / w.mean()
    assert np.allclose(snips - value, influence)


def test_paired_difference_of_a_policy_with_itself_is_exactly_zero() -> None:
    logged, target, reward_hat = _tiny()
    terms = policy_terms(target, logged, reward_hat)
    for result in difference(terms, terms).values():
        assert (result.value, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)


def _synthetic(n: int, seed: int) -> tuple[Logged, np.ndarray, float]:
    """Logging: skewed over 3 actions; rewards Bernoulli with action- and context-dependent means."""
    rng = np.random.default_rng(seed)
    x = rng.random(n)
    means = np.column_stack([0.2 + 0.6 * x, 0.5 * np.ones(n), 0.8 - 0.6 * x])
    mu = np.array([0.6, 0.3, 0.1])
    chosen = rng.choice(3, size=n, p=mu)
    reward = (rng.random(n) < means[np.arange(n), chosen]).astype(float)
    target = np.where(x[:, None] > 0.5, [0.8, 0.1, 0.1], [0.1, 0.1, 0.8])
    true_value = float(np.mean(np.sum(target * means, axis=1)))
    return Logged(chosen, mu[chosen], reward), target, true_value


def test_ips_is_unbiased_and_its_interval_covers_the_true_value() -> None:
    logged, target, true_value = _synthetic(20_000, seed=5)
    ips = policy_terms(target, logged, np.zeros_like(target)).interval("ips")
    assert ips.ci_low <= true_value <= ips.ci_high
    assert ips.ci_high - ips.ci_low < 0.05
    estimates = [
        policy_terms(t, lg, np.zeros_like(t)).interval("ips").value
        for lg, t, _ in (_synthetic(2000, seed=s) for s in range(40))
    ]
    assert abs(np.mean(estimates) - true_value) < 3 * np.std(estimates) / np.sqrt(len(estimates))


def test_logging_policy_on_its_own_log_scores_the_logged_mean_reward() -> None:
    logged, _, _ = _synthetic(500, seed=2)
    deterministic = Logged(logged.chosen, np.ones(logged.rows), logged.reward)
    target = np.eye(3)[logged.chosen]
    terms = policy_terms(target, deterministic, np.full_like(target, 0.3))
    for name in ("ips", "snips", "dr"):
        assert terms.interval(name).value == pytest.approx(float(logged.reward.mean()))
    baseline = logging_policy_terms(logged)
    assert baseline.interval("dr").value == pytest.approx(float(logged.reward.mean()))
    assert baseline.ess == logged.rows


@pytest.mark.parametrize("bad", [0.0, -0.1, float("nan"), 1.5])
def test_bad_propensities_are_an_error_not_a_number(bad: float) -> None:
    with pytest.raises(PropensityError, match="propensit"):
        Logged(np.array([0, 1]), np.array([0.5, bad]), np.array([1.0, 0.0]))


def test_empty_log_is_an_error() -> None:
    with pytest.raises(EmptyHoldoutError):
        Logged(np.array([], dtype=np.int64), np.array([]), np.array([]))


def test_distribution_shape_and_sum_are_checked() -> None:
    logged, target, reward_hat = _tiny()
    with pytest.raises(DistributionError, match="shape"):
        policy_terms(target[:3], logged, reward_hat)
    with pytest.raises(DistributionError, match="sum"):
        policy_terms(target * 0.5, logged, reward_hat)
    with pytest.raises(DistributionError, match="reward model"):
        policy_terms(target, logged, reward_hat[:, :1])
