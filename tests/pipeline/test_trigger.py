"""Trigger: each reward object counts once, one execution starts at the threshold, bad events do not loop."""

from __future__ import annotations

import gzip
import json
import math
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import trigger
from pipeline_common import store
from pipeline_common.timefmt import iso, parse_iso
from pipeline_helpers import ACCOUNT, BUCKET, REGION, FakeContext

# A run stays in flight for the length of a test, as a real one does until finalize releases the lock.
IN_FLIGHT_MACHINE = json.dumps({"StartAt": "Run", "States": {"Run": {"Type": "Wait", "Seconds": 300, "End": True}}})


def s3_event(key: str, etag: str = "etag-1", sequencer: str = "0001", event_id: str = "event-1") -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2026-11-23T00:30:00Z",
        "region": REGION,
        "resources": [f"arn:aws:s3:::{BUCKET}"],
        "detail": {
            "version": "0",
            "bucket": {"name": BUCKET},
            "object": {"key": key, "size": 100, "etag": etag, "sequencer": sequencer},
            "request-id": "request",
            "requester": "firehose.amazonaws.com",
            "reason": "PutObject",
        },
    }


def reward_line(event_id: str, reward: Any = 1.0) -> str:
    return json.dumps({"event_id": event_id, "reward": reward, "reward_time": "2026-11-23T00:29:00.000Z"}) + "\n"


def put_rewards(key: str, count: int, compress: bool = False) -> None:
    body = "".join(reward_line(f"e{i}") for i in range(count)).encode()
    if compress:
        body = gzip.compress(body)
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=body)


@pytest.fixture
def machine(aws: None, lambda_env: dict[str, str]) -> str:
    """A stand-in state machine under the contract's name (these tests are about starting, not running)."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    return sfn.create_state_machine(
        name=lambda_env["STATE_MACHINE_ARN"].rsplit(":", 1)[-1],
        definition=IN_FLIGHT_MACHINE,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/states",
    )["stateMachineArn"]


def executions(machine_arn: str) -> list[dict[str, Any]]:
    return boto3.client("stepfunctions", region_name=REGION).list_executions(stateMachineArn=machine_arn)["executions"]


def test_plain_and_gzip_objects_count_their_reward_lines_as_before() -> None:
    """Blank lines are delimiters (Firehose's appended newline after a producer's own), not invalid lines."""
    body = (reward_line("a") + "\n" + reward_line("b") + reward_line("c").rstrip("\n")).encode()
    plain = trigger.count_records(body)
    assert (plain.records, plain.invalid_lines, plain.stopped) == (3, 0, None)
    zipped = trigger.count_records(gzip.compress(body))
    assert (zipped.records, zipped.invalid_lines, zipped.stopped) == (3, 0, None)
    # gzip allows several members one after another; gzip.decompress read them all and so does the stream
    members = trigger.count_records(gzip.compress(body + b"\n") + gzip.compress(reward_line("d").encode()))
    assert (members.records, members.stopped) == (4, None)
    assert trigger.count_records(b"").records == 0


def logged_keys(caplog: pytest.LogCaptureFixture, message: str) -> list[str]:
    """The object keys named by the trigger's warnings that contain `message`."""
    return [getattr(r, "key", "") for r in caplog.records if r.levelname == "WARNING" and message in r.getMessage()]


GARBAGE = [
    b"this is not json",
    b'{"a": 1}',
    b"[1, 2, 3]",
    b'"a string"',
    b'{"event_id": "g1", "reward": 1\n',
    b'{"event_id": 7, "reward": 1.0, "reward_time": "2026-11-23T00:29:00.000Z"}',
    b'{"event_id": "g2", "reward": "lots", "reward_time": "2026-11-23T00:29:00.000Z"}',
    b'{"event_id": "g3", "reward": true, "reward_time": "2026-11-23T00:29:00.000Z"}',
    b'{"event_id": "g4", "reward": NaN, "reward_time": "2026-11-23T00:29:00.000Z"}',
    b'{"event_id": "g5", "reward": 1e400, "reward_time": "2026-11-23T00:29:00.000Z"}',
    b'{"event_id": "g6", "reward": 1.0}',
    b'{"event_id": "g7", "reward": 1.0, "reward_time": "yesterday"}',
    b'{"event_id": "g8", "reward": 1.0, "reward_time": "2026-02-30T00:29:00.000Z"}',
    b"\xff\xfe not utf-8",
]


