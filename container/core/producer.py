"""The one Firehose producer: `PutRecordBatch` within the service's limits, retrying what did not get in.

Used by the serving decision log (`container.serving.decision_log`) and the simulator's reward sender
(`simulator.rewards`); it lives in `container/core/` because the image copies only the `container` package. What
differs between them is the retry policy, a parameter: the decision log retries until delivered (bounded only at
shutdown), the simulator gives up after a few attempts and reports the failure.

Limits (`contract.firehose`, from the Amazon Data Firehose API Reference, PutRecordBatch): at most 500 records per
call, each record at most 1,000 KiB before base64 encoding, at most 4 MiB per call. A call can succeed with
`FailedPutCount > 0`: only the records whose `RequestResponses` entry carries an `ErrorCode` are resent. Records are
sent as they are given: each delivery stream's `AppendDelimiterToRecord` processor (infra) puts the newline between
them in S3.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from container.core.errors import ContainerError
from contract.firehose import MAX_BATCH_BYTES, MAX_BATCH_RECORDS, MAX_RECORD_BYTES
from contract.retryable import RETRYABLE_CODES as RETRYABLE_ERRORS

TRANSPORT_ERRORS = frozenset(
    {"EndpointConnectionError", "ConnectionClosedError", "ReadTimeoutError", "ConnectTimeoutError", "ConnectionError"}
)
"""botocore's connection resets and timeouts carry no error code: always worth another try."""


class DeliveryError(ContainerError, RuntimeError):
    """Records could not be delivered: a permanent error (e.g. no such stream) or the retry policy gave up."""


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep resending: full-jitter exponential backoff from `base_delay` up to `max_delay`.

    `max_attempts` bounds the calls per batch (None: until delivered); `give_up_after` bounds, in seconds, the
    retrying that goes on once the caller's `stop` event is set (a shutdown's grace is finite)."""

    base_delay: float = 0.05
    max_delay: float = 2.0
    max_attempts: int | None = None
    give_up_after: float = 30.0

    def __post_init__(self) -> None:
        if self.base_delay < 0 or self.max_delay < 0 or self.give_up_after < 0:
            raise ValueError("retry delays must be >= 0 seconds")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1 (or None: until delivered)")


UNTIL_DELIVERED = RetryPolicy()


def error_code(error: Exception) -> str | None:
    """The AWS error code of a botocore `ClientError` (None for transport errors and anything else)."""
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def retryable(error: Exception) -> bool:
    """Whether resending can help: throttling, 5xx and transport errors yes; validation, access, no stream no."""
    code = error_code(error)
    if code is not None:
        return code in RETRYABLE_ERRORS
    return type(error).__name__ in TRANSPORT_ERRORS


def batches(records: Sequence[bytes]) -> list[list[bytes]]:
    """Split into `PutRecordBatch`-sized calls (500 records, 4 MiB), order kept."""
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


class FirehoseProducer:
    """`PutRecordBatch` to one stream: a call that fails whole (throttling, 5xx, a reset) is retried whole, a
    partial failure only its failed records. `calls` and `resent` count what happened."""

    def __init__(
        self,
        client: Any,
        stream: str,
        retry: RetryPolicy = UNTIL_DELIVERED,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.stream = stream
        self.retry = retry
        self.sleep = sleep
        self.calls = 0
        self.resent = 0
        self._random = random.Random()

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before the next call after `attempt` calls that took nothing (full jitter)."""
        return self._random.uniform(0, min(self.retry.max_delay, self.retry.base_delay * 2**attempt))

    def deliver(self, records: Sequence[bytes], stop: threading.Event | None = None) -> None:
        """Deliver every record (split into calls within the limits); raises `DeliveryError` when it cannot."""
        for data in records:
            if len(data) > MAX_RECORD_BYTES:
                raise DeliveryError(
                    f"a record of {len(data):,} bytes is over Firehose's {MAX_RECORD_BYTES:,}-byte (1,000 KiB) limit"
                )
        for batch in batches(records):
            self._deliver_batch(batch, stop)

    def _put(self, pending: list[bytes]) -> list[bytes]:
        """One call; the records it did not take (all of them when the call failed and may be retried)."""
        self.calls += 1
        try:
            response = self.client.put_record_batch(
                DeliveryStreamName=self.stream, Records=[{"Data": data} for data in pending]
            )
        except Exception as error:  # botocore raises many types; the error code decides
            if not retryable(error):
                raise DeliveryError(f"PutRecordBatch to {self.stream} failed: {error}") from error
            return pending
        results = response.get("RequestResponses") or []
        if not response.get("FailedPutCount") and len(results) == len(pending):
            return []
        failed = [data for data, result in zip(pending, results, strict=False) if result.get("ErrorCode")]
        return failed + pending[len(results) :]  # records the service did not answer for were not taken

    def _deliver_batch(self, batch: list[bytes], stop: threading.Event | None) -> None:
        pending = batch
        attempt = 0  # consecutive calls that took nothing: the backoff grows only with those
        calls = 0
        stopping_since: float | None = None
        while True:
            failed = self._put(pending)
            calls += 1
            if not failed:
                return
            if self.retry.max_attempts is not None and calls >= self.retry.max_attempts:
                raise DeliveryError(f"{len(failed)} record(s) not taken by {self.stream} after {calls} attempts")
            if stop is not None and stop.is_set():
                stopping_since = stopping_since or time.monotonic()
                if time.monotonic() - stopping_since > self.retry.give_up_after:
                    raise DeliveryError(f"{len(failed)} records still undelivered to {self.stream} at shutdown")
            self.resent += len(failed)
            # A partial failure is progress: growing the wait on it too kept a busy stream's backlog at seconds
            # per batch, past a SIGTERM's grace (reliability bench).
            if len(failed) < len(pending):
                attempt = 0
            pending = failed
            self.sleep(self.backoff(attempt))
            attempt = min(attempt + 1, 10)


def firehose_client(session: Any) -> Any:
    """boto3's Firehose client for a producer: no botocore retries (the producer retries per record with its own
    policy; botocore's on top would multiply the attempts) and no parameter validation (the producer builds the
    request itself, and validating 500 records costs ~5 µs each on the caller's GIL)."""
    from botocore.config import Config

    # `total_max_attempts` counts the first call; `max_attempts` would count retries (1 = one botocore retry)
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"}, parameter_validation=False, tcp_keepalive=True
    )
    return session.client("firehose", config=config)
