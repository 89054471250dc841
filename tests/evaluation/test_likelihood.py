"""Empirical-likelihood intervals: never zero width, close to Wilson for proportions, honest near a reward bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from container.evaluation.estimators import (
    Logged,
    hidden_row_support,
    hidden_weight,
    logging_policy_terms,
    policy_terms,
)
from container.evaluation.likelihood import (
    critical_value,
    log_likelihood_ratio,
    mean_interval,
    ratio_interval,
)


def _wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_critical_value_is_the_t_squared_quantile() -> None:
    assert critical_value(2) == pytest.approx(12.7062047**2)
    assert critical_value(11) == pytest.approx(2.2281389**2, rel=1e-3)
    assert critical_value(100_000) == pytest.approx(3.8414588, rel=1e-4)


def test_likelihood_ratio_is_zero_at_the_mean_and_grows_away_from_it() -> None:
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    assert log_likelihood_ratio(y - y.mean(), -y.mean(), 1 - y.mean()) == pytest.approx(0.0, abs=1e-9)
    near, far = (log_likelihood_ratio(y - v, -v, 1 - v) for v in (0.5, 0.3))
    assert 0.0 < near < far


def test_all_successes_give_a_positive_width_interval_like_wilson() -> None:
    low, high = mean_interval(np.ones(1000), 0.0, 1.0)
    wilson_low, _ = _wilson(1000, 1000)
    assert high == pytest.approx(1.0)
    assert 0.99 < low < 1.0
    assert low == pytest.approx(wilson_low, abs=0.003)


@pytest.mark.parametrize(("successes", "n"), [(90, 100), (480, 1000), (995, 1000)])
def test_proportion_intervals_are_close_to_wilson(successes: int, n: int) -> None:
    y = np.r_[np.ones(successes), np.zeros(n - successes)]
    low, high = mean_interval(y, 0.0, 1.0)
    wilson = _wilson(successes, n)
    assert low < y.mean() < high
    assert (low, high) == pytest.approx(wilson, abs=0.01)


def test_ratio_interval_contains_snips_and_widens_with_the_largest_weight() -> None:
    rng = np.random.default_rng(3)
    w = rng.choice([0.0, 1.0, 2.0], size=400)
    r = (rng.random(400) < 0.97).astype(float)
    value = float(np.sum(w * r) / np.sum(w))
    narrow = ratio_interval(w, r, 0.0, 1.0, 2.0)
    wide = ratio_interval(w, r, 0.0, 1.0, 50.0)
    assert narrow[0] < value < narrow[1] <= 1.0
    assert wide[0] < narrow[0]


def test_policy_that_never_matches_the_log_has_the_whole_range_for_snips() -> None:
    logged = Logged(np.array([0, 0, 0]), np.array([0.5, 0.5, 0.5]), np.array([1.0, 0.0, 1.0]))
    target = np.tile([0.0, 1.0], (3, 1))
    snips = policy_terms(target, logged, np.zeros_like(target)).interval("snips")
    assert (snips.ci_low, snips.ci_high) == (0.0, 1.0)


def _near_perfect(n: int, seed: int) -> tuple[Logged, np.ndarray, np.ndarray, float]:
    """A logger that rarely plays the target's action in a hard region: failures hide behind large weights."""
    rng = np.random.default_rng(seed)
    hard = rng.random(n) < 0.3
    mu_good = np.where(hard, 0.04, 0.9)  # logger's probability of the target's (action 0) choice
    chosen = (rng.random(n) >= mu_good).astype(np.int64)
    p_right = np.where(hard, 0.95, 1.0)  # target's action is right with this probability
    reward = np.where(chosen == 0, rng.random(n) < p_right, 0.0).astype(float)
    propensity = np.where(chosen == 0, mu_good, 1 - mu_good)
    target = np.tile([1.0, 0.0], (n, 1))
    reward_hat = np.tile([0.99, 0.0], (n, 1))
    return Logged(chosen, propensity, reward), target, reward_hat, 1.0 - 0.3 * 0.05  # E[p_right]


def test_intervals_cover_a_near_perfect_policy_where_normal_intervals_do_not() -> None:
    """The failure mode of the benchmark, small: normal SNIPS intervals undercover, likelihood ones do not."""
    covered = {"ips": 0, "snips": 0, "dr": 0}
    normal_snips = 0
    reps = 150
    for seed in range(reps):
        logged, target, reward_hat, truth = _near_perfect(500, seed)
        terms = policy_terms(target, logged, reward_hat)
        for name in covered:
            result = terms.interval(name)
            assert result.ci_high - result.ci_low > 0.0
            assert 0.0 <= result.ci_low <= result.value <= result.ci_high <= 1.0
            covered[name] += result.ci_low <= truth <= result.ci_high
        snips = terms.terms["snips"]
        half = 1.96 * snips.std(ddof=1) / math.sqrt(len(snips))
        normal_snips += snips.mean() - half <= truth <= snips.mean() + half
    assert normal_snips / reps < 0.85
    for name, count in covered.items():
        assert count / reps >= 0.9, name


