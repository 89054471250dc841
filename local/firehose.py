"""Firehose `PutRecord` / `PutRecordBatch` with buffering, in front of moto's S3 delivery.

moto's Firehose writes one S3 object per `PutRecord(Batch)` call, at once, at
`<Prefix>YYYY/MM/DD/HH/<stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>` (UTC), with the records' bytes concatenated as
they came (no delimiter; the producers end each record with `\\n`, so objects are JSON lines). It ignores
`BufferingHints`, compression, `ErrorOutputPrefix` and the destination's `ProcessingConfiguration`; the gateway
applies its `AppendDelimiterToRecord` processor (`delimiter_of`) at delivery, as Firehose does: each record gets the
delimiter appended, and without the processor records stay concatenated as sent.

Real Firehose buffers: one object per stream when `SizeInMBs` is reached or `IntervalInSeconds` has passed. A client
that sends one reward per call would otherwise make one S3 object (and one trigger invocation) per reward. So the
gateway answers these two operations itself: it checks the stream exists, queues the records per stream, and
flushes them through moto's own delivery (`FirehoseBackend.put_record_batch`, in-process) when the stream's
`SizeInMBs` is reached or `interval` seconds (the local buffer interval, default 1 s instead of the template's 60 s
so the local loop is fast) have passed since the first queued record. `close()` flushes everything.

Fault injection (`local.faults.Faults`, off unless configured): a throttled call raises `ThrottlingException` and
queues nothing; a partial failure answers some records with an `ErrorCode` and queues only the others; a lost
response queues the records and answers a 500 `InternalFailure` (the producer resends: duplicates in S3).
"""

from __future__ import annotations

import base64
import codecs
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.firehose.models import firehose_backends

from contract.firehose import MAX_BATCH_RECORDS, MAX_RECORD_BYTES
from local.errors import AwsError
from local.faults import Faults

DELIVERY_MARGIN_SECONDS = 1.5
"""Added to the buffer interval for the pipeline's `DELIVERY_LAG_SECONDS`: the buffer's check period (0.2 s), the
serving logger's linger (0.25 s) and Step Functions reading a Wait state's timestamp to the whole second."""


APPEND_DELIMITER = "AppendDelimiterToRecord"


def delimiter_of(delivery: Any) -> bytes:
    """What Firehose appends to each record of `delivery` (moto's stream): the `AppendDelimiterToRecord` processor of
    an enabled `ProcessingConfiguration` appends its `Delimiter` parameter (default a newline); without it nothing.

    Processor (Amazon Data Firehose API Reference): "If you want to add a new line delimiter between records in
    objects that are delivered to Amazon S3, choose AppendDelimiterToRecord as a processor type."
    """
    for destination in getattr(delivery, "destinations", None) or []:
        for kind in ("ExtendedS3", "S3"):
            processing = (destination.get(kind) or {}).get("ProcessingConfiguration") or {}
            if str(processing.get("Enabled", False)).lower() != "true":
                continue
            for processor in processing.get("Processors") or []:
                if processor.get("Type") != APPEND_DELIMITER:
                    continue
                parameters = {
                    p.get("ParameterName"): p.get("ParameterValue") for p in processor.get("Parameters") or []
                }
                text = parameters.get("Delimiter")
                return codecs.decode(str(text), "unicode_escape").encode() if text else b"\n"
    return b""


@dataclass
class _Buffer:
    records: list[bytes] = field(default_factory=list)
    size: int = 0
    first: float = 0.0


