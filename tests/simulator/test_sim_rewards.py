"""Rewards: Firehose PutRecordBatch (moto) and its bounded resend; the channel's delay, loss and duplicates."""

from __future__ import annotations

import json

import pytest
from sim_fixtures import REWARDS_STREAM, s3_lines

from simulator.channel import RewardChannel, RewardFaults
from simulator.errors import RewardDeliveryError
from simulator.rewards import (
    FirehoseRewardSink,
    JsonLinesRewardSink,
    MemoryRewardSink,
    RewardRecord,
    iso_time,
)


def test_iso_time_is_the_contract_format() -> None:
    assert iso_time(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso_time(1_700_000_000.1234) == "2023-11-14T22:13:20.123Z"


def test_record_is_one_json_object_without_a_delimiter() -> None:
    """The rewards stream's AppendDelimiterToRecord processor adds the newline; the sender must not."""
    data = RewardRecord("e1", 1.0, "2026-01-01T00:00:00.000Z").to_json()
    assert b"\n" not in data
    assert json.loads(data) == {"event_id": "e1", "reward": 1.0, "reward_time": "2026-01-01T00:00:00.000Z"}


def test_firehose_sink_delivers_json_lines_to_the_rewards_prefix(aws) -> None:
    sink = FirehoseRewardSink(REWARDS_STREAM, aws["firehose"])
    records = [RewardRecord(f"e{i}", float(i % 2), iso_time()) for i in range(1234)]
    sink.send(records)
    assert sink.producer.calls == 3
    aws["flush"]()
    lines = s3_lines(aws["s3"], aws["bucket"], "rewards/")
    assert sorted(line["event_id"] for line in lines) == sorted(r.event_id for r in records)  # one object per call
    keys = [o["Key"] for o in aws["s3"].list_objects_v2(Bucket=aws["bucket"], Prefix="rewards/")["Contents"]]
    assert all(len(k.split("/")) == 6 for k in keys)  # rewards/YYYY/MM/DD/HH/object


class _PartlyFailing:
    """Rejects the first record of each of the first `failures` calls, like a throttled Firehose shard."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.batches: list[list[bytes]] = []

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict]) -> dict:
        self.batches.append([r["Data"] for r in Records])
        if len(self.batches) <= self.failures:
            responses = [{"ErrorCode": "ServiceUnavailableException"}] + [{"RecordId": "x"}] * (len(Records) - 1)
            return {"FailedPutCount": 1, "RequestResponses": responses}
        return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "x"}] * len(Records)}


def test_firehose_sink_resends_only_rejected_records() -> None:
    client = _PartlyFailing(failures=2)
    sink = FirehoseRewardSink("s", client, attempts=5, sleep=lambda s: None)
    sink.send([RewardRecord(f"e{i}", 1.0, "t") for i in range(10)])
    assert [len(b) for b in client.batches] == [10, 1, 1]
    assert sink.producer.resent == 2


def test_firehose_sink_gives_up_after_bounded_attempts() -> None:
    sink = FirehoseRewardSink("s", _PartlyFailing(failures=99), attempts=3, sleep=lambda s: None)
    with pytest.raises(RewardDeliveryError, match="not taken by s after 3 attempts"):
        sink.send([RewardRecord("e", 1.0, "t")])


def test_jsonl_sink_appends(tmp_path) -> None:
    sink = JsonLinesRewardSink(tmp_path / "r" / "rewards.jsonl")
    sink.send([RewardRecord("a", 1.0, "t")])
    sink.send([RewardRecord("b", 0.0, "t")])
    assert [json.loads(x)["event_id"] for x in (tmp_path / "r" / "rewards.jsonl").read_text().splitlines()] == [
        "a",
        "b",
    ]


def _channel(faults: RewardFaults, seed: int = 0) -> tuple[RewardChannel, MemoryRewardSink]:
    sink = MemoryRewardSink()
    return RewardChannel(sink, faults, seed, clock=lambda: 0.0), sink


def test_without_faults_every_reward_goes_at_once() -> None:
    channel, sink = _channel(RewardFaults())
    channel.submit(0, "e0", 1.0)
    assert channel.advance(0) == 1
    assert sink.records == [RewardRecord("e0", 1.0, "1970-01-01T00:00:00.000Z")]
    assert channel.counts.to_json() == {
        "computed": 1,
        "sent": 1,
        "unique_sent": 1,
        "lost": 0,
        "duplicated": 0,
        "delayed": 0,
        "pending": 0,
    }


def test_delayed_rewards_go_later_in_due_order() -> None:
    channel, sink = _channel(RewardFaults(delay=50.0), seed=3)
    for i in range(200):
        channel.submit(i, f"e{i}", 1.0)
        channel.advance(i)
    early = len(sink.records)
    assert 0 < early < 200 and channel.counts.pending == 200 - early
    channel.flush()
    assert len(sink.records) == 200 and channel.counts.pending == 0
    assert channel.counts.delayed > 150
    # due order: replay the schedule and check the records came out sorted by due round
    replay, _ = _channel(RewardFaults(delay=50.0), seed=3)
    for i in range(200):
        replay.submit(i, f"e{i}", 1.0)
    due = {event_id: d for d, _, event_id, _ in replay._queue}
    dues = [due[r.event_id] for r in sink.records]
    assert dues == sorted(dues)
    assert [r.event_id for r in sink.records] != [f"e{i}" for i in range(200)]


def test_lost_rewards_are_never_sent() -> None:
    channel, sink = _channel(RewardFaults(loss=0.3), seed=1)
    for i in range(1000):
        channel.submit(i, f"e{i}", 1.0)
    channel.flush()
    counts = channel.counts
    assert 230 < counts.lost < 370
    assert counts.sent == len(sink.records) == 1000 - counts.lost == counts.unique_sent


def test_duplicated_rewards_are_sent_twice_in_a_later_round() -> None:
    channel, sink = _channel(RewardFaults(duplicates=0.2), seed=2)
    for i in range(1000):
        channel.submit(i, f"e{i}", 1.0)
        channel.advance(i)
    channel.flush()
    counts = channel.counts
    ids = [r.event_id for r in sink.records]
    assert 150 < counts.duplicated < 250
    assert len(ids) == counts.sent == 1000 + counts.duplicated
    assert len(set(ids)) == 1000 == counts.unique_sent


def test_faults_are_validated() -> None:
    with pytest.raises(ValueError, match="loss"):
        RewardFaults(loss=1.5)
    with pytest.raises(ValueError, match="delay"):
        RewardFaults(delay=-1)