def test_extreme_weights_on_a_tiny_holdout_stay_in_the_reward_range() -> None:
    """60 rows, one weight of 100 times a bad reward model: DR's raw mean leaves [0, 1]; the report does not."""
    n = 60
    chosen = np.zeros(n, dtype=np.int64)
    chosen[0] = 1
    propensity = np.full(n, 0.99)
    propensity[0] = 0.01
    reward = np.ones(n)
    reward[0] = 0.0
    logged = Logged(chosen, propensity, reward)
    target = np.tile([0.0, 1.0], (n, 1))
    reward_hat = np.tile([0.0, 1.0], (n, 1))
    terms = policy_terms(target, logged, reward_hat)
    assert terms.raw_value("dr") < 0.0
    dr = terms.interval("dr")
    assert 0.0 <= dr.ci_low <= dr.value <= dr.ci_high <= 1.0
    assert dr.ci_high - dr.ci_low > 0.5


def test_the_logging_policy_gets_a_proportion_interval_on_its_own_rewards() -> None:
    reward = np.r_[np.ones(95), np.zeros(5)]
    logged = Logged(np.zeros(100, dtype=np.int64), np.full(100, 0.5), reward)
    for name in ("ips", "snips", "dr"):
        result = logging_policy_terms(logged).interval(name)
        assert result.value == pytest.approx(0.95)
        assert (result.ci_low, result.ci_high) == pytest.approx(_wilson(95, 100), abs=0.01)


def test_hidden_row_support_fills_the_unseen_share_by_capacity() -> None:
    """Hand-computed: 40 rows, a deterministic target, mu = 0.5: each context can hide 0.5/40 of the log."""
    n = 40
    logged = Logged(np.zeros(n, dtype=np.int64), np.full(n, 0.5), np.ones(n), logging=np.full((n, 2), 0.5))
    target = np.tile([1.0, 0.0], (n, 1))
    r_hat = np.linspace(0.0, 0.975, n)  # the target action's prediction; direct_i = r_hat_i
    reward_hat = np.column_stack([r_hat, np.zeros(n)])
    low, high = hidden_row_support(target, logged, reward_hat, r_hat)
    budget = critical_value(n) / (2 * n)  # 4.09 / 80: four contexts' capacity (0.0125) and 9% of a fifth
    assert 4 * 0.0125 < budget < 5 * 0.0125
    rest = budget - 4 * 0.0125
    up = 2.0 - r_hat  # direct + 2 (1 - r_hat): largest where r_hat is smallest
    down = -r_hat  # direct + 2 (0 - r_hat)
    assert high == pytest.approx((0.0125 * up[:4].sum() + rest * up[4]) / budget)
    assert low == pytest.approx((0.0125 * down[-4:].sum() + rest * down[-5]) / budget)
    assert up.max() > high > up[4] and down.min() < low < down[-5]


def test_without_the_logging_distribution_unseen_actions_take_the_smallest_propensity() -> None:
    """With one context and its logged action known, the other action's hidden row has weight 1 / min propensity."""
    logged = Logged(np.array([0, 1]), np.array([0.8, 0.1]), np.array([1.0, 0.0]))
    target = np.array([[0.0, 1.0], [0.0, 1.0]])
    reward_hat = np.full((2, 2), 0.5)
    direct = np.sum(target * reward_hat, axis=1)
    low, high = hidden_row_support(target, logged, reward_hat, direct)
    # every hidden (row, action 1) term is 0.5 + 10 * (bound - 0.5): the worst case, as before this support
    assert (low, high) == pytest.approx((0.5 - 5.0, 0.5 + 5.0))


def test_a_perfect_reward_model_and_policy_still_get_a_positive_width_dr_interval_that_covers() -> None:
    """Every logged reward is 1 and predicted 1: the DR terms have zero variance, the interval must not collapse."""
    n = 500
    rng = np.random.default_rng(0)
    mu = np.where(rng.random(n) < 0.2, 0.05, 0.9)[:, None] * np.array([1.0, 0.0]) + 0.0
    mu[:, 1] = 1.0 - mu[:, 0]
    chosen = (rng.random(n) >= mu[:, 0]).astype(np.int64)
    reward = (chosen == 0).astype(float)
    logged = Logged(chosen, mu[np.arange(n), chosen], reward, logging=mu)
    target = np.tile([1.0, 0.0], (n, 1))
    reward_hat = np.tile([1.0, 0.0], (n, 1))
    dr = policy_terms(target, logged, reward_hat).interval("dr")
    assert dr.value == pytest.approx(1.0)
    assert dr.ci_high == pytest.approx(1.0)
    assert 0.9 < dr.ci_low < 1.0  # a hidden failure at weight 20 in the 20% of contexts the logger rarely plays 0


