"""Warm start: uniformly random logged decisions (propensity 1/K) and rewards in the Firehose layout."""

from __future__ import annotations

import json
import re

import pytest
from sim_fixtures import DECISIONS_STREAM, REWARDS_STREAM, s3_lines

from contract.records import DECISION_COLUMNS
from simulator.scenarios import build_scenario
from simulator.warmstart import hour_key, logged_data, write_to_bucket, write_to_streams

DECISION_FIELDS = set(DECISION_COLUMNS)
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
WHEN = 1_795_000_000.0  # 2026-11-18T11:06:40Z


def test_logged_decisions_follow_the_contract() -> None:
    data = logged_data(build_scenario("reviews", seed=1, add_action_at=50), 100, seed=1, event_time=WHEN)
    assert len(data.decisions) == len(data.rewards) == 100
    for decision, reward in zip(data.decisions, data.rewards, strict=True):
        assert set(decision) == DECISION_FIELDS
        actions = json.loads(decision["actions"])
        k = len(actions)
        assert decision["action_prob"] == pytest.approx(1 / k)
        assert json.loads(decision["probabilities"]) == pytest.approx([1 / k] * k)
        assert actions[decision["action_index"]]["id"] == decision["action"]
        assert isinstance(json.loads(decision["context"]), dict)
        assert ISO.match(decision["event_time"]) and ISO.match(reward.reward_time)
        assert reward.reward_time > decision["event_time"]
        assert reward.event_id == decision["event_id"] and reward.reward in (0.0, 1.0)
    assert {len(json.loads(d["actions"])) for d in data.decisions} == {2, 3}
    chosen = {d["action_index"] for d in data.decisions}
    assert chosen == {0, 1, 2}  # uniformly random, not a constant


def test_warm_start_is_reproducible() -> None:
    a = logged_data(build_scenario("synthetic", seed=2), 20, seed=2, event_time=WHEN)
    b = logged_data(build_scenario("synthetic", seed=2), 20, seed=2, event_time=WHEN)
    assert a == b


def test_hour_key() -> None:
    assert hour_key("decisions/", 0.0, "x") == "decisions/1970/01/01/00/x"


def test_write_to_bucket_uses_the_firehose_layout(aws) -> None:
    data = logged_data(build_scenario("synthetic", seed=0), 100, event_time=WHEN)
    keys = write_to_bucket(data, aws["bucket"], aws["s3"], name="warmstart-test")
    assert keys == ["decisions/2026/11/18/11/warmstart-test", "rewards/2026/11/18/11/warmstart-test"]
    decisions = s3_lines(aws["s3"], aws["bucket"], "decisions/")
    rewards = s3_lines(aws["s3"], aws["bucket"], "rewards/")
    assert decisions == data.decisions
    assert [r["event_id"] for r in rewards] == [d["event_id"] for d in decisions]


def test_write_through_the_streams(aws) -> None:
    data = logged_data(build_scenario("synthetic", seed=0), 100, event_time=WHEN)
    assert write_to_streams(data, DECISIONS_STREAM, REWARDS_STREAM, aws["firehose"]) == {
        "decisions": 100,
        "rewards": 100,
    }
    aws["flush"]()
    assert len(s3_lines(aws["s3"], aws["bucket"], "decisions/")) == 100
    assert len(s3_lines(aws["s3"], aws["bucket"], "rewards/")) == 100