def test_garbage_lines_are_counted_as_invalid_and_start_no_run(
    machine: str, context: FakeContext, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # threshold 10: 14 garbage lines and one reward counted as records would start a run
    lines = [*GARBAGE, reward_line("real").encode().rstrip(b"\n")]
    body = b"\n".join(lines) + b"\n"
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key="rewards/2026/11/23/00/garbage", Body=body)
    result = trigger.handler(s3_event("rewards/2026/11/23/00/garbage"), context)
    assert result["records"] == 1 and result["invalid_lines"] == len(GARBAGE)
    assert store.read_counter("bandit-demo") == 1
    assert result["started"] is False and executions(machine) == []
    assert '"InvalidRewardLines":[14.0]' in capfd.readouterr().out
    assert logged_keys(caplog, "not reward records") == ["rewards/2026/11/23/00/garbage"]


def test_a_string_holding_a_number_is_a_reward_as_the_join_reads_it() -> None:
    """The join reads `reward` as a string and `try_cast`s it, so `"0.5"` is a reward there and here."""
    counted = trigger.count_records((reward_line("s", "0.5") + reward_line("t", "-1e3")).encode())
    assert (counted.records, counted.invalid_lines) == (2, 0)


def test_rewards_outside_the_reward_range_are_not_counted_toward_the_threshold(
    machine: str, context: FakeContext, capfd: pytest.CaptureFixture[str]
) -> None:
    """The join quarantines them (`out_of_range`), so they must not start a run: 1e6 or -3 for a [0, 1] reward is a
    producer's bug, not a reward. Both ends of the range count, as the join's BETWEEN keeps them."""
    inside = [reward_line("low", 0.0), reward_line("high", 1), reward_line("mid", "0.5")]
    outside = [reward_line(f"big{n}", 1e6) for n in range(12)] + [reward_line("neg", -3.0), reward_line("up", "1.01")]
    body = "".join(inside + outside).encode()
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key="rewards/2026/11/23/00/range", Body=body)
    result = trigger.handler(s3_event("rewards/2026/11/23/00/range"), context)
    assert (result["records"], result["invalid_lines"], result["out_of_range"]) == (3, 14, 14)
    assert store.read_counter("bandit-demo") == 3  # threshold 10: counted, the 14 would have started a run
    assert result["started"] is False and executions(machine) == []
    assert '"RewardLinesOutOfRange":[14.0]' in capfd.readouterr().out
    assert trigger.count_records(body).records == 17  # without a range (a direct call) every record counts


@pytest.mark.parametrize("settings_overrides", [{"reward_range": [-1.0, 5.0]}])
def test_the_reward_range_is_the_configured_one(machine: str, context: FakeContext) -> None:
    body = "".join([reward_line("a", 4.5), reward_line("b", -1.0), reward_line("c", -3.0)]).encode()
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key="rewards/2026/11/23/00/wide", Body=body)
    result = trigger.handler(s3_event("rewards/2026/11/23/00/wide"), context)
    assert (result["records"], result["out_of_range"]) == (2, 1)


def test_a_line_over_the_line_bound_is_invalid_not_a_crash(machine: str, context: FakeContext) -> None:
    huge = reward_line("x" * (2 << 20))  # a well-formed record, but no Firehose record is this long
    body = (reward_line("before") + huge + reward_line("after")).encode()
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key="rewards/2026/11/23/00/long", Body=body)
    result = trigger.handler(s3_event("rewards/2026/11/23/00/long"), context)
    assert result["records"] == 2 and store.read_counter("bandit-demo") == 2
    assert (result["invalid_lines"], result["complete"]) == (1, True)


