"""Reward records and where they go: the `rewards` Firehose stream (PutRecordBatch), a JSON-lines file, or memory.

A record is one JSON line (`event_id`, `reward`, `reward_time`) with its newline, so the objects Firehose writes to
S3 stay one record per line. Firehose accepts at most 500 records / 4 MiB per call and may reject single records
(`FailedPutCount`); those are resent, with backoff, a bounded number of times.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from contract.firehose import MAX_BATCH_BYTES, MAX_BATCH_RECORDS
from contract.records import json_line, reward_record
from contract.timefmt import iso_from_epoch
from simulator.errors import RewardDeliveryError

MAX_RECORDS_PER_CALL = MAX_BATCH_RECORDS
MAX_BYTES_PER_CALL = MAX_BATCH_BYTES
DEFAULT_ATTEMPTS = 5


iso_time = iso_from_epoch
"""`iso_time(epoch_seconds=None)`: the contract's timestamp (`contract.timefmt`)."""


@dataclass(frozen=True)
class RewardRecord:
    """What a client reports for a decision."""

    event_id: str
    reward: float
    reward_time: str

    def to_line(self) -> bytes:
        return json_line(reward_record(self.event_id, self.reward, self.reward_time))


class RewardSink(Protocol):
    """Delivers reward records; raises `RewardDeliveryError` when it cannot."""

    def send(self, records: Sequence[RewardRecord]) -> None: ...


def chunks(lines: Sequence[bytes]) -> list[list[bytes]]:
    """Split into PutRecordBatch-sized calls (record count and payload size)."""
    out: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        if current and (len(current) >= MAX_RECORDS_PER_CALL or size + len(line) > MAX_BYTES_PER_CALL):
            out.append(current)
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        out.append(current)
    return out


class FirehoseRewardSink:
    """PutRecordBatch to a Firehose stream; resends only the records Firehose reports as failed."""

    def __init__(
        self,
        stream_name: str,
        firehose: Any | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if firehose is None:
            import boto3
            from botocore.config import Config

            firehose = boto3.client("firehose", config=Config(retries={"max_attempts": attempts, "mode": "standard"}))
        self.firehose = firehose
        self.stream_name = stream_name
        self.attempts = attempts
        self.base_delay = base_delay
        self.sleep = sleep
        self.calls = 0
        self.resent = 0

    def _put(self, lines: list[bytes]) -> list[bytes]:
        """One call; returns the lines Firehose did not accept."""
        self.calls += 1
        answer = self.firehose.put_record_batch(
            DeliveryStreamName=self.stream_name, Records=[{"Data": line} for line in lines]
        )
        if not answer.get("FailedPutCount"):
            return []
        results = answer.get("RequestResponses", [])
        return [line for line, result in zip(lines, results, strict=False) if result.get("ErrorCode")]

    def send(self, records: Sequence[RewardRecord]) -> None:
        self.send_lines([r.to_line() for r in records])

    def send_lines(self, lines: Sequence[bytes]) -> None:
        """Any JSON lines (the warm start sends decision records the same way)."""
        for batch in chunks(lines):
            pending = batch
            for attempt in range(1, self.attempts + 1):
                try:
                    pending = self._put(pending)
                except Exception as error:  # botocore already retried transport errors and throttling
                    if attempt >= self.attempts:
                        raise RewardDeliveryError(f"PutRecordBatch to {self.stream_name} failed: {error}") from error
                if not pending:
                    break
                if attempt >= self.attempts:
                    raise RewardDeliveryError(
                        f"{len(pending)} record(s) rejected by {self.stream_name} after {attempt} attempts"
                    )
                self.resent += len(pending)
                self.sleep(self.base_delay * 2 ** (attempt - 1) * (0.5 + random.random()))


class JsonLinesRewardSink:
    """Appends records to a local file (the `--invoke-url` mode without a stream, and offline checks)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def send(self, records: Sequence[RewardRecord]) -> None:
        with self.path.open("ab") as handle:
            for record in records:
                handle.write(record.to_line())


class MemoryRewardSink:
    """Keeps records in a list (tests, and `run_simulation` callers that join rewards themselves)."""

    def __init__(self) -> None:
        self.records: list[RewardRecord] = []

    def send(self, records: Sequence[RewardRecord]) -> None:
        self.records.extend(records)
