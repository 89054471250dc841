"""Decision records, delivered off the request path: a bounded buffer drained by one background thread.

The request thread only appends (blocking briefly when the buffer is full: backpressure, never a drop).
The drainer encodes and writes batches to Firehose (`PutRecordBatch`: at most 500 records and 4 MiB, one JSON line
each), retrying throttling and per-record failures with backoff, or appends them to a JSON-lines file when no
stream is configured. `close()` flushes everything; `serve` calls it on SIGTERM.

The buffer is a `deque` (append and popleft are atomic under the GIL) plus an `Event` the producer sets once per
batch window, not a `queue.Queue`, whose put and get each take a lock and notify a condition: per record, that
was more work than the record's encoding, and every notify is a chance to hand the GIL to the other thread.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from container.core.errors import ContainerError

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1000 * 1024
RETRYABLE_ERRORS = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "LimitExceededException",
        "InternalFailure",
        "InternalFailureException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


class DeliveryError(ContainerError, RuntimeError):
    """A batch could not be delivered and retrying will not help (e.g. the stream does not exist)."""


class Sink(Protocol):
    """Where batches of encoded records go; `deliver` returns only when all of them are delivered."""

    def deliver(self, records: Sequence[bytes], stop: threading.Event) -> None: ...


@dataclass
class Counters:
    """Delivery counters for tests, benchmarks and the shutdown summary."""

    served: int = 0
    delivered: int = 0
    retried: int = 0
    batches: int = 0
    spilled: int = 0


class LineRecord(Protocol):
    """A record that encodes itself (e.g. `container.core.records.DecisionRecord`)."""

    def to_json_line(self) -> bytes: ...


Record = LineRecord | Mapping[str, Any]


def encode(record: Record) -> bytes:
    """One record as one JSON line (Firehose concatenates records; the newline keeps them apart in S3)."""
    to_json_line = getattr(record, "to_json_line", None)  # before `isinstance(Mapping)`: an ABC check costs more
    if to_json_line is not None:
        return to_json_line()
    return (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")


class FileSink:
    """Appends JSON lines to a local file: the sink when no Firehose stream is configured."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle = path.open("ab")

    def deliver(self, records: Sequence[bytes], stop: threading.Event) -> None:
        self._handle.write(b"".join(records))
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def _error_code(error: Exception) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        return response.get("Error", {}).get("Code")
    return None


def _retryable(error: Exception) -> bool:
    code = _error_code(error)
    if code is not None:
        return code in RETRYABLE_ERRORS
    # Connection resets and timeouts from botocore carry no error code: always worth another try.
    return type(error).__name__ in {
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "ConnectionError",
    }


class FirehoseSink:
    """`PutRecordBatch` with retries: a throttled call is retried whole, a partial failure only its failed records."""

    def __init__(
        self,
        client: Any,
        stream: str,
        counters: Counters,
        base_delay: float = 0.05,
        max_delay: float = 2.0,
        give_up_after: float = 30.0,
    ) -> None:
        self._client = client
        self._stream = stream
        self._counters = counters
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._give_up_after = give_up_after
        self._random = random.Random()

    def _backoff(self, attempt: int) -> float:
        return self._random.uniform(0, min(self._max_delay, self._base_delay * 2**attempt))

    def deliver(self, records: Sequence[bytes], stop: threading.Event) -> None:
        pending = list(records)
        attempt = 0
        stopping_since: float | None = None
        while pending:
            try:
                response = self._client.put_record_batch(
                    DeliveryStreamName=self._stream, Records=[{"Data": data} for data in pending]
                )
            except Exception as error:  # botocore raises many types; the error code decides
                if not _retryable(error):
                    raise DeliveryError(f"PutRecordBatch to {self._stream} failed: {error}") from error
                failed = pending
            else:
                results = response.get("RequestResponses") or []
                if response.get("FailedPutCount", 0) == 0 and len(results) == len(pending):
                    return
                failed = [data for data, result in zip(pending, results, strict=False) if result.get("ErrorCode")]
                failed += pending[len(results) :]  # records the service did not answer for were not accepted
            self._counters.retried += len(failed)
            # The backoff grows only while calls take nothing: a partial failure is progress. Growing the wait on it
            # too kept a busy stream's backlog at seconds per batch, past a SIGTERM's grace (reliability bench).
            if len(failed) < len(pending):
                attempt = 0
            pending = failed
            if stop.is_set():
                stopping_since = stopping_since or time.monotonic()
                if time.monotonic() - stopping_since > self._give_up_after:
                    raise DeliveryError(f"{len(pending)} records still undelivered to {self._stream} at shutdown")
            time.sleep(self._backoff(attempt))
            attempt = min(attempt + 1, 10)


