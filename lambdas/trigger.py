"""Trigger: count the reward records of each new S3 object once, and start one retraining run at the threshold.

Only lines that are reward records count (`reward_record`, the rule the join's `valid_reward` agrees with), and
only those whose reward is within `reward_range` (the join quarantines the others): garbage and out-of-range rewards
are counted as invalid and cannot start a run. The object is streamed (`object_lines`), so a gzip bomb or a huge
line costs bounded memory; an object too large for the function's byte or time budget is counted up to there and
reported (metric `RewardObjectsPartlyCounted` and a warning naming the key), never crashes the function.

EventBridge delivers S3 `Object Created` events for `rewards/` at least once; the count is made idempotent per
PUT (bucket, key, sequencer) with Powertools idempotency, added to an atomic counter, and when the counter passes
`retrain_threshold` a conditional write on the run lock lets exactly one invocation start the execution.

Why the sequencer and not the ETag: S3 gives every PUT of a key a new, larger `detail.object.sequencer` (S3 User
Guide, "Event message structure": it orders the events of one key), and a redelivered event carries the same one.
The ETag names the bytes, not the PUT: a re-upload of the same bytes has the same ETag and must count again.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from pipeline_common import store
from pipeline_common.aws import client
from pipeline_common.config import RunSettings, delivery_lag_seconds, env, settings
from pipeline_common.errors import InvalidEvent
from pipeline_common.lock_rules import execution_arn, lock_is_stale, start_abandoned
from pipeline_common.names import run_id_for
from pipeline_common.object_lines import LineReader, Oversized, Readable
from pipeline_common.observability import MetricUnit, logger, metrics, tracer
from pipeline_common.reward_record import record_problem, reward_value
from pipeline_common.timefmt import iso, now, parse_iso
from pipeline_common.window import Window, join_after, plan_window

REWARDS_PREFIX = "rewards/"
IDEMPOTENCY_TTL_SECONDS = 7 * 86400
"""EventBridge retries for at most 24 hours; a week keeps every redelivery inside the record's lifetime."""
MAX_LINE_BYTES = 1_000 * 1024
"""Firehose's largest record (1,000 KiB): a longer line is no single record a producer could have sent."""
MAX_OBJECT_BYTES = 128 * 1024 * 1024
"""Bytes of text (after gunzip) counted per object: Firehose's largest S3 buffer (`SizeInMBs` <= 128, applied to
the incoming data before compression), so every object Firehose writes fits and a bomb stops there."""
TIME_RESERVE_SECONDS = 10.0
"""Left of the function's time after counting, for the counter update, the lock and StartExecution."""
INVALID_EXAMPLES = 5
"""Invalid lines logged per object with their line number and reason (the count covers them all)."""


@dataclass(frozen=True)
class RewardObject:
    """The S3 object an `Object Created` event announces."""

    bucket: str
    key: str
    etag: str
    sequencer: str
    version_id: str | None = None

    @classmethod
    def from_event(cls, event: Any) -> RewardObject:
        """Read an EventBridge S3 event; anything else is an `InvalidEvent` naming what is missing."""
        if not isinstance(event, dict):
            raise InvalidEvent(f"expected an EventBridge event object, got {type(event).__name__}")
        if event.get("source") != "aws.s3" or event.get("detail-type") != "Object Created":
            raise InvalidEvent(
                f"expected source aws.s3 / detail-type 'Object Created', got {event.get('source')!r} / "
                f"{event.get('detail-type')!r}"
            )
        detail = event.get("detail")
        if not isinstance(detail, dict):
            raise InvalidEvent("event has no detail object")
        bucket = (detail.get("bucket") or {}).get("name")
        obj = detail.get("object") or {}
        key = obj.get("key")
        if not bucket or not key:
            raise InvalidEvent("event detail lacks bucket.name or object.key")
        sequencer = obj.get("sequencer")
        if not isinstance(sequencer, str) or not sequencer:
            # Without it a re-upload of the key is indistinguishable from a redelivery: refuse, do not guess.
            raise InvalidEvent(f"event detail.object for {key!r} has no sequencer (S3 sends one with every PUT)")
        version_id = obj.get("version-id")
        return cls(
            bucket=str(bucket),
            key=str(key),
            etag=str(obj.get("etag", "")),
            sequencer=sequencer,
            version_id=str(version_id) if version_id else None,
        )


