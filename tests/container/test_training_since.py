"""`training_since`: after a detected change the job learns only the rows logged after it, each event once."""

from __future__ import annotations

from pathlib import Path

import pytest
from container_helpers import logged_rows, make_layout, served_by

from container.core.layout import Layout
from container.core.split import is_holdout
from container.training import train


def test_only_rows_after_the_change_are_learned_and_a_repeated_event_counts_once(tmp_path: Path) -> None:
    rows = logged_rows(300)
    for i, row in enumerate(rows):
        row["event_time"] = f"2026-11-23T00:{i // 60:02d}:{i % 60:02d}.000Z"
    repeated = rows[250:260]  # a failed run's window joined again by the next run
    root = make_layout(tmp_path, rows + repeated, {"model_id": "m-fresh", "training_since": "2026-11-23T00:03:19.000Z"})
    metadata = train.run(Layout(root))
    after = [r for r in rows[200:] if not is_holdout(r["event_id"], 0.2)]
    assert metadata["examples"] == len(after)
    assert metadata["rows_read"] == 310


def test_a_training_since_that_is_not_a_time_fails_with_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_layout(tmp_path, logged_rows(20), {"training_since": "last tuesday"})
    monkeypatch.setenv("SM_ML_ROOT", str(root))
    assert train.main([]) == 1
    failure = (root / "output" / "failure").read_text()
    assert "hyperparameter 'training_since' is 'last tuesday'" in failure


def _served_rows(n: int, drop_at: int) -> list[dict]:
    return served_by(logged_rows(n, seed=5), "serving-1", drop_at)


def test_a_change_in_its_own_window_restarts_the_job_on_the_rows_after_it_with_more_exploration(tmp_path: Path) -> None:
    band = {"serving_model_id": "serving-1", "serving_expected_low": "0.85", "serving_expected_high": "0.95"}
    hyperparameters = {"model_id": "m-2", "drift_margin": "0.01", **band}
    metadata = train.run(Layout(make_layout(tmp_path, _served_rows(300, 200), hyperparameters)))
    # Band [0.84, 0.96]: a failure multiplies the CUSUM by 3.625, the sixth (row 205) reaches 1,000; the run began
    # after row 199, the last success (01:03:19).
    assert metadata["drift"] == {
        "change_after": "2026-11-23T01:03:19.000Z",
        "detected_at": "2026-11-23T01:03:25.000Z",
        "rows_after": 100,
    }
    after = [f"e-5-{i}" for i in range(200, 300) if not is_holdout(f"e-5-{i}", 0.2)]
    assert metadata["examples"] == len(after)
    assert metadata["hyperparameters"]["exploration_floor"] == pytest.approx(0.3 / 3)  # 30% over the 3 actions


def test_inside_the_band_nothing_changes_and_exploration_share_alone_raises_the_floor(tmp_path: Path) -> None:
    band = {"serving_model_id": "serving-1", "serving_expected_low": "0.85", "serving_expected_high": "1"}
    hyperparameters = {"model_id": "m-3", "exploration_share": "0.6", **band}
    metadata = train.run(Layout(make_layout(tmp_path, _served_rows(300, 300), hyperparameters)))
    assert metadata["drift"] is None
    assert metadata["examples"] == sum(not is_holdout(f"e-5-{i}", 0.2) for i in range(300))
    assert metadata["hyperparameters"]["exploration_floor"] == pytest.approx(0.2)