def batches(records: Sequence[bytes]) -> list[list[bytes]]:
    """Split into `PutRecordBatch`-sized batches (record and byte limits)."""
    result: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for data in records:
        if current and (len(current) >= MAX_BATCH_RECORDS or size + len(data) > MAX_BATCH_BYTES):
            result.append(current)
            current, size = [], 0
        current.append(data)
        size += len(data)
    if current:
        result.append(current)
    return result


class DecisionLogger:
    """A bounded buffer of decision records and the thread that delivers them in batches."""

    def __init__(
        self,
        sink: Sink,
        counters: Counters | None = None,
        capacity: int = 20_000,
        linger_seconds: float = 0.25,
        spill_path: Path | None = None,
    ) -> None:
        self.sink = sink
        self.counters = counters or Counters()
        self._buffer: deque[Record | None] = deque()
        self._capacity = capacity
        self._ready = threading.Event()  # set by `log` when the drainer may be waiting for records
        self._full = threading.Event()  # set by `log` when a whole batch is waiting, and by `close`: ends the linger
        self._room = threading.Condition()  # notified by the drainer after taking records out
        self._linger = linger_seconds
        self._spill_path = spill_path
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._thread.start()

    def log(self, record: Record) -> None:
        """Add one record; blocks while the buffer is full, so a slow sink slows requests, never loses data.

        (Concurrent producers can overshoot the capacity by at most one record each: check, then append.)"""
        if len(self._buffer) >= self._capacity:
            with self._room:
                while len(self._buffer) >= self._capacity:
                    self._room.wait(0.05)
        self._buffer.append(record)
        with self._lock:
            self.counters.served += 1
        if not self._ready.is_set():  # an attribute read; `set()` (a lock and a notify) runs once per batch window
            self._ready.set()
        if len(self._buffer) >= MAX_BATCH_RECORDS and not self._full.is_set():
            self._full.set()

    def _take(self) -> tuple[list[Record], bool]:
        """Wait for a record, let more gather for the linger time or until a whole batch is there, then take up to
        one batch. Sleeping instead of waking per record keeps the drainer from contending for the GIL on every
        request; ending the linger at a full batch keeps it from capping throughput (500 records per linger)."""
        self._ready.wait()
        self._ready.clear()  # before reading the buffer: a record appended after this sets the event again
        if len(self._buffer) < MAX_BATCH_RECORDS and not self._stop.is_set():
            self._full.clear()
            if len(self._buffer) < MAX_BATCH_RECORDS and not self._stop.is_set():  # again, after the clear
                self._full.wait(self._linger)
        taken: list[Record] = []
        done = False
        popleft = self._buffer.popleft
        while self._buffer and len(taken) < MAX_BATCH_RECORDS:
            item = popleft()
            if item is None:
                done = True
                break
            taken.append(item)
        if self._buffer and not done:
            self._ready.set()  # more than a batch was waiting: come back for it at once
        with self._room:
            self._room.notify_all()
        return taken, done

    def _run(self) -> None:
        done = False
        while not done:
            taken, done = self._take()
            if taken:
                self._deliver(self._encode(taken))

    def _encode(self, records: list[Record]) -> list[bytes]:
        encoded: list[bytes] = []
        for record in records:
            try:
                encoded.append(encode(record))
            except (TypeError, ValueError) as error:  # cannot happen for validated requests; never kill the drainer
                self.counters.spilled += 1
                print(f"[decision-log] a record could not be encoded: {error}", file=sys.stderr, flush=True)
        return encoded

    def _deliver(self, encoded: list[bytes]) -> None:
        too_big = [data for data in encoded if len(data) > MAX_RECORD_BYTES]
        if too_big:
            self._spill(too_big, f"{len(too_big)} records exceed Firehose's 1,000 KiB record limit")
            encoded = [data for data in encoded if len(data) <= MAX_RECORD_BYTES]
        for batch in batches(encoded):
            try:
                self.sink.deliver(batch, self._stop)
            except Exception as error:  # the drainer must survive anything: spill, report and continue
                self._spill(batch, str(error))
                continue
            self.counters.delivered += len(batch)
            self.counters.batches += 1

    def _spill(self, records: Sequence[bytes], reason: str) -> None:
        """Last resort for records the sink refused for good: keep them on disk and say so loudly."""
        self.counters.spilled += len(records)
        print(f"[decision-log] could not deliver {len(records)} records: {reason}", file=sys.stderr, flush=True)
        if self._spill_path is not None:
            self._spill_path.parent.mkdir(parents=True, exist_ok=True)
            with self._spill_path.open("ab") as handle:
                handle.write(b"".join(records))

    def close(self, timeout: float | None = None) -> Counters:
        """Deliver everything buffered, then stop the drainer; returns the final counters."""
        self._stop.set()
        self._full.set()
        self._buffer.append(None)
        self._ready.set()
        self._thread.join(timeout)
        closer = getattr(self.sink, "close", None)
        if callable(closer) and not self._thread.is_alive():
            closer()
        return self.counters