@dataclass
class RewardCount:
    """What counting one object found: reward records, lines that are not, and whether it read to the end."""

    records: int = 0
    invalid_lines: int = 0
    """Lines that are not counted: not reward records, or rewards outside `reward_range` (`out_of_range`)."""
    out_of_range: int = 0
    bytes_read: int = 0
    stopped: str | None = None
    """Why counting ended before the object's end (budget, deadline, unreadable gzip); None when it read it all."""
    examples: list[str] = field(default_factory=list)

    def invalid(self, line_number: int, reason: str) -> None:
        self.invalid_lines += 1
        if len(self.examples) < INVALID_EXAMPLES:
            self.examples.append(f"line {line_number}: {reason}")


def line_problem(line: bytes, reward_range: tuple[float, float] | None) -> tuple[str | None, bool]:
    """Why a line does not count (None when it does), and whether that is only its reward outside `reward_range`.

    The record rule is `reward_record.record_problem` (the join's `valid_reward`); the range is the join's
    `BETWEEN low AND high`, both ends included."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return "not JSON", False
    problem = record_problem(record)
    if problem is not None or reward_range is None:
        return problem, False
    low, high = reward_range
    value = reward_value(record["reward"])
    if value is None or not low <= value <= high:
        return f"reward {value} is outside reward_range [{low}, {high}]", True
    return None, False


def count_records(
    body: bytes | Readable,
    *,
    deadline: float | None = None,
    max_bytes: int = MAX_OBJECT_BYTES,
    max_line_bytes: int = MAX_LINE_BYTES,
    reward_range: tuple[float, float] | None = None,
) -> RewardCount:
    """Count the reward records of a Firehose object (plain or gzip), streamed, with bounded memory per line.

    A record is a line `line_problem` accepts: a reward record (the rule the join's `valid_reward` agrees with)
    whose reward is within `reward_range` when one is given; blank lines are delimiters (Firehose's appended newline
    after a producer's own), every other line is invalid. Counting stops at `max_bytes` of text or at `deadline`
    (`time.monotonic()`), and `stopped` says so.
    """
    reader = LineReader(
        io.BytesIO(body) if isinstance(body, bytes) else body,
        max_line_bytes=max_line_bytes,
        max_bytes=max_bytes,
        deadline=deadline,
    )
    count = RewardCount()
    for number, line in enumerate(reader, start=1):
        if isinstance(line, Oversized):
            count.invalid(number, f"longer than {max_line_bytes} bytes (at least {line.at_least_bytes})")
        elif line.strip():
            problem, out_of_range = line_problem(line, reward_range)
            if problem is None:
                count.records += 1
            else:
                count.invalid(number, problem)
                count.out_of_range += out_of_range
    count.bytes_read, count.stopped = reader.bytes_read, reader.stopped
    return count


def counting_deadline(context: LambdaContext) -> float:
    """When counting must stop: the invocation's remaining time less what the steps after it need."""
    return time.monotonic() + context.get_remaining_time_in_millis() / 1000 - TIME_RESERVE_SECONDS


def _report(key: str, count: RewardCount) -> None:
    """Metrics and warnings for what was not counted: invalid lines, and an object not read to its end."""
    if count.invalid_lines:
        metrics.add_metric(name="InvalidRewardLines", unit=MetricUnit.Count, value=count.invalid_lines)
        if count.out_of_range:
            metrics.add_metric(name="RewardLinesOutOfRange", unit=MetricUnit.Count, value=count.out_of_range)
        logger.warning(
            "reward object has lines that are not reward records; they are not counted",
            extra={
                "key": key,
                "invalid_lines": count.invalid_lines,
                "out_of_range": count.out_of_range,
                "examples": count.examples,
            },
        )
    if count.stopped:
        metrics.add_metric(name="RewardObjectsPartlyCounted", unit=MetricUnit.Count, value=1)
        logger.warning(
            "reward object counted only in part",
            extra={"key": key, "reason": count.stopped, "bytes_read": count.bytes_read, "records": count.records},
        )


def execution_input(run_id: str, window: dict[str, str], reward_count: int, join_at: str) -> str:
    """The execution input of a triggered run (docs/contracts.md); the run waits until `join_after` to join."""
    return json.dumps(
        {"run_id": run_id, "window": window, "reward_count": reward_count, "join_after": join_at}, sort_keys=True
    )


def _join_at(window: Window, config: RunSettings) -> str:
    """When the run may join its window (`window.join_after`), as the execution input carries it."""
    return iso(join_after(window, config.reward_wait_seconds, delivery_lag_seconds()))


IDEMPOTENCY = IdempotencyConfig(
    event_key_jmespath="[bucket, key, sequencer]",
    expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
    raise_on_no_idempotency_key=True,
)


@cache
def _count_once() -> Any:
    """The idempotent counting step, built on first use (the persistence layer needs the table name from env)."""
    persistence = DynamoDBPersistenceLayer(table_name=env("IDEMPOTENCY_TABLE"))

    @idempotent_function(data_keyword_argument="reward_object", persistence_store=persistence, config=IDEMPOTENCY)
    def count_object(reward_object: dict[str, str], deadline: float | None = None) -> dict[str, Any]:
        body = client("s3").get_object(Bucket=reward_object["bucket"], Key=reward_object["key"])["Body"]
        config = settings()
        try:
            count = count_records(body, deadline=deadline, reward_range=config.reward_range)
        finally:
            body.close()
        _report(reward_object["key"], count)
        experiment_id = config.experiment_id
        # Nothing to add: read instead. An ADD of 0 changes no attribute, so UPDATED_NEW may return none (moto
        # does), and a garbage or bomb object after earlier rewards raised on it until Lambda's retries ran out.
        total = (
            store.add_to_counter(experiment_id, count.records) if count.records else store.read_counter(experiment_id)
        )
        metrics.add_metric(name="RewardsCounted", unit=MetricUnit.Count, value=count.records)
        # Saved as the idempotency record: a redelivery answers this and adds nothing, however the count ended.
        return {
            "object": reward_object["key"],  # the idempotency record names the object it counted
            "records": count.records,
            "invalid_lines": count.invalid_lines,
            "out_of_range": count.out_of_range,
            "counter": total,
            "complete": count.stopped is None,
            "stopped": count.stopped,
        }

    return count_object


def _start(run_id: str, execution_input_text: str) -> None:
    """Start the run's execution; a repeat with the same name and input is a no-op on Step Functions."""
    try:
        client("stepfunctions").start_execution(
            stateMachineArn=env("STATE_MACHINE_ARN"), name=run_id, input=execution_input_text
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        logger.info("execution already exists", extra={"run_id": run_id})


def _resume(experiment_id: str, lock: store.Lock) -> dict[str, Any]:
    """A run holds the lock. If its trigger died between taking the lock and starting, finish that start.

    Only once the holder is surely gone (`start_abandoned`): a live holder may still replace the input with the
    count it re-reads under the lock, and starting before it would run on the stale one. The count is then re-read
    here, under the same lock, for the same reason.
    """
    if lock.started or not start_abandoned(parse_iso(lock.since), now()):
        return {"started": False, "reason": "run_in_flight", "run_id": lock.run_id}
    payload = json.loads(lock.execution_input)
    config = settings()
    count = store.read_counter(experiment_id)
    if count < config.retrain_threshold:
        store.release_lock(experiment_id, lock.run_id)
        return {"started": False, "reason": "below_threshold", "counter": count}
    join_at = _join_at(Window.from_dict(payload["window"]), config)
    text = execution_input(lock.run_id, payload["window"], count, join_at)
    store.set_lock_input(experiment_id, lock.run_id, text)
    _start(lock.run_id, text)
    store.mark_lock_started(experiment_id, lock.run_id)
    logger.warning("resumed a start its trigger abandoned", extra={"run_id": lock.run_id, "since": lock.since})
    return {"started": True, "run_id": lock.run_id, "window": payload["window"], "reward_count": count}


def _execution_status(run_id: str) -> str | None:
    """The status of the lock holder's execution, or None when Step Functions does not know it."""
    try:
        described = client("stepfunctions").describe_execution(
            executionArn=execution_arn(env("STATE_MACHINE_ARN"), run_id)
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            return None
        raise
    return str(described["status"])


def _release_if_stale(experiment_id: str, lock: store.Lock) -> bool:
    """Release a lock whose execution ended without finalize (stopped by hand, timed out); True when released."""
    if not lock.started:
        return False
    status = _execution_status(lock.run_id)
    if not lock_is_stale(lock.started, status):
        return False
    if not store.release_lock(experiment_id, lock.run_id):
        return False  # another trigger released (and maybe re-took) it first
    store.update_experiment(
        experiment_id,
        last_stale_lock={"run_id": lock.run_id, "since": lock.since, "execution_status": status or "UNKNOWN"},
    )
    metrics.add_metric(name="StaleLocksReleased", unit=MetricUnit.Count, value=1)
    logger.warning(
        "released a stale run lock", extra={"run_id": lock.run_id, "since": lock.since, "execution_status": status}
    )
    return True


def maybe_start_run(config: RunSettings) -> dict[str, Any]:
    """Start a run when the counter has passed the threshold and no run is in flight."""
    experiment_id = config.experiment_id
    count = store.read_counter(experiment_id)
    if count < config.retrain_threshold:
        return {"started": False, "reason": "below_threshold", "counter": count}
    lock = store.read_lock(experiment_id)
    if lock is not None and not _release_if_stale(experiment_id, lock):
        return _resume(experiment_id, lock)
    # The window ends at the crossing: the rewards that crossed the threshold belong to its decisions. The run
    # joins once their reward wait is over and Firehose has delivered what was sent by then.
    window = plan_window(store.read_experiment(experiment_id).get("watermark"), now(), 0)
    if window is None:
        return {"started": False, "reason": "empty_window", "counter": count}
    run_id = run_id_for(experiment_id, window.end)
    join_at = _join_at(window, config)
    text = execution_input(run_id, window.to_dict(), count, join_at)
    if not store.acquire_lock(experiment_id, run_id, iso(now()), text):
        lock = store.read_lock(experiment_id)
        return _resume(experiment_id, lock) if lock else {"started": False, "reason": "run_in_flight"}
    # The count read above may predate the previous run's finalize (it releases the lock and subtracts what it
    # consumed in one transaction). Holding the lock now, a consistent read sees that subtraction; without it the
    # run would consume rewards the previous one already consumed and the counter would go negative.
    count = store.read_counter(experiment_id)
    if count < config.retrain_threshold:
        store.release_lock(experiment_id, run_id)
        return {"started": False, "reason": "below_threshold", "counter": count}
    fresh = execution_input(run_id, window.to_dict(), count, join_at)
    if fresh != text:
        text = fresh
        store.set_lock_input(experiment_id, run_id, text)
    try:
        _start(run_id, text)
    except Exception:
        # Without an execution nobody would release the lock: give it back so the next object retries.
        store.release_lock(experiment_id, run_id)
        raise
    store.mark_lock_started(experiment_id, run_id)
    logger.info(
        "started retraining run",
        extra={"run_id": run_id, "window": window.to_dict(), "rewards": count, "join_after": join_at},
    )
    return {"started": True, "run_id": run_id, "window": window.to_dict(), "reward_count": count, "join_after": join_at}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """EventBridge S3 `Object Created` -> count once -> maybe start a run.

    A malformed event or an object outside `rewards/` is logged and answered, not raised: EventBridge would only
    redeliver the same bad event.
    """
    try:
        reward_object = RewardObject.from_event(event)
    except InvalidEvent as error:
        logger.error("ignoring malformed event", extra={"error": str(error)})
        metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
        return {"status": "ignored", "reason": str(error)}
    logger.set_correlation_id(event.get("id"))
    if not reward_object.key.startswith(REWARDS_PREFIX):
        return {"status": "ignored", "reason": f"key {reward_object.key!r} is not under {REWARDS_PREFIX}"}
    config = settings()
    IDEMPOTENCY.register_lambda_context(context)
    try:
        counted = _count_once()(reward_object=asdict(reward_object), deadline=counting_deadline(context))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            raise
        logger.warning("reward object vanished before it was counted", extra={"key": reward_object.key})
        return {"status": "ignored", "reason": "object not found"}
    decision = maybe_start_run(config)
    return {"status": "counted", "object": reward_object.key, **counted, **decision}
