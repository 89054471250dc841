"""Reward records and where they go: the `rewards` Firehose stream (PutRecordBatch), a JSON-lines file, or memory.

A record is one JSON object (`event_id`, `reward`, `reward_time`). Through Firehose it is sent as it is: the stream's
AppendDelimiterToRecord processor puts the newline between records in S3; a file sink writes the newline itself.
Delivery is the serving decision log's producer (`container.core.producer`: the 500-record / 4 MiB batching, resending
only the records Firehose reports as failed) with a bounded retry policy: after `attempts` calls the sender gives up
and says so (`RewardDeliveryError`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from container.core.producer import DeliveryError, FirehoseProducer, RetryPolicy, firehose_client
from contract.records import json_line, json_record, reward_record
from contract.timefmt import iso_from_epoch
from simulator.errors import RewardDeliveryError

DEFAULT_ATTEMPTS = 8


iso_time = iso_from_epoch
"""`iso_time(epoch_seconds=None)`: the contract's timestamp (`contract.timefmt`)."""


@dataclass(frozen=True)
class RewardRecord:
    """What a client reports for a decision."""

    event_id: str
    reward: float
    reward_time: str

    def to_json(self) -> bytes:
        """The record as Firehose gets it: one compact JSON object, no delimiter."""
        return json_record(reward_record(self.event_id, self.reward, self.reward_time))

    def to_line(self) -> bytes:
        """The record as a line of a JSON-lines file."""
        return json_line(reward_record(self.event_id, self.reward, self.reward_time))


class RewardSink(Protocol):
    """Delivers reward records; raises `RewardDeliveryError` when it cannot."""

    def send(self, records: Sequence[RewardRecord]) -> None: ...


class FirehoseRewardSink:
    """PutRecordBatch to a Firehose stream through `container.core.producer`, giving up after `attempts` calls
    (`producer.calls` and `producer.resent` count what happened)."""

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

            firehose = firehose_client(boto3.Session())
        self.stream_name = stream_name
        retry = RetryPolicy(base_delay=base_delay, max_delay=5.0, max_attempts=attempts)
        self.producer = FirehoseProducer(firehose, stream_name, retry, sleep)

    def send(self, records: Sequence[RewardRecord]) -> None:
        self.send_records([r.to_json() for r in records])

    def send_records(self, records: Sequence[bytes]) -> None:
        """Any encoded records, without delimiters (the warm start sends decision records the same way)."""
        try:
            self.producer.deliver(records)
        except DeliveryError as error:
            raise RewardDeliveryError(str(error)) from error


class JsonLinesRewardSink:
    """Appends records to a local file (the `--invoke-url` mode without a stream, and offline checks)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def send(self, records: Sequence[RewardRecord]) -> None:
        with self.path.open("ab") as handle:
            handle.write(b"".join(record.to_line() for record in records))


class MemoryRewardSink:
    """Keeps records in a list (tests, and `run_simulation` callers that join rewards themselves)."""

    def __init__(self) -> None:
        self.records: list[RewardRecord] = []

    def send(self, records: Sequence[RewardRecord]) -> None:
        self.records.extend(records)
