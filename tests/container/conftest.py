"""Fixtures for the container tests: one trained model shared by the tests that only read it."""

from __future__ import annotations

from pathlib import Path

import pytest
from container_helpers import logged_rows, make_layout

from container.core.layout import Layout
from container.training import train


@pytest.fixture(scope="session")
def trained_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished training job (model/ written) on 3,000 logged rows."""
    root = make_layout(tmp_path_factory.mktemp("trained"), logged_rows(3000), {"model_id": "m-1"})
    train.run(Layout(root))
    return root


@pytest.fixture(scope="session")
def model_dir(trained_root: Path) -> Path:
    return trained_root / "model"
