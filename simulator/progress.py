"""Progress lines on stderr while a run goes: rounds done, rate, rolling reward, serving model, rewards in flight."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints at most every `every_seconds` (and once at the end), so fast runs do not flood the terminal."""

    def __init__(self, total: int, stream: TextIO | None = None, every_seconds: float = 2.0) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.every_seconds = every_seconds
        self.started = time.monotonic()
        self._last = 0.0

    def update(
        self, done: int, recent_mean: float, model_id: str, sent: int, pending: int, final: bool = False
    ) -> None:
        now = time.monotonic()
        if not final and now - self._last < self.every_seconds:
            return
        self._last = now
        elapsed = max(now - self.started, 1e-9)
        print(
            f"[simulator] {done}/{self.total} rounds  {done / elapsed:,.0f}/s  "
            f"recent mean reward {recent_mean:.3f}  model {model_id}  rewards sent {sent} pending {pending}",
            file=self.stream,
            flush=True,
        )
