"""Logs for the evaluation tests: a classification task logged by a known policy, and SageMaker layouts."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "container"))

from container_helpers import joined_row
from container_helpers import served_by as served_by  # re-exported for the drift tests

ACTIONS = ["a", "b", "c"]


def true_class(x: list[float]) -> str:
    if x[0] > 0.6:
        return "a"
    return "b" if x[1] > 0.5 else "c"


def joined_rows(n: int, seed: int = 1, probabilities: list[float] | None = None) -> list[dict[str, Any]]:
    """Joined rows logged by a fixed (context-free) policy; reward 1 for the right class."""
    rng = random.Random(seed)
    probs = probabilities or [1 / len(ACTIONS)] * len(ACTIONS)
    rows = []
    for i in range(n):
        x = [round(rng.random(), 4) for _ in range(3)]
        index = rng.choices(range(len(ACTIONS)), weights=probs)[0]
        action = ACTIONS[index]
        reward = 1.0 if action == true_class(x) else 0.0
        rows.append(joined_row(f"ev-{seed}-{i}", x, index, probs, reward, model_id="logger"))
    return rows


def write_channel(root: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    channel = root / "input" / "data" / name
    channel.mkdir(parents=True, exist_ok=True)
    (channel / "part-0.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return channel


def write_hyperparameters(root: Path, hyperparameters: dict[str, str]) -> None:
    (root / "input" / "config").mkdir(parents=True, exist_ok=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
