"""`run_simulation` end to end: real `serve` subprocess for decisions, moto Firehose for rewards."""

from __future__ import annotations

import json
import time

import pytest
from sim_fixtures import REWARDS_STREAM, s3_lines
from sim_policies import LearningEndpoint

from simulator import (
    FirehoseRewardSink,
    HttpDecisionClient,
    MemoryRewardSink,
    RewardFaults,
    build_scenario,
    run_simulation,
)
from simulator.errors import DecisionError
from simulator.runner import SimulationInterrupted
from simulator.scenarios import take
from simulator.scenarios.reviews import SPECIALIST


def _logged(serve, at_least: int, timeout: float = 15.0) -> dict[str, dict]:
    """The serve process's decision records by event_id (its logger writes from a background thread)."""
    deadline = time.monotonic() + timeout
    while True:
        records = {r["event_id"]: r for r in serve.logged_decisions()}
        if len(records) >= at_least or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def test_synthetic_against_serve_with_faulty_rewards_into_firehose(serve, aws) -> None:
    before = len(serve.logged_decisions())
    client = HttpDecisionClient(serve.invocations_url)
    sink = FirehoseRewardSink(REWARDS_STREAM, aws["firehose"])
    faults = RewardFaults(delay=40, loss=0.1, duplicates=0.1)
    result = run_simulation(build_scenario("synthetic", seed=4), 1500, client, sink, batch_size=250, faults=faults)
    client.close()

    counts = result.reward_counts
    assert counts["computed"] == 1500 and counts["pending"] == 0
    assert counts["lost"] > 0 and counts["duplicated"] > 0 and counts["delayed"] > 0
    assert counts["unique_sent"] == 1500 - counts["lost"]
    assert counts["sent"] == counts["unique_sent"] + counts["duplicated"]

    aws["flush"]()
    delivered = s3_lines(aws["s3"], aws["bucket"], "rewards/")
    assert len(delivered) == counts["sent"]
    assert len({d["event_id"] for d in delivered}) == counts["unique_sent"]
    assert all(set(d) == {"event_id", "reward", "reward_time"} and d["reward_time"].endswith("Z") for d in delivered)

    # every reward belongs to a decision the endpoint logged, and is the reward of the action it logged
    logged = _logged(serve, before + 1500)
    by_event = {r.event_id: r for r in result.rounds}
    for reward in delivered:
        decision = logged[reward["event_id"]]
        assert decision["action"] == by_event[reward["event_id"]].action
        assert reward["reward"] == by_event[reward["event_id"]].reward

    summary = result.summary()
    assert summary["interactions"] == 1500
    assert summary["per_model"]["uniform-random"]["interactions"] == 1500
    assert summary["mean_expected_reward"] == pytest.approx(summary["baselines"]["uniform"], abs=0.03)
    assert summary["rewards"] == counts


def test_reviews_third_action_reaches_the_endpoint_mid_run(serve) -> None:
    before = len(serve.logged_decisions())
    scenario = build_scenario("reviews", seed=2, add_action_at=200)
    client = HttpDecisionClient(serve.invocations_url)
    result = run_simulation(scenario, 400, client, MemoryRewardSink(), batch_size=64)
    client.close()
    chosen_before = {r.action for r in result.rounds[:200]}
    chosen_after = {r.action for r in result.rounds[200:]}
    assert SPECIALIST.id not in chosen_before and SPECIALIST.id in chosen_after
    assert all(r.action_prob == pytest.approx(0.5) for r in result.rounds[:200])
    assert all(r.action_prob == pytest.approx(1 / 3) for r in result.rounds[200:])
    assert result.settings["actions_added"] == [{"index": 200, "actions": [SPECIALIST.id]}]
    logged = _logged(serve, before + 400)
    late = logged[result.rounds[300].event_id]
    assert json.loads(late["actions"])[-1] == {
        "id": SPECIALIST.id,
        "features": {"model_size": 110, "domain": "electronics"},
    }


def test_cbify_observation_requests_against_serve(serve, classification_files) -> None:
    scenario = build_scenario("cbify", seed=0, data=classification_files["space"], context_format="observation")
    client = HttpDecisionClient(serve.invocations_url)
    result = run_simulation(scenario, 120, client, MemoryRewardSink(), batch_size=1)
    client.close()
    assert {r.action for r in result.rounds} <= {"1", "2", "3"}
    assert result.baselines["oracle"] == 1.0
    assert all(r.reward == r.expected for r in result.rounds)  # cbify rewards are deterministic


def test_learning_loop_beats_best_constant_and_marks_model_changes() -> None:
    """With a learner behind the endpoint the synthetic scenario's reward climbs well above the best constant."""
    scenario = build_scenario("synthetic", seed=1)
    endpoint = LearningEndpoint(take(scenario.interactions(5000), 5000), seed=1, retrain_every=1000)
    result = run_simulation(scenario, 5000, endpoint, endpoint, batch_size=100, faults=RewardFaults(delay=20))
    summary = result.summary()
    assert summary["last_1000_mean_reward"] > summary["baselines"]["best_constant"] + 0.2
    changes = summary["model_changes"]
    assert changes[0] == {"index": 0, "model_id": "uniform-random"}
    assert [c["model_id"] for c in changes[1:4]] == ["model-001", "model-002", "model-003"]
    assert sum(m["interactions"] for m in summary["per_model"].values()) == 5000
    assert summary["per_model"]["model-004"]["mean_reward"] > summary["per_model"]["uniform-random"]["mean_reward"]


def test_drift_is_recorded_and_rewards_follow_it() -> None:
    scenario = build_scenario("synthetic", seed=1, drift_at=300)
    plan = take(scenario.interactions(600), 600)
    endpoint = LearningEndpoint(plan, seed=1)
    result = run_simulation(scenario, 600, endpoint, MemoryRewardSink(), batch_size=50)
    assert result.settings["drift_at"] == 300
    assert [r.oracle for r in result.rounds] == [i.oracle_value for i in plan]


def test_bad_batch_size_and_foreign_actions_are_refused() -> None:
    scenario = build_scenario("synthetic", seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        run_simulation(scenario, 10, None, MemoryRewardSink(), batch_size=0)  # type: ignore[arg-type]

    class Wrong:
        def decide(self, requests):
            return [{"event_id": "e", "action": "nope", "action_prob": 1.0, "model_id": "m"} for _ in requests]

        def close(self) -> None:
            return None

    with pytest.raises(DecisionError, match="not one of the candidates"):
        run_simulation(scenario, 10, Wrong(), MemoryRewardSink())


def test_endpoint_failure_mid_run_keeps_played_rounds_and_owed_rewards() -> None:
    class FailsLater:
        def __init__(self) -> None:
            self.calls = 0

        def decide(self, requests):
            self.calls += 1
            if self.calls > 3:
                raise DecisionError("endpoint gone")
            return [
                {"event_id": f"e{self.calls}-{n}", "action": "grid", "action_prob": 0.25, "model_id": "m"}
                for n in range(len(requests))
            ]

        def close(self) -> None:
            return None

    sink = MemoryRewardSink()
    with pytest.raises(SimulationInterrupted, match="after 150 of 500 rounds: endpoint gone") as caught:
        run_simulation(
            build_scenario("synthetic"), 500, FailsLater(), sink, batch_size=50, faults=RewardFaults(delay=100)
        )
    result = caught.value.result
    assert len(result.rounds) == 150
    assert len(sink.records) == 150 and result.reward_counts["pending"] == 0
    assert result.summary()["interactions"] == 150
