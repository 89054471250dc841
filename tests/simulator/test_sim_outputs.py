"""Outputs: summary JSON and CSV round trip, reward and action plots, the rolling mean."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sim_policies import LearningEndpoint

from simulator import MemoryRewardSink, RewardFaults, build_scenario, run_simulation, write_result
from simulator.plots import plot_run
from simulator.results import first_answers, model_changes, read_rounds, read_summary, rolling_mean
from simulator.scenarios import take


def test_rolling_mean_starts_at_round_zero() -> None:
    assert rolling_mean([1, 0, 1, 1], 2).tolist() == [1.0, 0.5, 0.5, 1.0]
    assert rolling_mean([], 5).size == 0
    assert np.allclose(rolling_mean([0.2] * 10, 100), 0.2)


def test_model_changes() -> None:
    assert model_changes(["a", "a", "b", "b", "a"]) == [
        {"index": 0, "model_id": "a"},
        {"index": 2, "model_id": "b"},
        {"index": 4, "model_id": "a"},
    ]


def test_first_answers_mark_each_model_once_through_a_canary() -> None:
    assert first_answers(["a", "a", "b", "a", "b", "b", "c", "b"]) == [
        {"index": 0, "model_id": "a"},
        {"index": 2, "model_id": "b"},
        {"index": 6, "model_id": "c"},
    ]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scenario = build_scenario("synthetic", seed=3, drift_at=2500)
    endpoint = LearningEndpoint(take(scenario.interactions(4000), 4000), seed=3, retrain_every=800)
    faults = RewardFaults(delay=30, loss=0.05, duplicates=0.05)
    result = run_simulation(scenario, 4000, endpoint, endpoint, batch_size=200, faults=faults, seed=3)
    out = tmp_path_factory.mktemp("run")
    write_result(result, out)
    plot_run(result.rounds, result.summary(), out)
    return out


def test_summary_has_what_the_plots_and_reports_need(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in (
        "interactions",
        "mean_reward",
        "last_1000_mean_reward",
        "per_model",
        "rewards",
        "baselines",
        "model_changes",
        "action_share",
        "settings",
    ):
        assert key in summary
    assert summary["interactions"] == 4000
    assert set(summary["rewards"]) >= {"sent", "lost", "duplicated", "delayed"}
    assert summary["rewards"]["lost"] > 0 and summary["rewards"]["duplicated"] > 0
    assert set(summary["baselines"]) >= {"oracle", "best_constant", "uniform"}
    assert summary["settings"]["drift_at"] == 2500
    assert sum(summary["action_share"].values()) == pytest.approx(1.0)


def test_rounds_round_trip(run_dir: Path) -> None:
    rounds = read_rounds(run_dir)
    assert len(rounds) == 4000 and rounds[0].index == 0
    assert read_summary(run_dir)["mean_reward"] == pytest.approx(sum(r.reward for r in rounds) / 4000)


def test_plots_are_written(run_dir: Path) -> None:
    for name in ("reward.png", "actions.png"):
        png = run_dir / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 20_000  # lines, legend and markers, not an empty frame


def test_empty_run_still_summarises(tmp_path: Path) -> None:
    result = run_simulation(build_scenario("synthetic"), 0, None, MemoryRewardSink())  # type: ignore[arg-type]
    write_result(result, tmp_path)
    summary = read_summary(tmp_path)
    assert summary["interactions"] == 0 and summary["mean_reward"] is None
