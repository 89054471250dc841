"""Fixtures for the evaluation tests: one small model trained by the container's own `train` job."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_helpers import joined_rows, write_channel, write_hyperparameters

from container.core.layout import Layout
from container.training import train


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory trained on 2,000 uniformly logged rows (holdout_share 0.3 keeps the holdout out)."""
    root = tmp_path_factory.mktemp("train")
    write_hyperparameters(root, {"model_id": "cand-1", "holdout_share": "0.3", "exploration": "epsilon"})
    write_channel(root, "training", joined_rows(2000, seed=3))
    train.run(Layout(root))
    return root / "model"


@pytest.fixture
def copy_model(tmp_path: Path):
    def copy(model_dir: Path, root: Path, channel: str) -> Path:
        target = root / "input" / "data" / channel
        shutil.copytree(model_dir, target)
        return target

    return copy
