"""The OPE benchmark's pure pieces on tiny inputs: true values from labels, the example's method wrapper,
action sampling and the bias / RMSE / coverage aggregation (the full benchmark takes minutes; these take seconds)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.ope import _sample, aggregate, true_values, vw_eval


def test_true_value_is_the_mean_probability_of_the_right_class() -> None:
    labels = np.array([0, 2, 1])
    perfect = np.eye(3)[labels]
    uniform = np.full((3, 3), 1 / 3)
    mixed = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    values = true_values({"perfect": perfect, "uniform": uniform, "mixed": mixed}, labels)
    assert values == pytest.approx({"perfect": 1.0, "uniform": 1 / 3, "mixed": (0.5 + 1.0 + 0.0) / 3})


def test_sampling_follows_each_rows_distribution() -> None:
    rng = np.random.default_rng(0)
    one_hot = np.eye(4)[[3, 0, 2, 1]]
    assert list(_sample(one_hot, rng)) == [3, 0, 2, 1]
    draws = _sample(np.tile([0.2, 0.8], (20_000, 1)), rng)
    assert np.mean(draws == 1) == pytest.approx(0.8, abs=0.02)


def test_example_method_on_a_deterministic_log_of_its_own_actions_is_the_mean_reward() -> None:
    """Propensity 1 and the policy's action logged on every row: VW's DR estimate is exactly the logged mean."""
    lines = ["| x0:1", "| x0:2", "| x0:3", "| x0:4"]
    chosen = np.array([0, 1, 2, 0])
    reward = np.array([1.0, 0.0, 1.0, 1.0])
    value = vw_eval(lines, chosen, chosen, reward, np.ones(4))
    assert value == pytest.approx(0.75)


def test_example_method_ignores_rows_whose_logged_action_the_policy_did_not_pick() -> None:
    """Rewards of other actions only enter through the reward model: all-zero rewards there give a value near 0."""
    lines = [f"| x0:{i}" for i in range(50)]
    chosen = np.zeros(50, dtype=np.int64)
    policy = np.ones(50, dtype=np.int64)
    value = vw_eval(lines, policy, chosen, np.zeros(50), np.full(50, 0.5))
    assert value == pytest.approx(0.0, abs=1e-6)


def test_aggregate_pools_every_policy_and_keeps_each_one() -> None:
    errors = {"a": [0.1, -0.1], "b": [0.2, 0.0]}
    covered = {"a": [True, False], "b": [True, True]}
    widths = {"a": [0.2, 0.4], "b": [0.1, 0.3]}
    result = aggregate(errors, covered, widths)
    assert result["bias"] == pytest.approx(0.05)
    assert result["rmse"] == pytest.approx(np.sqrt((0.01 + 0.01 + 0.04 + 0.0) / 4))
    assert result["coverage"] == pytest.approx(0.75)
    assert result["mean_width"] == pytest.approx(0.25)
    assert result["min_width"] == pytest.approx(0.1)
    assert result["intervals"] == 4
    assert result["per_policy"]["a"] == pytest.approx({"bias": 0.0, "rmse": 0.1, "coverage": 0.5, "mean_width": 0.3})
    assert result["per_policy"]["b"]["coverage"] == 1.0
