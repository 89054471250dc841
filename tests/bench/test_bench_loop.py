"""The loop benchmark's harness pieces that need no runtime: phase durations from an execution history, and the
logged decisions and rewards it sends."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.loop import logged_records, phase_durations


def _events(states: list[tuple[str, float, float]]) -> list[dict[str, Any]]:
    base = datetime(2026, 11, 23, tzinfo=UTC)
    events: list[dict[str, Any]] = []
    for name, entered, exited in states:
        events.append({"timestamp": base + timedelta(seconds=entered), "stateEnteredEventDetails": {"name": name}})
        events.append({"timestamp": base + timedelta(seconds=exited), "stateExitedEventDetails": {"name": name}})
    return sorted(events, key=lambda e: e["timestamp"])


def test_phase_durations_span_each_phase_and_sum_repeated_states() -> None:
    events = _events(
        [
            ("StartJoin", 0.0, 0.2),
            ("WaitForJoin", 0.2, 1.2),
            ("CheckJoin", 1.2, 1.3),
            ("WaitForJoin", 1.3, 2.3),
            ("CheckJoin", 2.3, 2.4),
            ("StartTraining", 2.4, 2.5),
            ("CheckTraining", 3.5, 4.0),
            ("StartDeployment", 5.0, 5.1),
            ("DeploymentDone?", 7.0, 7.5),
        ]
    )
    timings = phase_durations(events)
    assert timings["phases"] == {"join": 2.4, "train": 1.6, "deploy": 2.5}
    assert timings["states"]["WaitForJoin"] == 2.0
    assert timings["states"]["CheckJoin"] == 0.2


def test_logged_records_are_recent_decisions_with_in_time_rewards() -> None:
    decisions, rewards, probes = logged_records(20, seed=1, experiment_id="bandit-demo")
    assert len(decisions) == len(rewards) == 20 and len(probes) == 5
    parsed = [json.loads(line) for line in decisions]
    by_id = {d["event_id"]: d for d in parsed}
    assert all(d["experiment_id"] == "bandit-demo" and d["action_prob"] > 0 for d in parsed)
    now = time.time()
    for line in rewards:
        reward = json.loads(line)
        decision = by_id[reward["event_id"]]
        decided = datetime.fromisoformat(decision["event_time"].replace("Z", "+00:00")).timestamp()
        rewarded = datetime.fromisoformat(reward["reward_time"].replace("Z", "+00:00")).timestamp()
        assert now - 3 < decided < now and 0 < rewarded - decided <= 1.0  # recent, past; within the reward wait
