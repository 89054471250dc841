"""The decision logger against a Firehose stand-in that throttles, fails partially and loses responses, and its
spool: a record is on file before `log_many` returns, and what a logger could not deliver is delivered by the next."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from botocore.exceptions import ClientError, ReadTimeoutError

from container.core.producer import MAX_BATCH_BYTES, MAX_BATCH_RECORDS, FirehoseProducer, RetryPolicy, batches
from container.serving.decision_log import DecisionLogger, FileSink, logger_from_env
from container.serving.spool import Spool, read_segment


class FlakyFirehose:
    """PutRecordBatch that throttles every third call, fails ~20% of records, and sometimes accepts a batch but
    loses the response (so the client retries records that did arrive: at-least-once, hence dedup by event_id)."""

    def __init__(self, seed: int = 5) -> None:
        self.accepted: list[bytes] = []
        self.calls = 0
        self.batch_sizes: list[tuple[int, int]] = []
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict]) -> dict:
        with self._lock:
            self.calls += 1
            self.batch_sizes.append((len(Records), sum(len(r["Data"]) for r in Records)))
            if self.calls % 3 == 0:
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutRecordBatch")
            if self.calls % 7 == 0:
                self.accepted.extend(r["Data"] for r in Records)
                raise ReadTimeoutError(endpoint_url="http://firehose")
            results = []
            for record in Records:
                if self._random.random() < 0.2:
                    results.append({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "busy"})
                else:
                    self.accepted.append(record["Data"])
                    results.append({"RecordId": "r"})
            failed = sum(1 for r in results if "ErrorCode" in r)
            return {"FailedPutCount": failed, "RequestResponses": results}


def _record(i: int) -> dict:
    return {"event_id": f"ev-{i}", "action": "a", "action_prob": 0.5}


def test_every_decision_is_delivered_exactly_once_after_dedup() -> None:
    firehose = FlakyFirehose()
    producer = FirehoseProducer(firehose, "decisions", RetryPolicy(base_delay=0.001, max_delay=0.01))
    logger = DecisionLogger(producer, linger_seconds=0.005)
    served = [f"ev-{i}" for i in range(3000)]
    for i in range(3000):
        logger.log(_record(i))
    final = logger.close(30)
    lines = [json.loads(data) for data in firehose.accepted]
    assert not any(b"\n" in data for data in firehose.accepted)  # the stream's processor adds the delimiter
    assert sorted({line["event_id"] for line in lines}) == sorted(served)
    assert final.served == final.delivered == 3000 and final.spilled == 0
    assert final.retried > 0 and firehose.calls > 3
    assert all(n <= MAX_BATCH_RECORDS and size <= MAX_BATCH_BYTES for n, size in firehose.batch_sizes)


class _Missing:
    def put_record_batch(self, **_: object) -> dict:
        raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}, "PutRecordBatch")


class _Keeps:
    def __init__(self) -> None:
        self.records: list[bytes] = []

    def deliver(self, records: Sequence[bytes], stop: threading.Event | None = None) -> None:
        self.records.extend(records)


def test_records_a_logger_could_not_deliver_are_delivered_by_the_next_one(tmp_path: Path) -> None:
    """A permanent error keeps the records in the spool (nothing is dropped); the next logger on that spool, the
    replacement of a dead worker, delivers them first and removes them."""
    first = DecisionLogger(FirehoseProducer(_Missing(), "gone"), spool=Spool(tmp_path / "spool", 0))
    first.log_many([_record(i) for i in range(10)])
    assert first.close(10).spilled == 10
    sink = _Keeps()
    second = DecisionLogger(sink, spool=Spool(tmp_path / "spool", 0))
    final = second.close(10)
    assert [json.loads(r)["event_id"] for r in sink.records] == [f"ev-{i}" for i in range(10)]
    assert final.recovered == 10 and final.served == 0
    assert DecisionLogger(_Keeps(), spool=Spool(tmp_path / "spool", 0)).spool.leftovers == []  # type: ignore[union-attr]


def test_a_record_is_in_the_spool_before_log_returns(tmp_path: Path) -> None:
    """The answer goes out after `log_many`: by then the record is in a shared file mapping, which survives the
    process (the kernel's page cache), whatever the drainer has done."""

    class Stuck:
        def __init__(self) -> None:
            self.release = threading.Event()

        def deliver(self, records: Sequence[bytes], stop: threading.Event | None = None) -> None:
            self.release.wait(30)

    sink = Stuck()
    spool = Spool(tmp_path / "spool", 3)
    logger = DecisionLogger(sink, spool=spool, linger_seconds=0)
    logger.log_many([_record(0), _record(1)])
    on_file = [read_segment(path) for path in sorted(spool.directory.glob("*.spool"))]
    assert [json.loads(r)["event_id"] for records in on_file for r in records] == ["ev-0", "ev-1"]
    sink.release.set()
    logger.close(10)
    assert sorted(spool.directory.glob("*.spool")) == []  # delivered: the segments are gone


def test_a_segment_cut_short_by_a_crash_keeps_only_its_complete_records(tmp_path: Path) -> None:
    segment = tmp_path / "000000000000.spool"
    segment.write_bytes(b'{"a":1}\n{"b":2}\n{"c":' + b"\0" * 64)
    assert read_segment(segment) == [b'{"a":1}', b'{"b":2}']


def test_a_slot_held_by_a_live_worker_is_neither_shared_nor_adopted(tmp_path: Path) -> None:
    live = Spool(tmp_path, 0)
    live.append(b'{"live":1}\n', [])
    other = Spool(tmp_path, 0)
    assert other.directory != live.directory and other.leftovers == []
    live.close()
    other.close()
    adopting = Spool(tmp_path, 5)  # the live worker's slot is released now: its segment is an orphan
    assert [leftover.records for leftover in adopting.leftovers] == [[b'{"live":1}']]


def test_full_buffer_blocks_the_caller_instead_of_dropping() -> None:
    class SlowSink:
        def __init__(self) -> None:
            self.lines: list[bytes] = []

        def deliver(self, records: Sequence[bytes], stop: threading.Event | None = None) -> None:
            time.sleep(0.02)
            self.lines.extend(records)

    sink = SlowSink()
    logger = DecisionLogger(sink, capacity=5, linger_seconds=0)
    started = time.perf_counter()
    for i in range(60):
        logger.log(_record(i))
    assert time.perf_counter() - started > 0.05  # the producer waited for the sink
    logger.close(10)
    assert len(sink.lines) == 60


def test_a_full_batch_is_delivered_without_waiting_for_the_linger() -> None:
    class CountingSink:
        def __init__(self) -> None:
            self.lines: list[bytes] = []
            self.two_batches = threading.Event()

        def deliver(self, records: Sequence[bytes], stop: threading.Event | None = None) -> None:
            self.lines.extend(records)
            if len(self.lines) >= 2 * MAX_BATCH_RECORDS:
                self.two_batches.set()

    sink = CountingSink()
    logger = DecisionLogger(sink, linger_seconds=3600)  # lingering would mean one batch per hour
    # Two whole batches, each logged at once: one record at a time, the drainer may take a partial first batch and
    # leave a remainder under a batch waiting out the (hour-long) linger, which is the linger working, not a bug.
    for first in (0, MAX_BATCH_RECORDS):
        logger.log_many([_record(i) for i in range(first, first + MAX_BATCH_RECORDS)])
    assert sink.two_batches.wait(60)
    logger.close(10)
    assert len(sink.lines) == 2 * MAX_BATCH_RECORDS


def test_batches_respect_record_and_byte_limits() -> None:
    small = [b"x" * 10] * 1201
    assert [len(b) for b in batches(small)] == [500, 500, 201]
    big = [b"y" * (900 * 1024)] * 10
    assert all(sum(len(r) for r in b) <= MAX_BATCH_BYTES for b in batches(big))
    assert sum(len(b) for b in batches(big)) == 10


def test_file_sink_when_no_stream_is_configured(tmp_path: Path) -> None:
    logger = logger_from_env({"DECISIONS_LOG_PATH": str(tmp_path / "d.jsonl")}, tmp_path / "default.jsonl")
    assert isinstance(logger.sink, FileSink)
    for i in range(3):
        logger.log(_record(i))
    logger.close(10)
    assert [json.loads(x)["event_id"] for x in (tmp_path / "d.jsonl").read_text().splitlines()] == [
        "ev-0",
        "ev-1",
        "ev-2",
    ]


class _TakesOnePerCall:
    """A busy stream: each call accepts only its last record (a partial failure that still makes progress)."""

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict]) -> dict:
        failed = [{"ErrorCode": "ServiceUnavailableException"} for _ in Records[:-1]]
        return {"FailedPutCount": len(failed), "RequestResponses": [*failed, {"RecordId": "r"}]}


class _ThrottledThrice:
    def __init__(self) -> None:
        self.calls = 0

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict]) -> dict:
        self.calls += 1
        if self.calls <= 3:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutRecordBatch")
        return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "r"} for _ in Records]}


def test_the_backoff_grows_only_while_calls_take_nothing() -> None:
    """Partial failures are progress: growing the wait on them left a busy stream's backlog longer than SIGTERM's
    grace in the reliability benchmark. Whole-call failures (throttling) back off exponentially as before."""
    for client, expected in ((_TakesOnePerCall(), [0, 0, 0]), (_ThrottledThrice(), [0, 1, 2])):
        producer = FirehoseProducer(client, "decisions")
        attempts: list[int] = []
        producer.backoff = lambda attempt, seen=attempts: seen.append(attempt) or 0.0  # type: ignore[method-assign]
        producer.deliver([b"a", b"b", b"c", b"d"])
        assert attempts == expected
