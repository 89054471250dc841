"""The cross-fitted reward model: out-of-fold predictions that learn threshold structure."""

from __future__ import annotations

import numpy as np

from container.evaluation.estimators import Logged
from container.evaluation.reward_model import cross_fitted_rewards, design_matrix, fold_ids


def test_design_has_standardised_numbers_bins_and_one_hot_categories() -> None:
    contexts = [{"x": float(i), "colour": "red" if i % 2 else "blue", "flag": True} for i in range(40)]
    x = design_matrix(contexts, bins=4)
    assert x.shape[0] == 40
    assert abs(float(x[:, 0].mean())) < 1e-9
    assert x.shape[1] == 1 + 3 + 2 + 1


def test_folds_are_balanced_and_seeded() -> None:
    folds = fold_ids(103, 5, seed=1)
    assert sorted(np.bincount(folds)) == [20, 20, 21, 21, 21]
    assert np.array_equal(folds, fold_ids(103, 5, seed=1))


def test_predictions_track_a_threshold_reward_and_never_see_their_own_row() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    xs = rng.random(n)
    chosen = rng.integers(0, 2, n)
    reward = np.where(chosen == 0, xs > 0.5, xs <= 0.5).astype(float)
    logged = Logged(chosen, np.full(n, 0.5), reward)
    predictions = cross_fitted_rewards(design_matrix([{"x": v} for v in xs]), logged, 2, seed=3)
    truth = np.column_stack([xs > 0.5, xs <= 0.5]).astype(float)
    assert np.mean(np.abs(predictions - truth)) < 0.15
    # A row's own reward flipped changes no prediction of its own row (it is out of fold).
    flipped = Logged(chosen, logged.propensity, np.where(np.arange(n) == 7, 1 - reward, reward))
    again = cross_fitted_rewards(design_matrix([{"x": v} for v in xs]), flipped, 2, seed=3)
    assert np.allclose(again[7], predictions[7])


def test_unseen_actions_fall_back_to_the_mean_reward() -> None:
    logged = Logged(np.zeros(10, dtype=np.int64), np.full(10, 0.5), np.arange(10) % 2 * 1.0)
    predictions = cross_fitted_rewards(np.zeros((10, 0)), logged, 2, folds=2, seed=0)
    assert np.all((predictions >= 0.0) & (predictions <= 1.0))