def gzip_bomb(mebibytes: int) -> bytes:
    """`mebibytes` MiB of zeros as one gzip member (about 1 KiB per MiB), built without holding the zeros."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    return b"".join([*(compressor.compress(zeros) for _ in range(mebibytes)), compressor.flush()])


def test_a_gzip_bomb_is_counted_in_part_with_bounded_memory_and_reported(
    machine: str, context: FakeContext, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    bomb = gzip_bomb(512)  # 0.5 MB that inflates to 512 MiB, the function's whole memory
    assert len(bomb) < 1 << 20
    key = "rewards/2026/11/23/00/bomb.gz"
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=bomb)
    tracemalloc.start()
    try:
        result = trigger.handler(s3_event(key), context)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"peak {peak} bytes"
    assert result["status"] == "counted" and result["records"] == 0 and result["complete"] is False
    assert result["stopped"].startswith("byte budget")
    assert '"RewardObjectsPartlyCounted":[1.0]' in capfd.readouterr().out
    assert logged_keys(caplog, "counted only in part") == [key]
    # the redelivered event answers the stored partial count: nothing is read or added again
    again = trigger.handler(s3_event(key), context)
    assert again["records"] == 0 and again["complete"] is False
    assert store.read_counter("bandit-demo") == 0


def test_an_object_with_no_record_is_counted_when_the_counter_already_holds_rewards(
    machine: str, context: FakeContext
) -> None:
    """Adding 0 changes no attribute, and DynamoDB (moto here) may then return no `count` under UPDATED_NEW: an
    object of garbage or a bomb after earlier rewards made the function raise, retried until Lambda gave up."""
    store.add_to_counter("bandit-demo", 5)
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key="rewards/2026/11/23/00/junk", Body=b"\n".join(GARBAGE) + b"\n")
    s3.put_object(Bucket=BUCKET, Key="rewards/2026/11/23/00/bomb.gz", Body=gzip_bomb(200))
    junk = trigger.handler(s3_event("rewards/2026/11/23/00/junk"), context)
    assert (junk["status"], junk["records"], junk["invalid_lines"], junk["counter"]) == ("counted", 0, 14, 5)
    bomb = trigger.handler(s3_event("rewards/2026/11/23/00/bomb.gz", sequencer="0002"), context)
    assert (bomb["status"], bomb["records"], bomb["complete"], bomb["counter"]) == ("counted", 0, False, 5)
    assert store.read_counter("bandit-demo") == 5 and executions(machine) == []


class ShortContext(FakeContext):
    """An invocation with less time left than the steps after counting need."""

    def get_remaining_time_in_millis(self) -> int:
        return 5_000  # the trigger keeps 10 s for the counter, the lock and StartExecution


def test_an_object_past_the_time_left_is_counted_in_part_and_a_retry_does_not_count_again(machine: str) -> None:
    put_rewards("rewards/2026/11/23/00/slow", 12)
    event = s3_event("rewards/2026/11/23/00/slow")
    result = trigger.handler(event, ShortContext())
    assert result["records"] == 0 and store.read_counter("bandit-demo") == 0
    assert result["complete"] is False and result["stopped"].startswith("time budget")
    # a retry with all the time in the world gets the idempotency record, not a second count
    retried = trigger.handler(event, FakeContext())
    assert retried["records"] == 0 and store.read_counter("bandit-demo") == 0


def test_an_unreadable_or_truncated_gzip_object_is_reported_not_raised(machine: str, context: FakeContext) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key="rewards/2026/11/23/00/bad.gz", Body=b"\x1f\x8b" + b"not deflate at all" * 10)
    bad = trigger.handler(s3_event("rewards/2026/11/23/00/bad.gz"), context)
    assert bad["records"] == 0 and bad["complete"] is False and bad["stopped"].startswith("unreadable gzip")
    whole = gzip.compress("".join(reward_line(f"t{i}") for i in range(200)).encode())
    s3.put_object(Bucket=BUCKET, Key="rewards/2026/11/23/00/cut.gz", Body=whole[: len(whole) // 2])
    cut = trigger.handler(s3_event("rewards/2026/11/23/00/cut.gz"), context)
    assert 0 < cut["records"] < 200 and cut["complete"] is False and cut["stopped"].startswith("truncated gzip")
    assert store.read_counter("bandit-demo") == cut["records"]


def test_a_redelivered_event_counts_once(machine: str, context: FakeContext) -> None:
    put_rewards("rewards/2026/11/23/00/part-1", 4)
    event = s3_event("rewards/2026/11/23/00/part-1")
    first = trigger.handler(event, context)
    second = trigger.handler(event, context)
    assert first["records"] == 4 and second["records"] == 4
    assert store.read_counter("bandit-demo") == 4
    assert executions(machine) == []


def test_a_new_object_counts_again(machine: str, context: FakeContext) -> None:
    put_rewards("rewards/2026/11/23/00/a", 3)
    put_rewards("rewards/2026/11/23/00/b", 2, compress=True)
    trigger.handler(s3_event("rewards/2026/11/23/00/a", etag="a"), context)
    trigger.handler(s3_event("rewards/2026/11/23/00/b", etag="b"), context)
    assert store.read_counter("bandit-demo") == 5


def test_passing_the_threshold_starts_one_execution_with_the_contract_input(machine: str, context: FakeContext) -> None:
    store.update_experiment("bandit-demo", watermark="2026-11-22T12:00:00.000Z")
    put_rewards("rewards/2026/11/23/00/big", 12)
    before = iso(trigger.now())
    result = trigger.handler(s3_event("rewards/2026/11/23/00/big"), context)
    assert result["started"] is True
    started = executions(machine)
    assert [execution["name"] for execution in started] == [result["run_id"]]
    description = boto3.client("stepfunctions", region_name=REGION).describe_execution(
        executionArn=started[0]["executionArn"]
    )
    payload = json.loads(description["input"])
    assert payload["run_id"] == result["run_id"]
    assert payload["reward_count"] == 12
    assert payload["window"]["start"] == "2026-11-22T12:00:00.000Z"
    # the window ends at the crossing; the join waits out the reward wait (300 s) plus the delivery lag (0 here)
    end = parse_iso(payload["window"]["end"])
    assert before <= payload["window"]["end"] <= iso(trigger.now())
    assert payload["join_after"] == iso(datetime.fromtimestamp(math.ceil(end.timestamp() + 300), UTC))
    assert result["join_after"] == payload["join_after"]
    lock = store.read_lock("bandit-demo")
    assert lock is not None and lock.run_id == result["run_id"] and lock.started


def test_rewards_during_a_run_count_but_start_nothing(machine: str, context: FakeContext) -> None:
    put_rewards("rewards/2026/11/23/00/one", 12)
    put_rewards("rewards/2026/11/23/00/two", 5)
    first = trigger.handler(s3_event("rewards/2026/11/23/00/one", etag="1"), context)
    second = trigger.handler(s3_event("rewards/2026/11/23/00/two", etag="2"), context)
    assert first["started"] is True
    assert second["started"] is False and second["reason"] == "run_in_flight"
    assert store.read_counter("bandit-demo") == 17
    assert len(executions(machine)) == 1


@pytest.fixture
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each request atomically; moto's in-process backend does not lock, so serialize its requests.

    The handler's own steps (count, read, conditional put, start) still interleave freely between threads.
    """
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    original = DynamoHandler.call_action

    def call_action(self: DynamoHandler) -> Any:
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)


