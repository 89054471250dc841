"""Warm start: historical decisions of a uniformly random logging policy (propensity 1/K) and their rewards.

Written as the pipeline's own records, either straight into the bucket's Firehose layout
(`decisions/YYYY/MM/DD/HH/...`, `rewards/YYYY/MM/DD/HH/...`) or through the Firehose streams, so the first
retraining run learns from them exactly as from live traffic (reference protocol: 100 logged decisions).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from contract import records
from contract.records import Record
from contract.timefmt import hour_partition_of_epoch
from simulator.rewards import FirehoseRewardSink, RewardRecord, iso_time
from simulator.scenarios import Interaction, Scenario, take

LOGGING_MODEL_ID = "uniform-random"
DEFAULT_EXPERIMENT_ID = "bandit-demo"


@dataclass(frozen=True)
class LoggedData:
    """Decision and reward records of one warm-start batch (reward times one second after each decision)."""

    decisions: list[Record]
    rewards: list[RewardRecord]
    event_time: float


def _event_id(rng: np.random.Generator) -> str:
    """A version-4 UUID from the seeded generator, so a warm start is reproducible."""
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def decision_record(
    interaction: Interaction,
    action_index: int,
    event_id: str,
    event_time: str,
    experiment_id: str,
    model_id: str = LOGGING_MODEL_ID,
) -> Record:
    """The contract's decision record for a uniform choice among the interaction's candidates."""
    k = len(interaction.candidates)
    return records.decision_record(
        event_id=event_id,
        event_time=event_time,
        experiment_id=experiment_id,
        model_id=model_id,
        context=dict(interaction.context),
        actions=[{"id": c.id, "features": dict(c.features)} for c in interaction.candidates],
        action=interaction.candidates[action_index].id,
        action_index=action_index,
        action_prob=1.0 / k,
        probabilities=[1.0 / k] * k,
    )


def logged_data(
    scenario: Scenario,
    count: int,
    seed: int = 0,
    experiment_id: str = DEFAULT_EXPERIMENT_ID,
    event_time: float | None = None,
) -> LoggedData:
    """`count` uniformly random logged decisions at `event_time` (epoch seconds, default: now), with rewards."""
    rng = np.random.default_rng(seed + 104729)
    when = time.time() if event_time is None else event_time
    decisions: list[Record] = []
    rewards: list[RewardRecord] = []
    for n, interaction in enumerate(take(scenario.interactions(count), count)):
        index = int(rng.integers(len(interaction.candidates)))
        event_id = _event_id(rng)
        at = when + n * 0.001
        decisions.append(decision_record(interaction, index, event_id, iso_time(at), experiment_id))
        reward = interaction.reward(interaction.candidates[index].id)
        rewards.append(RewardRecord(event_id, reward, iso_time(at + 1.0)))
    return LoggedData(decisions, rewards, when)


def hour_key(prefix: str, when: float, name: str) -> str:
    """`<prefix>/YYYY/MM/DD/HH/<name>`: Firehose's default UTC hour layout (what the Glue projection reads)."""
    return f"{prefix.strip('/')}/{hour_partition_of_epoch(when)}/{name}"


def write_to_bucket(data: LoggedData, bucket: str, s3: Any | None = None, name: str | None = None) -> list[str]:
    """Put one decisions object and one rewards object into the bucket's hour folders; returns their keys."""
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(data.event_time))
    name = name or f"warmstart-{stamp}-{uuid.uuid4()}"
    decisions_key = hour_key("decisions", data.event_time, name)
    # Rewards are put last: their Object Created event is what the trigger counts.
    rewards_key = hour_key("rewards", data.event_time, name)
    # The JSON-lines objects Firehose would have written (its delimiter processor ends each record's line).
    s3.put_object(Bucket=bucket, Key=decisions_key, Body=b"".join(records.json_line(d) for d in data.decisions))
    s3.put_object(Bucket=bucket, Key=rewards_key, Body=b"".join(r.to_line() for r in data.rewards))
    return [decisions_key, rewards_key]


def write_to_streams(
    data: LoggedData, decisions_stream: str, rewards_stream: str, firehose: Any | None = None
) -> dict[str, int]:
    """PutRecordBatch the decisions, then the rewards; returns the counts sent."""
    if firehose is None:
        import boto3

        firehose = boto3.client("firehose")
    FirehoseRewardSink(decisions_stream, firehose).send_records([records.json_record(d) for d in data.decisions])
    FirehoseRewardSink(rewards_stream, firehose).send(data.rewards)
    return {"decisions": len(data.decisions), "rewards": len(data.rewards)}
