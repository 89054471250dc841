"""`training_since`: after a detected change the job learns only the rows logged after it, each event once."""

from __future__ import annotations

from pathlib import Path

import pytest
from container_helpers import logged_rows, make_layout

from container import train
from container.layout import Layout
from container.split import is_holdout


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
