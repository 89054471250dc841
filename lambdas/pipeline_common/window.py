"""The window a run consumes: `(watermark, now - reward_wait]` (DESIGN.md section 4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pipeline_common.errors import InvalidEvent
from pipeline_common.timefmt import iso, parse_iso

FIRST_RUN_LOOKBACK = timedelta(days=30)
"""Without a watermark (first run, bootstrap) the window starts this long before its end.

Starting at the epoch would make Athena's partition projection enumerate half a million hour partitions.
"""


@dataclass(frozen=True)
class Window:
    """A half-open time window `(start, end]` of decision times."""

    start: datetime
    end: datetime

    def to_dict(self) -> dict[str, str]:
        return {"start": iso(self.start), "end": iso(self.end)}

    @classmethod
    def from_dict(cls, raw: Any) -> Window:
        if not isinstance(raw, dict) or "start" not in raw or "end" not in raw:
            raise InvalidEvent(f"window must be an object with start and end, got {raw!r}")
        window = cls(parse_iso(str(raw["start"])), parse_iso(str(raw["end"])))
        if window.start >= window.end:
            raise InvalidEvent(f"window start {raw['start']} is not before its end {raw['end']}")
        return window


def plan_window(watermark: str | None, now: datetime, reward_wait_seconds: int) -> Window | None:
    """The next run's window; None when it would be empty (the watermark already covers `now - reward_wait`).

    The end lags `now` by the reward wait so every decision in the window had its full chance to get a reward.
    """
    end = now - timedelta(seconds=reward_wait_seconds)
    start = parse_iso(watermark) if watermark else end - FIRST_RUN_LOOKBACK
    if start >= end:
        return None
    return Window(start, end)
