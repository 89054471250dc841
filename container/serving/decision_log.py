"""Decision records: written to the worker's spool before the decision is answered, delivered by one thread.

The request thread encodes each record and copies it into the spool (`container.serving.spool`: a memory-mapped file, so
a crash of the worker cannot lose an answered decision) and into a bounded in-memory list (blocking briefly when
the list is full: backpressure, never a drop). The drainer thread takes what gathered over a linger window (or a
whole batch at once), seals the spool segment those records are in, delivers them through the sink (Firehose via
`container.core.producer`, or a JSON-lines file when no stream is configured) and then deletes the segment. Segments a
dead worker left are delivered first. `close()` flushes everything; `serve` calls it on SIGTERM.

With `acknowledge=True` (`DECISIONS_ACKNOWLEDGEMENT=firehose`) `log_many` also returns a future per batch window that
resolves once the sink has taken the window's records (True) or refused them (False): the server answers after it,
so an answered decision is in Firehose even if the instance, spool and all, is lost. It costs each decision up to
two PutRecordBatch round trips of latency (the call in flight, then its own).

The list and its events are not a `queue.Queue`, whose put and get each take a lock and notify a condition: per
record that was more work than the record's encoding, and every notify is a chance to hand the GIL to the other
thread. The request thread sets an `Event` once per batch window.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from container.core.errors import ContainerError
from container.core.producer import FirehoseProducer, firehose_client
from container.serving.spool import Segment, Spool
from contract.bounds import DECISION_ACKNOWLEDGEMENTS
from contract.environment import DECISIONS_ACKNOWLEDGEMENT
from contract.firehose import MAX_BATCH_RECORDS, MAX_RECORD_BYTES

SPOOL_DIR_VARIABLE = "DECISIONS_SPOOL_DIR"
SPOOLED_LINGER_SECONDS = 0.25
"""The batch window when answers go out once spooled: records gather this long (or to a full batch) per call."""
ACKNOWLEDGED_LINGER_SECONDS = 0.0
"""The batch window when every answer waits for its delivery: none. The drainer has one call in flight, and what
arrives meanwhile is the next batch (group commit), so batches grow with the load and each worker makes at most one
call per PutRecordBatch round trip; a linger only adds itself to every answer (10 ms: p50 12.8 ms against 9.6 ms
without, at the same decisions/s; docs/benchmarks.md)."""


class Sink(Protocol):
    """Where records go; `deliver` returns only when all of them are delivered (or raises)."""

    def deliver(self, records: Sequence[bytes], stop: threading.Event | None = None) -> None: ...


@dataclass
class Counters:
    """Delivery counters for tests, benchmarks and the shutdown summary (`spilled`: left undelivered in the spool
    for a successor, or dropped as undeliverable; `recovered`: a dead worker's records this one delivered)."""

    served: int = 0
    delivered: int = 0
    retried: int = 0
    batches: int = 0
    spilled: int = 0
    recovered: int = 0


class LineRecord(Protocol):
    """A record that encodes itself (e.g. `container.core.records.DecisionRecord`)."""

    def to_json_line(self) -> bytes: ...


Record = LineRecord | Mapping[str, Any]


def encode(record: Record) -> bytes:
    """One record as one JSON text, without a delimiter (the stream's AppendDelimiterToRecord adds the newline)."""
    to_json_line = getattr(record, "to_json_line", None)  # before `isinstance(Mapping)`: an ABC check costs more
    if to_json_line is not None:
        return to_json_line()
    return json.dumps(record, separators=(",", ":"), allow_nan=False).encode("utf-8")


class FileSink:
    """Appends JSON lines to a local file: the sink when no Firehose stream is configured."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle = path.open("ab")

    def deliver(self, records: Sequence[bytes], stop: threading.Event | None = None) -> None:
        self._handle.write(b"".join(record + b"\n" for record in records))
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


class DecisionLogger:
    """The spool, a bounded list of encoded records, and the thread that delivers them."""

    def __init__(
        self,
        sink: Sink,
        counters: Counters | None = None,
        capacity: int = 20_000,
        linger_seconds: float = SPOOLED_LINGER_SECONDS,
        spool: Spool | None = None,
        acknowledge: bool = False,
    ) -> None:
        self.sink = sink
        self.counters = counters or Counters()
        self.spool = spool
        self._pending: list[bytes] = []
        self._sealed: list[Segment] = []  # full segments whose records are all in `_pending`
        self.acknowledge = acknowledge
        self._window: Future[bool] | None = None  # resolves when the records in `_pending` are delivered
        self._capacity = capacity
        self._lock = threading.Lock()  # the spool, `_pending` and `_sealed` change together
        self._ready = threading.Event()  # set by `log` when the drainer may be waiting for records
        self._full = threading.Event()  # set by `log` when a whole batch is waiting, and by `close`: ends the linger
        self._room = threading.Condition()  # notified by the drainer after taking records out
        self._linger = linger_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._thread.start()

    def log(self, record: Record) -> None:
        """Add one record (see `log_many`)."""
        self.log_many((record,))

    def log_many(self, records: Sequence[Record]) -> Future[bool] | None:
        """Encode the records and write them to the spool: when this returns, a crash of the worker cannot lose
        them. Blocks while the list is full, so a slow sink slows requests, never loses data. Raises what the
        encoder raises (`TypeError`, `ValueError`) before anything is logged. With `acknowledge`, returns the
        future of their delivery (True: in the sink; False: refused), else None."""
        lines = [encode(record) for record in records]
        if len(self._pending) >= self._capacity:
            with self._room:
                while len(self._pending) >= self._capacity:
                    self._room.wait(0.05)
        with self._lock:
            if self.spool is not None:
                self.spool.append(b"\n".join(lines) + b"\n", self._sealed)
            self._pending.extend(lines)
            self.counters.served += len(lines)
            delivery = None
            if self.acknowledge:
                if self._window is None:
                    self._window = Future()
                delivery = self._window
        if not self._ready.is_set():  # an attribute read; `set()` (a lock and a notify) runs once per batch window
            self._ready.set()
        if len(self._pending) >= MAX_BATCH_RECORDS and not self._full.is_set():
            self._full.set()
        return delivery

    def _take(self) -> tuple[list[bytes], list[Segment], Future[bool] | None]:
        """Wait for a record, let more gather for the linger time or until a whole batch is there, then take all of
        them with the spool segments they are in. Sleeping instead of waking per record keeps the drainer from
        contending for the GIL on every request; ending the linger at a full batch keeps it from capping
        throughput."""
        self._ready.wait()
        self._ready.clear()  # before reading the list: a record added after this sets the event again
        if len(self._pending) < MAX_BATCH_RECORDS and not self._stop.is_set():
            self._full.clear()
            if len(self._pending) < MAX_BATCH_RECORDS and not self._stop.is_set():  # again, after the clear
                self._full.wait(self._linger)
        with self._lock:
            taken, self._pending = self._pending, []
            segments, self._sealed = self._sealed, []
            window, self._window = self._window, None
            if self.spool is not None:
                sealed = self.spool.seal()
                if sealed is not None:
                    segments.append(sealed)
        with self._room:
            self._room.notify_all()
        return taken, segments, window

    def _run(self) -> None:
        for leftover in self.spool.leftovers if self.spool is not None else []:
            if self._deliver(leftover.records):
                self.counters.recovered += len(leftover.records)
                leftover.discard()
        while True:
            taken, segments, window = self._take()
            if taken:
                delivered = self._deliver(taken)
                for segment in segments:
                    if delivered:
                        segment.discard()
                    else:
                        segment.close()  # undelivered: the file stays for a successor
                if window is not None:
                    window.set_result(delivered)
            if self._stop.is_set() and not self._pending:
                return

    def _deliver(self, records: list[bytes]) -> bool:
        """Deliver through the sink; False (loudly) when it refused for good. Never raises: the drainer survives."""
        too_big = [data for data in records if len(data) > MAX_RECORD_BYTES]
        if too_big:  # the request path answers 413 for these; a record here would be a bug, not bad input
            self._report(len(too_big), "over Firehose's 1,000 KiB record limit: dropped")
            records = [data for data in records if len(data) <= MAX_RECORD_BYTES]
        try:
            self.sink.deliver(records, self._stop)
        except Exception as error:
            self._report(len(records), f"{error} (kept in the spool for the next worker)")
            return False
        finally:
            self.counters.retried = getattr(self.sink, "resent", 0)
            self.counters.batches = getattr(self.sink, "calls", self.counters.batches + 1)
        self.counters.delivered += len(records)
        return True

    def _report(self, count: int, reason: str) -> None:
        self.counters.spilled += count
        print(f"[decision-log] could not deliver {count} records: {reason}", file=sys.stderr, flush=True)

    def close(self, timeout: float | None = None) -> Counters:
        """Deliver everything taken so far, then stop the drainer; returns the final counters."""
        self._stop.set()
        self._full.set()
        self._ready.set()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            closer = getattr(self.sink, "close", None)
            if callable(closer):
                closer()
            if self.spool is not None:
                self.spool.close()
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


class UnknownAcknowledgement(ContainerError, ValueError):
    """`DECISIONS_ACKNOWLEDGEMENT` names no mode: `serve` must not start."""


def acknowledgement(environ: Mapping[str, str]) -> str:
    """`DECISIONS_ACKNOWLEDGEMENT` (default `spool`), or `UnknownAcknowledgement` naming the allowed values."""
    mode = environ.get(DECISIONS_ACKNOWLEDGEMENT) or DECISION_ACKNOWLEDGEMENTS[0]
    if mode not in DECISION_ACKNOWLEDGEMENTS:
        raise UnknownAcknowledgement(
            f"{DECISIONS_ACKNOWLEDGEMENT} is {mode!r}; use one of {', '.join(DECISION_ACKNOWLEDGEMENTS)}"
        )
    return mode


def logger_from_env(
    environ: Mapping[str, str], default_path: Path, spool_dir: Path | None = None, slot: int = 0
) -> DecisionLogger:
    """Firehose when `DECISIONS_STREAM` is set (boto3 honours `AWS_ENDPOINT_URL`), else the JSON-lines file
    `DECISIONS_LOG_PATH`. Records are spooled under `DECISIONS_SPOOL_DIR` (else `spool_dir`; neither: no spool) in
    slot `slot`. `DECISIONS_ACKNOWLEDGEMENT=firehose` makes every answer wait for its delivery (`acknowledge`). A
    Firehose log without a region raises `MissingRegion`."""
    counters = Counters()
    spool_root = environ.get(SPOOL_DIR_VARIABLE) or spool_dir
    spool = Spool(Path(spool_root), slot) if spool_root else None
    stream = environ.get("DECISIONS_STREAM")
    sink: Sink
    if stream:
        import boto3

        sink = FirehoseProducer(firehose_client(boto3.Session(region_name=firehose_region(environ))), stream)
    else:
        sink = FileSink(Path(environ.get("DECISIONS_LOG_PATH") or default_path))
    acknowledge = acknowledgement(environ) == "firehose"
    linger = ACKNOWLEDGED_LINGER_SECONDS if acknowledge else SPOOLED_LINGER_SECONDS
    return DecisionLogger(sink, counters, linger_seconds=linger, spool=spool, acknowledge=acknowledge)
