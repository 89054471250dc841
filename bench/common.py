"""Helpers every benchmark shares: where results go and how they are written."""

from __future__ import annotations

import json
import platform
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


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


def free_port() -> int:
    """A loopback port nothing listens on now (benchmarks never take the runtime's default 4566)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timestamp(value: Any) -> float:
    """Epoch seconds of a boto3 datetime (or a number already)."""
    return value.timestamp() if isinstance(value, datetime) else float(value)
