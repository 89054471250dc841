"""Helpers every benchmark shares: where results go and how they are written."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SHUTTLE_ACTIONS = [str(c) for c in range(1, 8)]
"""The seven classes of Statlog Shuttle (the AWS bandits example's data set): the actions of its bandit."""


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write `bench/results/<name>.json` with the machine it ran on, and return the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {
        **data,
        "_meta": {
            "benchmark": name,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
    }
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path
