"""The path from a computed reward to the sink, with the faults real applications have.

Delay: each reward is due a random number of rounds after its decision (exponential with the given mean, in
rounds, so a run is deterministic); due rewards are sent in the order of their due time. Loss: a share is never
sent. Duplicates: a share is sent twice (the second copy one round later, so it lands in another batch).
Everything is counted, so the summary can say what the pipeline had to cope with.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from simulator.rewards import RewardRecord, RewardSink, iso_time


@dataclass(frozen=True)
class RewardFaults:
    """How rewards misbehave: mean delay (rounds), lost share, duplicated share."""

    delay: float = 0.0
    loss: float = 0.0
    duplicates: float = 0.0

    def __post_init__(self) -> None:
        if self.delay < 0:
            raise ValueError("delay must be >= 0 rounds")
        for name in ("loss", "duplicates"):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be a share between 0 and 1")


@dataclass
class RewardCounts:
    """What happened to the rewards of one run."""

    computed: int = 0
    sent: int = 0
    unique_sent: int = 0
    lost: int = 0
    duplicated: int = 0
    delayed: int = 0
    pending: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RewardChannel:
    """Schedules rewards by round and flushes the due ones to `sink` in due order."""

    def __init__(
        self,
        sink: RewardSink,
        faults: RewardFaults | None = None,
        seed: int = 0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.sink = sink
        self.faults = faults or RewardFaults()
        self.rng = np.random.default_rng(seed + 7919)
        self.clock = clock
        self.counts = RewardCounts()
        self._queue: list[tuple[int, int, str, float]] = []  # (due round, sequence, event_id, reward)
        self._sequence = 0

    def _push(self, due: int, event_id: str, reward: float) -> None:
        heapq.heappush(self._queue, (due, self._sequence, event_id, reward))
        self._sequence += 1

    def submit(self, round_index: int, event_id: str, reward: float) -> None:
        """A reward computed at `round_index`; the faults decide when (and whether, how often) it is sent."""
        self.counts.computed += 1
        if self.faults.loss and self.rng.random() < self.faults.loss:
            self.counts.lost += 1
            return
        delay = round(float(self.rng.exponential(self.faults.delay))) if self.faults.delay else 0
        if delay > 0:
            self.counts.delayed += 1
        self._push(round_index + delay, event_id, reward)
        self.counts.unique_sent += 1
        if self.faults.duplicates and self.rng.random() < self.faults.duplicates:
            self.counts.duplicated += 1
            self._push(round_index + delay + 1, event_id, reward)
        self.counts.pending = len(self._queue)

    def advance(self, round_index: int) -> int:
        """Send everything due at or before `round_index`; returns how many records went out."""
        due: list[RewardRecord] = []
        while self._queue and self._queue[0][0] <= round_index:
            _, _, event_id, reward = heapq.heappop(self._queue)
            now = self.clock() if self.clock else None
            due.append(RewardRecord(event_id, reward, iso_time(now)))
        if due:
            self.sink.send(due)
            self.counts.sent += len(due)
        self.counts.pending = len(self._queue)
        return len(due)

    def flush(self) -> int:
        """End of run: send what is still waiting, in due order."""
        if not self._queue:
            return 0
        return self.advance(max(due for due, *_ in self._queue))