def test_concurrent_triggers_start_exactly_one_execution(
    machine: str, context: FakeContext, atomic_dynamodb: None
) -> None:
    keys = [f"rewards/2026/11/23/00/part-{i}" for i in range(8)]
    for key in keys:
        put_rewards(key, 3)
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(keys))

    def run(key: str) -> None:
        barrier.wait()
        try:
            results.append(trigger.handler(s3_event(key, etag=key), FakeContext()))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.read_counter("bandit-demo") == 24
    assert len(executions(machine)) == 1
    assert sum(1 for result in results if result.get("started")) == 1


def test_an_interrupted_start_is_resumed_by_the_next_object(machine: str, context: FakeContext) -> None:
    """The lock was taken but the Lambda died before StartExecution: the next trigger starts that same run."""
    window = {"start": "2026-11-22T00:00:00.000Z", "end": "2026-11-23T00:00:00.000Z"}
    text = trigger.execution_input("bandit-demo-20261123T000000", window, 11, "2026-11-23T00:05:00.000Z")
    assert store.acquire_lock("bandit-demo", "bandit-demo-20261123T000000", "2026-11-23T00:05:00.000Z", text)
    store.add_to_counter("bandit-demo", 11)
    put_rewards("rewards/2026/11/23/00/late", 1)
    result = trigger.handler(s3_event("rewards/2026/11/23/00/late"), context)
    assert result["started"] is True and result["run_id"] == "bandit-demo-20261123T000000"
    assert [execution["name"] for execution in executions(machine)] == ["bandit-demo-20261123T000000"]