class FirehoseBuffer:
    """Per-stream buffers flushed by size or age through moto's S3 delivery."""

    def __init__(
        self, interval: float = 1.0, account_id: str = DEFAULT_ACCOUNT_ID, faults: Faults | None = None
    ) -> None:
        self.interval = interval
        self.faults = faults or Faults()
        self.account_id = account_id
        self._buffers: dict[tuple[str, str], _Buffer] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="firehose-buffer", daemon=True)
        self._thread.start()
        self.objects_written = 0
        self.records_delivered = 0
        self.records_failed = 0
        self.authorize_delivery: Callable[[str, str, str], None] | None = None
        """`(region, stream, object ARN)`: raises `AwsError` when the stream's role may not write the object (the
        gateway's IAM check); the records are then not delivered, as Firehose cannot deliver them."""

    def _backend(self, region: str) -> Any:
        return firehose_backends[self.account_id][region]

    def _size_limit(self, region: str, stream: str) -> int:
        delivery = self._backend(region).delivery_streams.get(stream)
        if delivery is None:
            raise AwsError(
                "ResourceNotFoundException",
                f"Firehose {stream} under account {self.account_id} not found.",
            )
        hints: dict[str, Any] = {}
        for destination in delivery.destinations:
            for kind in ("ExtendedS3", "S3"):
                if kind in destination:
                    hints = destination[kind].get("BufferingHints") or {}
        return int(float(hints.get("SizeInMBs", 5)) * 1024 * 1024)

    def put(self, region: str, stream: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Queue base64 `Data` records (the JSON protocol's shape); the PutRecordBatch answer."""
        if not stream:
            raise AwsError("ValidationException", "DeliveryStreamName is required")
        if not records or len(records) > MAX_BATCH_RECORDS:
            raise AwsError("ValidationException", f"Records must hold 1 to {MAX_BATCH_RECORDS} records")
        limit = self._size_limit(region, stream)
        if self.faults.firehose_throttled(stream):
            raise AwsError("ThrottlingException", "Rate exceeded for stream (injected fault)", 400)
        decoded = []
        for record in records:
            data = record.get("Data")
            if data is None:
                raise AwsError("ValidationException", "Record.Data is required")
            raw = base64.b64decode(data)
            if len(raw) > MAX_RECORD_BYTES:
                raise AwsError("ValidationException", "Record.Data is larger than 1,000 KiB")
            decoded.append(raw)
        refused = self.faults.firehose_failed_records(stream, len(decoded))
        accepted = [raw for raw, fail in zip(decoded, refused, strict=True) if not fail]
        flush_now = False
        with self._lock:
            buf = self._buffers.setdefault((region, stream), _Buffer())
            if not buf.records:
                buf.first = time.monotonic()
            buf.records.extend(accepted)
            buf.size += sum(len(r) for r in accepted)
            flush_now = buf.size >= limit
        if flush_now:
            self._flush(region, stream)
        if accepted and self.faults.firehose_response_lost(stream):
            raise AwsError("InternalFailure", "the response was lost (injected fault; the records were accepted)", 500)
        return {
            "FailedPutCount": sum(refused),
            "Encrypted": False,
            "RequestResponses": [
                {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down. (injected fault)"}
                if fail
                else {"RecordId": uuid.uuid4().hex + uuid.uuid4().hex}
                for fail in refused
            ],
        }

    def _flush(self, region: str, stream: str) -> None:
        with self._flush_lock:  # one object at a time per process keeps records of a stream in order
            with self._lock:
                buf = self._buffers.pop((region, stream), None)
            if buf is None or not buf.records:
                return
            try:
                self._check_delivery(region, stream)
                delimiter = delimiter_of(self._backend(region).delivery_streams.get(stream))
                self._backend(region).put_record_batch(stream, [{"Data": r + delimiter} for r in buf.records])
                self.objects_written += 1
                self.records_delivered += len(buf.records)
            except Exception as err:  # delivery failures are logged, as Firehose logs them to CloudWatch
                self.records_failed += len(buf.records)
                print(
                    f"local firehose: delivery of {len(buf.records)} records to {stream} failed: {err}", file=sys.stderr
                )

    def _check_delivery(self, region: str, stream: str) -> None:
        """The destination role's s3:PutObject on the object this flush writes (`<Prefix>YYYY/MM/DD/HH/<stream>-...`).

        Firehose retries a failed S3 delivery until the stream's 24-hour retention ends and then drops the data
        ("Troubleshoot errors in Amazon Data Firehose", https://docs.aws.amazon.com/firehose/latest/dev/
        troubleshooting.html); locally the records are dropped at once and counted in `records_failed`.
        """
        if self.authorize_delivery is None:
            return
        delivery = self._backend(region).delivery_streams.get(stream)
        for destination in delivery.destinations if delivery else []:
            for kind in ("ExtendedS3", "S3"):
                if kind in destination:
                    config = destination[kind]
                    bucket = str(config.get("BucketARN", "")).split(":::")[-1]
                    now = time.gmtime()
                    stamp = time.strftime(f"%Y/%m/%d/%H/{stream}-1-%Y-%m-%d-%H-%M-%S", now)
                    key = f"{config.get('Prefix', '')}{stamp}"
                    self.authorize_delivery(region, stream, f"arn:aws:s3:::{bucket}/{key}")

    def flush_all(self) -> None:
        with self._lock:
            keys = list(self._buffers)
        for region, stream in keys:
            self._flush(region, stream)

    def _loop(self) -> None:
        while not self._stop.wait(min(0.2, self.interval / 2 if self.interval > 0 else 0.2)):
            now = time.monotonic()
            with self._lock:
                due = [k for k, b in self._buffers.items() if b.records and now - b.first >= self.interval]
            for region, stream in due:
                self._flush(region, stream)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush_all()
