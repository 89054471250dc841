"""The learning benchmark's pure pieces: where the protocol pauses for runs, the summaries, the reference values."""

from __future__ import annotations

import numpy as np
import pytest

from bench.learning import configurations, reference_values, reward_summary, rolling, segments


def test_runs_come_each_time_the_reward_count_reaches_the_threshold_warm_start_included() -> None:
    stops = segments(7500, 500, 100)
    assert stops[:3] == [400, 900, 1400]
    assert stops[-2:] == [7400, 7500]
    assert len(stops) - 1 == 15  # fifteen retraining runs, then the last 100 interactions
    assert segments(1000, 500, 0) == [500, 1000]


def test_reward_summary_over_all_and_the_last_1000() -> None:
    rewards = [0.0] * 500 + [1.0] * 1000
    summary = reward_summary(rewards)
    assert summary["mean_reward"] == pytest.approx(1000 / 1500)
    assert summary["mean_reward_last_1000"] == 1.0
    with pytest.raises(ValueError, match="no rewards"):
        reward_summary([])


def test_reference_values_from_expected_rewards() -> None:
    expected = [{"1": 1.0, "2": 0.0}, {"1": 1.0, "2": 0.0}, {"1": 0.0, "2": 1.0}, {"1": 1.0, "2": 0.0}]
    refs = reference_values(expected)
    assert refs["best_constant_action"] == "1"
    assert refs["best_constant"] == pytest.approx(0.75)
    assert refs["uniform_random"] == pytest.approx(0.5)
    assert refs["oracle"] == 1.0


def test_rolling_mean_is_trailing_and_shorter_at_the_start() -> None:
    assert np.allclose(rolling([1.0, 0.0, 1.0, 1.0], 2), [1.0, 0.5, 0.5, 1.0])


def test_the_baseline_is_the_examples_configuration_on_the_same_loop() -> None:
    configs = configurations()
    assert configs["baseline"]["exploration"] == {"algorithm": "cover", "cover": 3}
    assert configs["baseline"]["quantile_bins"] == 0
    assert "exploration" not in configs["project"]  # the project's own settings come from cdk.json
    assert configs["project"]["retrain_threshold"] == configs["baseline"]["retrain_threshold"] == 500