class MissingRegion(ContainerError, RuntimeError):
    """The decision log goes to Firehose but botocore has no region: `serve` must not start (SageMaker's health
    check then fails with this message in the endpoint's log, not with a NoRegionError from deep in botocore)."""


def firehose_region(environ: Mapping[str, str]) -> str:
    """The region botocore resolves for the Firehose client, or `MissingRegion` naming the variable to set.

    botocore reads `AWS_DEFAULT_REGION` (or a profile's `region` in the config file) and never `AWS_REGION`, and
    SageMaker hosting does not reliably set `AWS_DEFAULT_REGION`: the pipeline puts it in the model's environment.
    """
    import boto3

    region = environ.get("AWS_DEFAULT_REGION") or boto3.Session().region_name
    if region:
        return region
    hint = (
        f" (AWS_REGION is {environ['AWS_REGION']!r}, but botocore does not read AWS_REGION)"
        if environ.get("AWS_REGION")
        else ""
    )
    raise MissingRegion(
        f"DECISIONS_STREAM is {environ.get('DECISIONS_STREAM')!r} (decisions go to Firehose) but no AWS region is "
        f"configured: set AWS_DEFAULT_REGION in the model's environment{hint}"
    )


def firehose_client(session: Any) -> Any:
    """boto3's Firehose client for the decision log: no botocore retries (the sink retries, per record, with its own
    backoff; botocore's on top would multiply the attempts) and no parameter validation (the sink builds the request
    itself, and validating 500 records costs ~5 µs each on the worker's GIL)."""
    from botocore.config import Config

    # `total_max_attempts` counts the first call; `max_attempts` would count retries (1 = one botocore retry)
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"}, parameter_validation=False, tcp_keepalive=True
    )
    return session.client("firehose", config=config)


def logger_from_env(environ: Mapping[str, str], default_path: Path) -> DecisionLogger:
    """Firehose when `DECISIONS_STREAM` is set (boto3 honours `AWS_ENDPOINT_URL`), else the JSON-lines file. A
    Firehose log without a region raises `MissingRegion`."""
    counters = Counters()
    log_path = Path(environ.get("DECISIONS_LOG_PATH") or default_path)
    stream = environ.get("DECISIONS_STREAM")
    if stream:
        import boto3

        client = firehose_client(boto3.Session(region_name=firehose_region(environ)))
        spill = log_path.with_name(log_path.stem + ".undelivered.jsonl")
        return DecisionLogger(FirehoseSink(client, stream, counters), counters, spill_path=spill)
    return DecisionLogger(FileSink(log_path), counters)
