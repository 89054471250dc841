"""`python -m bench reliability`: every reliability scenario (`local.reliability`) on one detached local runtime, with
every failure and rollback kind, and the per-fault-kind table (injected, served, landed, joined, lost, duplicated,
corrupted, answered-but-unlogged) in `bench/results/reliability.json`. docs/reliability.md says what each fault is
and what must hold.

`RELIABILITY_KINDS=gzip_bomb_reward_object,garbage_reward_lines python -m bench reliability` runs the bootstrap and
just the scenarios those fault kinds need (`local.reliability.run.KIND_SCENARIOS`) and prints their table and JSON
without writing `bench/results/reliability.json`, which only a whole run replaces."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import write_result
from local.reliability.checks import KindRow, kind_table, summarize
from local.reliability.run import run_all, scenarios_for, without_served
from local.reliability.scenarios import FAILURES, SERVING_FAULTS, SETTINGS, TRIGGER_FAULTS, serving_figures

ROLLBACKS = ("unhealthy", "erroring", "sigterm")


KINDS_ENV = "RELIABILITY_KINDS"
"""Comma-separated fault kinds: run only those (a subset run writes no result file)."""


def main(
    failures: Sequence[str] = tuple(FAILURES), rollbacks: Sequence[str] = ROLLBACKS, only: Sequence[str] | None = None
) -> dict[str, Any]:
    if only is None and os.environ.get(KINDS_ENV, "").strip():
        only = [k.strip() for k in os.environ[KINDS_ENV].split(",") if k.strip()]
    if only is not None:
        scenarios_for(only)  # an unknown kind fails here, before a runtime starts
    work = Path(tempfile.mkdtemp(prefix="bench-reliability-"))
    started = time.monotonic()
    load_average = os.getloadavg()
    try:
        observations = run_all(work, failures, rollbacks, only=only)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    observations["serving"] = serving_figures(observations)
    kinds = observations.get("kinds", [])
    rows = [KindRow(**{k: v for k, v in row.items() if k != "clean"}) for row in kinds]
    result = {
        **summarize(observations, observations.get("injected", {})),
        "fault_kinds": len(rows),
        "fault_kinds_clean": sum(1 for r in rows if r.clean),
        "kinds": {r.kind: {k: v for k, v in row.items() if k != "kind"} for r, row in zip(rows, kinds, strict=True)},
        "totals": {
            key: sum(getattr(r, key) for r in rows)
            for key in ("served", "landed", "joined", "lost", "duplicated", "corrupted", "unlogged")
        },
        "scenarios": without_served({k: v for k, v in observations.items() if k not in ("injected", "kinds")}),
        "settings": SETTINGS,
        "serving_faults": SERVING_FAULTS,
        "trigger_faults": TRIGGER_FAULTS,
        "seconds": round(time.monotonic() - started, 1),
        "load_average_at_start": [round(x, 2) for x in load_average],
        "cpus": os.cpu_count(),
        "only": sorted(only) if only is not None else None,
    }
    if only is None:
        write_result("reliability", result)
    print(kind_table(rows), flush=True)
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, sort_keys=True, default=str))
