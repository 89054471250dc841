"""The window a run consumes and when its join may start (DESIGN.md section 4).

A triggered run takes every decision up to the threshold crossing, `(watermark, crossing]`, and joins once the last
of them had its full reward wait and what was sent by then has landed in S3 (`join_after`). Ending the window
`reward_wait` before the crossing instead, and joining at once, raced Firehose: a decision whose record was still in
a buffer was left out of its window for good, and the rewards that crossed the threshold trained the next run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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


def plan_window(watermark: str | None, now: datetime, reward_wait_seconds: float) -> Window | None:
    """A window ending `reward_wait_seconds` before `now`; None when it would be empty (the watermark covers it).

    With a wait of 0 it is a triggered run's window, `(watermark, crossing]`. The join of a run started by hand
    (bootstrap) plans it with the reward wait, since it joins at once: its decisions have then had their wait.
    """
    end = now - timedelta(seconds=reward_wait_seconds)
    start = parse_iso(watermark) if watermark else end - FIRST_RUN_LOOKBACK
    if start >= end:
        return None
    return Window(start, end)


def join_after(window: Window, reward_wait_seconds: float, delivery_lag_seconds: float) -> datetime:
    """When the window's join may start: its last decision's reward wait is over and everything sent by then
    (decisions and rewards, each up to a Firehose buffer late) is in S3.

    Rounded up to a whole second: Step Functions reads a Wait state's timestamp to the second.
    """
    due = window.end + timedelta(seconds=reward_wait_seconds + delivery_lag_seconds)
    return datetime.fromtimestamp(math.ceil(due.timestamp()), UTC)