def test_dr_support_is_narrower_when_the_logger_plays_the_policy_often() -> None:
    """Knowing mu: contexts where the logger plays the target's action with 0.9 cannot hide weight-20 rows."""
    n = 500
    rng = np.random.default_rng(1)
    target = np.tile([1.0, 0.0], (n, 1))
    reward_hat = np.tile([0.9, 0.1], (n, 1))
    rare = np.column_stack([np.full(n, 0.05), np.full(n, 0.95)])
    often = np.column_stack([np.full(n, 0.9), np.full(n, 0.1)])
    often[0] = [0.05, 0.95]  # the same smallest propensity on one row
    widths = []
    for mu in (rare, often):
        chosen = (rng.random(n) >= mu[:, 0]).astype(np.int64)
        chosen[0] = 1
        logged = Logged(chosen, mu[np.arange(n), chosen], (rng.random(n) < 0.9).astype(float), logging=mu)
        low, high = policy_terms(target, logged, reward_hat).dr_support or (0.0, 0.0)
        widths.append(high - low)
    assert widths[1] < widths[0]


def test_hidden_weight_fills_the_unseen_share_with_the_largest_weights_by_capacity() -> None:
    """Hand-computed: 40 rows, mu = 0.5 everywhere; 3 contexts give weight 2, the rest weights 1.2 and 0.8."""
    n = 40
    logged = Logged(np.zeros(n, dtype=np.int64), np.full(n, 0.5), np.ones(n), logging=np.full((n, 2), 0.5))
    target = np.tile([0.6, 0.4], (n, 1))
    target[:3] = [1.0, 0.0]
    budget = critical_value(n) / (2 * n)  # 0.0511: three weight-2 pairs (0.0125 each), the rest at weight 1.2
    rest = budget - 3 * 0.0125
    assert hidden_weight(target, logged) == pytest.approx((3 * 0.0125 * 2.0 + rest * 1.2) / budget)
    assert hidden_weight(target, logged) < logged.max_weight == 2.0


def test_hidden_weight_without_the_logging_distribution_is_the_worst_case() -> None:
    """Unlogged actions take the smallest propensity: the target's action then has weight 1 / 0.1 everywhere."""
    logged = Logged(np.array([0, 1]), np.array([0.8, 0.1]), np.array([1.0, 0.0]))
    assert hidden_weight(np.array([[0.0, 1.0], [0.0, 1.0]]), logged) == pytest.approx(10.0)


def _rare_contexts_log(n: int, rng: np.random.Generator, success: float) -> tuple[Logged, np.ndarray]:
    """20% of contexts: the logger plays action 0 with 0.05; elsewhere 0.9. Action 0 succeeds w.p. `success`."""
    mu = np.column_stack([np.where(rng.random(n) < 0.2, 0.05, 0.9), np.zeros(n)])
    mu[:, 1] = 1.0 - mu[:, 0]
    chosen = (rng.random(n) >= mu[:, 0]).astype(np.int64)
    reward = ((chosen == 0) & (rng.random(n) < success)).astype(float)
    return Logged(chosen, mu[np.arange(n), chosen], reward, logging=mu), mu


def test_a_perfect_policy_keeps_a_positive_width_snips_interval_that_covers() -> None:
    """All rewards of the target's action are 1: a hidden failure at weight 20 is still possible, width > 0."""
    n = 500
    logged, _ = _rare_contexts_log(n, np.random.default_rng(0), success=1.0)
    terms = policy_terms(np.tile([1.0, 0.0], (n, 1)), logged, np.zeros((n, 2)))
    assert terms.snips_weight == pytest.approx(20.0)  # ~100 rare contexts x 0.05 / n exceed the budget 3.85 / n
    snips = terms.interval("snips")
    assert snips.value == pytest.approx(1.0)
    assert snips.ci_high == pytest.approx(1.0)
    assert 0.9 < snips.ci_low < 1.0


def test_a_policy_that_is_unlikely_where_the_logger_is_rare_gets_a_narrower_snips_interval_that_covers() -> None:
    """pi(0) = 0.3 in the rare contexts: hidden rows weigh at most 6, not 1 / 0.05 = 20; the interval still covers."""
    n, success = 500, 0.95
    rng = np.random.default_rng(4)
    truth = success * (0.8 * 1.0 + 0.2 * 0.3)  # action 1 is never rewarded
    covered, narrower = [], []
    for _ in range(60):
        logged, mu = _rare_contexts_log(n, rng, success)
        target = np.where(mu[:, :1] == 0.05, [0.3, 0.7], [1.0, 0.0])
        terms = policy_terms(target, logged, np.zeros((n, 2)))
        assert terms.snips_weight == pytest.approx(6.0)
        snips = terms.interval("snips")
        low, high = ratio_interval(terms.weights, terms.reward, 0.0, 1.0, logged.max_weight)
        covered.append(snips.ci_low <= truth <= snips.ci_high)
        narrower.append(snips.ci_high - snips.ci_low < high - low)
        assert snips.ci_high - snips.ci_low > 0.0
    assert np.mean(covered) >= 0.9
    assert all(narrower)
