"""The cross-fitted reward model: out-of-fold predictions that learn threshold structure."""

from __future__ import annotations

import numpy as np
import pytest

from container.evaluation.estimators import Logged
from container.evaluation.reward_model import Supplement, cross_fitted_rewards, design_matrix, fold_ids


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


def _threshold_log(rng: np.random.Generator, n: int) -> tuple[np.ndarray, Logged]:
    xs = rng.random(n)
    chosen = rng.integers(0, 2, n)
    reward = (rng.random(n) < np.where(chosen == 0, 0.2 + 0.6 * (xs > 0.5), 0.8 - 0.6 * (xs > 0.5))).astype(float)
    return xs, Logged(chosen, np.full(n, 0.5), reward)


def test_training_rows_improve_a_small_holdouts_model_and_never_let_a_row_score_itself() -> None:
    rng = np.random.default_rng(4)
    xs, logged = _threshold_log(rng, 60)
    xs_training, training = _threshold_log(rng, 2000)
    design = design_matrix([{"x": v} for v in np.concatenate([xs, xs_training])])
    supplement = Supplement(design[60:], training.chosen, training.reward)
    truth = np.column_stack([0.2 + 0.6 * (xs > 0.5), 0.8 - 0.6 * (xs > 0.5)])
    alone = cross_fitted_rewards(design[:60], logged, 2, seed=1)
    helped = cross_fitted_rewards(design[:60], logged, 2, seed=1, supplement=supplement)
    assert np.mean(np.abs(helped - truth)) < 0.5 * np.mean(np.abs(alone - truth))
    flipped = Logged(logged.chosen, logged.propensity, np.where(np.arange(60) == 5, 1 - logged.reward, logged.reward))
    again = cross_fitted_rewards(design[:60], flipped, 2, seed=1, supplement=supplement)
    assert np.allclose(again[5], helped[5])


def test_a_supplement_must_share_the_holdouts_design_columns() -> None:
    logged = Logged(np.zeros(4, dtype=np.int64), np.full(4, 0.5), np.ones(4))
    supplement = Supplement(np.zeros((3, 2)), np.zeros(3, dtype=np.int64), np.ones(3))
    with pytest.raises(ValueError, match="2 design columns, the holdout 1"):
        cross_fitted_rewards(np.zeros((4, 1)), logged, 1, supplement=supplement)
    with pytest.raises(ValueError, match="one design row"):
        Supplement(np.zeros((3, 2)), np.zeros(2, dtype=np.int64), np.ones(3))
