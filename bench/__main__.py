"""`python -m bench [NAME ...]`: run the benchmarks (all when none is named) and print where results went."""

from __future__ import annotations

import importlib
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType

BENCH_DIR = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(p.stem for p in BENCH_DIR.glob("*.py") if not p.stem.startswith("_") and p.stem != "common")


def terminated(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (`kill`, `timeout`) as an exit, so the benchmarks' `finally` blocks stop the local runtimes they
    started; Python's default would end the process at once and leave those servers and workers running."""
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, terminated)
    names = argv or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    for name in names:
        print(f"== bench {name}", flush=True)
        started = time.perf_counter()
        result = importlib.import_module(f"bench.{name}").main()
        print(json.dumps(result, indent=2, sort_keys=True))
        print(f"== bench {name} done in {time.perf_counter() - started:.1f} s -> bench/results/{name}.json", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
