"""Trigger: each reward object counts once, one execution starts at the threshold, bad events do not loop."""

from __future__ import annotations

import gzip
import json
import math
import threading
import time
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


def put_rewards(key: str, count: int, compress: bool = False) -> None:
    body = "".join(json.dumps({"event_id": f"e{i}", "reward": 1.0}) + "\n" for i in range(count)).encode()
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


def test_count_records_counts_non_blank_lines_plain_and_gzip() -> None:
    assert trigger.count_records(b'{"a":1}\n{"a":2}\n\n') == 2
    assert trigger.count_records(gzip.compress(b'{"a":1}\n{"a":2}\n{"a":3}')) == 3
    assert trigger.count_records(b"") == 0


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


def test_a_lock_held_by_a_running_execution_is_kept(machine: str, context: FakeContext) -> None:
    """A lock naming an execution Step Functions reports RUNNING stays, whatever its age."""
    window = {"start": "2026-11-22T00:00:00.000Z", "end": "2026-11-23T00:00:00.000Z"}
    run_id = "bandit-demo-20261123T000000"
    text = trigger.execution_input(run_id, window, 11, "2026-11-23T00:05:00.000Z")
    assert store.acquire_lock("bandit-demo", run_id, "2026-11-23T00:05:00.000Z", text)
    store.mark_lock_started("bandit-demo", run_id)
    store.add_to_counter("bandit-demo", 11)
    put_rewards("rewards/2026/11/23/00/late", 1)
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


def test_a_count_read_before_the_previous_finalize_is_not_consumed_twice(
    machine: str, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race seen under load: the trigger read 2T-1 rewards, then the previous run's finalize released the lock and
    subtracted its T before the trigger looked at the lock. The new run must not take 2T-1 (the counter would end
    below zero and the next rewards would start nothing)."""
    threshold = trigger.settings().retrain_threshold
    window = {"start": "2026-11-22T00:00:00.000Z", "end": "2026-11-23T00:00:00.000Z"}
    previous = "bandit-demo-20261122T000000"
    assert store.acquire_lock("bandit-demo", previous, "2026-11-22T00:05:00.000Z", "{}")
    store.mark_lock_started("bandit-demo", previous)
    store.add_to_counter("bandit-demo", 2 * threshold - 2)
    store.update_experiment("bandit-demo", watermark=window["end"])
    put_rewards("rewards/2026/11/23/00/during", 1)
    real_read_lock = store.read_lock

    def finalize_between(experiment_id: str) -> store.Lock | None:
        if real_read_lock(experiment_id) is not None:
            store.release_lock(experiment_id, previous)
            store.add_to_counter(experiment_id, -threshold)
        return real_read_lock(experiment_id)

    monkeypatch.setattr(store, "read_lock", finalize_between)
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
    previous = "bandit-demo-20261122T000000"
    assert store.acquire_lock("bandit-demo", previous, "2026-11-22T00:05:00.000Z", "{}")
    store.mark_lock_started("bandit-demo", previous)
    store.add_to_counter("bandit-demo", 3 * threshold - 1)
    store.update_experiment("bandit-demo", watermark="2026-11-22T12:00:00.000Z")
    put_rewards("rewards/2026/11/23/00/during", 1)
    real_read_lock = store.read_lock

    def finalize_between(experiment_id: str) -> store.Lock | None:
        if real_read_lock(experiment_id) is not None:
            store.release_lock(experiment_id, previous)
            store.add_to_counter(experiment_id, -threshold)
        return real_read_lock(experiment_id)

    monkeypatch.setattr(store, "read_lock", finalize_between)
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
    window = {"start": "2026-11-22T00:00:00.000Z", "end": "2026-11-23T00:00:00.000Z"}
    run_id = "bandit-demo-20261123T000000"
    text = trigger.execution_input(run_id, window, 11, "2026-11-23T00:05:00.000Z")
    assert store.acquire_lock("bandit-demo", run_id, "2026-11-23T00:05:00.000Z", text)
    store.mark_lock_started("bandit-demo", run_id)
    store.add_to_counter("bandit-demo", 11)
    put_rewards("rewards/2026/11/23/00/late", 1)
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