@pytest.mark.parametrize(
    "event",
    [
        None,
        "text",
        {"source": "aws.s3", "detail-type": "Object Deleted", "detail": {}},
        {"source": "aws.s3", "detail-type": "Object Created"},
        {"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": {}, "object": {"key": "k"}}},
    ],
)
def test_malformed_events_are_reported_not_raised(machine: str, context: FakeContext, event: Any) -> None:
    result = trigger.handler(event, context)
    assert result["status"] == "ignored"
    assert result["reason"]


def test_objects_outside_rewards_and_vanished_objects_are_ignored(machine: str, context: FakeContext) -> None:
    assert trigger.handler(s3_event("decisions/2026/11/23/00/x"), context)["status"] == "ignored"
    assert trigger.handler(s3_event("rewards/2026/11/23/00/gone"), context)["status"] == "ignored"
    assert store.read_counter("bandit-demo") == 0


def test_a_lock_stranded_by_an_execution_stopped_by_hand_is_taken_over(
    machine: str, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finalize never ran for an aborted execution: the next crossing releases its lock and starts a new run."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    put_rewards("rewards/2026/11/23/00/one", 12)
    first = trigger.handler(s3_event("rewards/2026/11/23/00/one", etag="1"), context)
    assert first["started"] is True
    arn = executions(machine)[0]["executionArn"]
    sfn.stop_execution(executionArn=arn, cause="stopped by an operator")
    for _ in range(50):  # the interpreter applies the stop on its own thread
        if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING":
            break
        time.sleep(0.1)
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"

    # The next crossing comes later: its window (and so its run id) ends after the stranded run's.
    later = trigger.now() + timedelta(minutes=10)
    monkeypatch.setattr(trigger, "now", lambda: later)
    put_rewards("rewards/2026/11/23/00/two", 3)
    second = trigger.handler(s3_event("rewards/2026/11/23/00/two", etag="2"), context)
    assert second["started"] is True and second["run_id"] != first["run_id"]
    assert {e["name"] for e in executions(machine)} == {first["run_id"], second["run_id"]}
    lock = store.read_lock("bandit-demo")
    assert lock is not None and lock.run_id == second["run_id"]
    recorded = store.read_experiment("bandit-demo")["last_stale_lock"]
    assert recorded == {"run_id": first["run_id"], "since": recorded["since"], "execution_status": "ABORTED"}


def a_started_run_holds_the_lock() -> str:
    """A triggered run on 11 rewards took the lock and started; one more reward object has arrived. Its run id."""
    window = {"start": "2026-11-22T00:00:00.000Z", "end": "2026-11-23T00:00:00.000Z"}
    run_id = "bandit-demo-20261123T000000"
    text = trigger.execution_input(run_id, window, 11, "2026-11-23T00:05:00.000Z")
    assert store.acquire_lock("bandit-demo", run_id, "2026-11-23T00:05:00.000Z", text)
    store.mark_lock_started("bandit-demo", run_id)
    store.add_to_counter("bandit-demo", 11)
    put_rewards("rewards/2026/11/23/00/late", 1)
    return run_id


def test_a_lock_held_by_a_running_execution_is_kept(machine: str, context: FakeContext) -> None:
    """A lock naming an execution Step Functions reports RUNNING stays, whatever its age."""
    run_id = a_started_run_holds_the_lock()
    original = trigger._execution_status
    seen: list[str] = []

    def running(run: str) -> str:
        seen.append(run)
        return "RUNNING"

    trigger._execution_status = running  # type: ignore[assignment]
    try:
        result = trigger.handler(s3_event("rewards/2026/11/23/00/late"), context)
    finally:
        trigger._execution_status = original  # type: ignore[assignment]
    assert seen == [run_id]
    assert result["started"] is False and result["reason"] == "run_in_flight"
    assert store.read_lock("bandit-demo").run_id == run_id  # type: ignore[union-attr]
    assert executions(machine) == []


def test_a_started_lock_whose_execution_does_not_exist_is_released(machine: str, context: FakeContext) -> None:
    run_id = "bandit-demo-20261101T000000"
    text = trigger.execution_input(run_id, {"start": "a", "end": "b"}, 11, "c")
    assert store.acquire_lock("bandit-demo", run_id, "2026-11-01T00:05:00.000Z", text)
    store.mark_lock_started("bandit-demo", run_id)
    store.update_experiment("bandit-demo", watermark="2026-11-22T12:00:00.000Z")
    put_rewards("rewards/2026/11/23/00/next", 12)
    result = trigger.handler(s3_event("rewards/2026/11/23/00/next"), context)
    assert result["started"] is True
    assert store.read_experiment("bandit-demo")["last_stale_lock"]["execution_status"] == "UNKNOWN"


def previous_run_finalizes_meanwhile(
    monkeypatch: pytest.MonkeyPatch, counted: int, watermark: str
) -> Callable[[str], store.Lock | None]:
    """A started previous run holds the lock with `counted` rewards on the counter; it finalizes (releases the lock,
    takes its threshold off) between the trigger's count and its look at the lock. Returns the real `read_lock`."""
    threshold = trigger.settings().retrain_threshold
    previous = "bandit-demo-20261122T000000"
    assert store.acquire_lock("bandit-demo", previous, "2026-11-22T00:05:00.000Z", "{}")
    store.mark_lock_started("bandit-demo", previous)
    store.add_to_counter("bandit-demo", counted)
    store.update_experiment("bandit-demo", watermark=watermark)
    put_rewards("rewards/2026/11/23/00/during", 1)
    real_read_lock = store.read_lock

    def finalize_between(experiment_id: str) -> store.Lock | None:
        if real_read_lock(experiment_id) is not None:
            store.release_lock(experiment_id, previous)
            store.add_to_counter(experiment_id, -threshold)
        return real_read_lock(experiment_id)

    monkeypatch.setattr(store, "read_lock", finalize_between)
    return real_read_lock


def test_a_count_read_before_the_previous_finalize_is_not_consumed_twice(
    machine: str, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race seen under load: the trigger read 2T-1 rewards, then the previous run's finalize released the lock and
    subtracted its T before the trigger looked at the lock. The new run must not take 2T-1 (the counter would end
    below zero and the next rewards would start nothing)."""
    threshold = trigger.settings().retrain_threshold
    real_read_lock = previous_run_finalizes_meanwhile(monkeypatch, 2 * threshold - 2, "2026-11-23T00:00:00.000Z")
    result = trigger.handler(s3_event("rewards/2026/11/23/00/during"), context)
    assert result["started"] is False and result["reason"] == "below_threshold"
    assert result["counter"] == threshold - 1
    assert store.read_counter("bandit-demo") == threshold - 1
    assert real_read_lock("bandit-demo") is None
    assert executions(machine) == []


def test_the_run_takes_the_count_read_under_the_lock(
    machine: str, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    threshold = trigger.settings().retrain_threshold
    real_read_lock = previous_run_finalizes_meanwhile(monkeypatch, 3 * threshold - 1, "2026-11-22T12:00:00.000Z")
    result = trigger.handler(s3_event("rewards/2026/11/23/00/during"), context)
    assert result["started"] is True and result["reward_count"] == 2 * threshold
    started = executions(machine)
    description = boto3.client("stepfunctions", region_name=REGION).describe_execution(
        executionArn=started[0]["executionArn"]
    )
    assert json.loads(description["input"])["reward_count"] == 2 * threshold
    assert json.loads(real_read_lock("bandit-demo").execution_input)["reward_count"] == 2 * threshold  # type: ignore[union-attr]


def test_a_live_holders_unconfirmed_start_is_left_to_it(machine: str, context: FakeContext) -> None:
    """The race the reliability benchmark caught: a trigger took the lock (input with a count read before the
    previous finalize) and is re-reading the count; another trigger must not start the run with that stale input."""
    threshold = trigger.settings().retrain_threshold
    run_id = "bandit-demo-20261123T000000"
    stale = trigger.execution_input(run_id, {"start": "a", "end": "b"}, 5 * threshold, "c")
    assert store.acquire_lock("bandit-demo", run_id, iso(trigger.now()), stale)  # just taken, not started
    store.add_to_counter("bandit-demo", threshold)
    put_rewards("rewards/2026/11/23/00/meanwhile", 1)
    result = trigger.handler(s3_event("rewards/2026/11/23/00/meanwhile"), context)
    assert result["started"] is False and result["reason"] == "run_in_flight"
    assert executions(machine) == []
    assert store.read_lock("bandit-demo").started is False  # type: ignore[union-attr]


def test_an_abandoned_start_is_resumed_with_the_count_read_under_the_lock(machine: str, context: FakeContext) -> None:
    threshold = trigger.settings().retrain_threshold
    run_id = "bandit-demo-20261123T000000"
    window = {"start": "2026-11-22T00:00:00.000Z", "end": "2026-11-23T00:00:00.000Z"}
    stale = trigger.execution_input(run_id, window, 5 * threshold, "2026-11-23T00:05:00.000Z")
    assert store.acquire_lock("bandit-demo", run_id, "2026-11-23T00:05:00.000Z", stale)  # long ago: holder died
    store.add_to_counter("bandit-demo", threshold)
    put_rewards("rewards/2026/11/23/00/after", 1)
    result = trigger.handler(s3_event("rewards/2026/11/23/00/after"), context)
    assert result["started"] is True and result["reward_count"] == threshold + 1
    described = boto3.client("stepfunctions", region_name=REGION).describe_execution(
        executionArn=executions(machine)[0]["executionArn"]
    )
    # join_after is derived from the window again: its end plus the reward wait (300 s) and the delivery lag (0 here)
    resumed = {
        "run_id": run_id,
        "window": window,
        "reward_count": threshold + 1,
        "join_after": "2026-11-23T00:05:00.000Z",
    }
    assert json.loads(described["input"]) == resumed


def test_a_lock_stranded_by_a_timed_out_execution_is_taken_over(
    aws: None, lambda_env: dict[str, str], context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An execution that hits the state machine's TimeoutSeconds ends TIMED_OUT without running any Catch, so
    RecordFailure never releases its lock: the next crossing must."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    timing_out = json.loads(IN_FLIGHT_MACHINE) | {"TimeoutSeconds": 1}
    machine = sfn.create_state_machine(
        name=lambda_env["STATE_MACHINE_ARN"].rsplit(":", 1)[-1],
        definition=json.dumps(timing_out),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/states",
    )["stateMachineArn"]
    put_rewards("rewards/2026/11/23/00/one", 12)
    first = trigger.handler(s3_event("rewards/2026/11/23/00/one", etag="1"), context)
    assert first["started"] is True
    arn = executions(machine)[0]["executionArn"]
    for _ in range(50):
        if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING":
            break
        time.sleep(0.1)
    assert sfn.describe_execution(executionArn=arn)["status"] == "TIMED_OUT"
    assert store.read_lock("bandit-demo").run_id == first["run_id"]  # type: ignore[union-attr]

    later = trigger.now() + timedelta(minutes=10)
    monkeypatch.setattr(trigger, "now", lambda: later)
    put_rewards("rewards/2026/11/23/00/two", 3)
    second = trigger.handler(s3_event("rewards/2026/11/23/00/two", etag="2"), context)
    assert second["started"] is True and second["run_id"] != first["run_id"]
    assert store.read_lock("bandit-demo").run_id == second["run_id"]  # type: ignore[union-attr]
    assert store.read_experiment("bandit-demo")["last_stale_lock"]["execution_status"] == "TIMED_OUT"


def test_a_lock_held_by_an_execution_pending_redrive_is_kept(
    machine: str, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PENDING_REDRIVE (DescribeExecution) is an execution about to run again: its lock is not stale."""
    run_id = a_started_run_holds_the_lock()
    monkeypatch.setattr(trigger, "_execution_status", lambda run: "PENDING_REDRIVE")
    result = trigger.handler(s3_event("rewards/2026/11/23/00/late"), context)
    assert result["started"] is False and result["reason"] == "run_in_flight"
    assert store.read_lock("bandit-demo").run_id == run_id  # type: ignore[union-attr]
    assert executions(machine) == []


def test_a_reupload_of_the_same_bytes_counts_again_and_its_redelivery_does_not(
    machine: str, context: FakeContext
) -> None:
    """A second PUT of a key: same ETag (same bytes), a new, larger sequencer. AWS redelivers an event unchanged."""
    key = "rewards/2026/11/23/00/again"
    put_rewards(key, 3)
    trigger.handler(s3_event(key, etag="69c174027cd53c8ada813cf4e69f7e10", sequencer="0064D3901D00059242"), context)
    put_rewards(key, 3)
    reupload = s3_event(key, etag="69c174027cd53c8ada813cf4e69f7e10", sequencer="0064D3901D0005A1F0", event_id="e2")
    trigger.handler(reupload, context)
    assert store.read_counter("bandit-demo") == 6
    trigger.handler({**reupload, "id": "e2-redelivered"}, context)  # a redelivery keeps detail, may change nothing
    assert store.read_counter("bandit-demo") == 6


def test_an_event_without_a_sequencer_is_refused_rather_than_keyed_on_nothing(
    machine: str, context: FakeContext
) -> None:
    """Without `detail.object.sequencer` every PUT of a key would share one idempotency key and re-uploads would be
    lost (moto's old event had one fixed sequencer; the trigger used to default a missing one to "")."""
    key = "rewards/2026/11/23/00/no-sequencer"
    put_rewards(key, 2)
    event = s3_event(key)
    del event["detail"]["object"]["sequencer"]
    result = trigger.handler(event, context)
    assert result["status"] == "ignored" and "no sequencer" in result["reason"]
    assert store.read_counter("bandit-demo") == 0


def test_the_idempotency_key_is_the_put_not_the_bytes() -> None:
    import jmespath

    first = trigger.RewardObject.from_event(s3_event("rewards/k", etag="same", sequencer="0A"))
    again = trigger.RewardObject.from_event(s3_event("rewards/k", etag="same", sequencer="0B"))
    redelivered = trigger.RewardObject.from_event(s3_event("rewards/k", etag="same", sequencer="0A", event_id="x"))
    key = trigger.IDEMPOTENCY.event_key_jmespath

    def keyed(obj: trigger.RewardObject) -> Any:
        return jmespath.search(key, asdict(obj))

    assert keyed(first) != keyed(again) and keyed(first) == keyed(redelivered)
