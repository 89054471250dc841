"""One run's per-round results, their summary, and their files (`summary.json`, `interactions.csv`).

Kept apart from the runner so `python -m simulator plot DIR` and the benchmarks can reload and replot a run.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SUMMARY_FILE = "summary.json"
ROUNDS_FILE = "interactions.csv"
LAST_WINDOW = 1000
ROUND_FIELDS = ("index", "event_id", "model_id", "action", "action_prob", "reward", "expected", "oracle", "uniform")


@dataclass(frozen=True)
class Round:
    """One decision and what it earned: realised `reward`, and `expected`/`oracle`/`uniform` from the ground truth."""

    index: int
    event_id: str
    model_id: str
    action: str
    action_prob: float
    reward: float
    expected: float
    oracle: float
    uniform: float


@dataclass
class SimulationResult:
    """Everything `run_simulation` returns: rounds, baselines and reward counts (`rewards` for benchmarks)."""

    scenario: str
    rounds: list[Round]
    baselines: dict[str, Any]
    reward_counts: dict[str, int]
    elapsed_seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def rewards(self) -> list[float]:
        return [r.reward for r in self.rounds]

    def summary(self) -> dict[str, Any]:
        return summarise(self)


def model_changes(model_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Rounds where the serving model_id differs from the previous round's (the first model included)."""
    changes: list[dict[str, Any]] = []
    for index, model_id in enumerate(model_ids):
        if index == 0 or model_id != model_ids[index - 1]:
            changes.append({"index": index, "model_id": model_id})
    return changes


def first_answers(model_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Rounds where a model_id answers for the first time: where a new model starts serving.

    During a blue/green canary the answers alternate between the old and the new model, so `model_changes` marks
    every alternation; the plot marks each model once.
    """
    seen: set[str] = set()
    firsts: list[dict[str, Any]] = []
    for index, model_id in enumerate(model_ids):
        if model_id not in seen:
            seen.add(model_id)
            firsts.append({"index": index, "model_id": model_id})
    return firsts


def rolling_mean(values: Sequence[float], window: int) -> np.ndarray:
    """Mean of the last `window` values at every round (shorter at the start, so the curve starts at round 0)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return data
    window = max(1, min(window, data.size))
    cumulative = np.concatenate(([0.0], np.cumsum(data)))
    ends = np.arange(1, data.size + 1)
    starts = np.maximum(0, ends - window)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def summarise(result: SimulationResult) -> dict[str, Any]:
    """The JSON summary: means overall, over the last 1000 rounds and per model, plus the reward counts."""
    rounds = result.rounds
    rewards = [r.reward for r in rounds]
    per_model: dict[str, dict[str, Any]] = {}
    for r in rounds:
        entry = per_model.setdefault(r.model_id, {"first_index": r.index, "interactions": 0, "reward_sum": 0.0})
        entry["interactions"] += 1
        entry["reward_sum"] += r.reward
    for entry in per_model.values():
        entry["mean_reward"] = entry.pop("reward_sum") / entry["interactions"]
    actions: dict[str, int] = {}
    for r in rounds:
        actions[r.action] = actions.get(r.action, 0) + 1
    elapsed = result.elapsed_seconds
    return {
        "scenario": result.scenario,
        "interactions": len(rounds),
        "mean_reward": _mean(rewards),
        "last_1000_mean_reward": _mean(rewards[-LAST_WINDOW:]),
        "mean_expected_reward": _mean([r.expected for r in rounds]),
        "baselines": result.baselines,
        "per_model": per_model,
        "model_changes": model_changes([r.model_id for r in rounds]),
        "action_share": {a: n / len(rounds) for a, n in sorted(actions.items())} if rounds else {},
        "rewards": result.reward_counts,
        "elapsed_seconds": elapsed,
        "decisions_per_second": len(rounds) / elapsed if elapsed > 0 else None,
        "settings": result.settings,
    }


def write_result(result: SimulationResult, out_dir: str | Path) -> Path:
    """Write `summary.json` and `interactions.csv` under `out_dir`; returns the summary's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with (out / ROUNDS_FILE).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ROUND_FIELDS)
        for r in result.rounds:
            writer.writerow(
                [r.index, r.event_id, r.model_id, r.action, r.action_prob, r.reward, r.expected, r.oracle, r.uniform]
            )
    path = out / SUMMARY_FILE
    path.write_text(json.dumps(summarise(result), indent=2, sort_keys=False) + "\n")
    return path


def read_rounds(out_dir: str | Path) -> list[Round]:
    """Reload the rounds of a run written by `write_result`."""
    with (Path(out_dir) / ROUNDS_FILE).open(newline="") as handle:
        return [
            Round(
                int(row["index"]),
                row["event_id"],
                row["model_id"],
                row["action"],
                float(row["action_prob"]),
                float(row["reward"]),
                float(row["expected"]),
                float(row["oracle"]),
                float(row["uniform"]),
            )
            for row in csv.DictReader(handle)
        ]


def read_summary(out_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(out_dir) / SUMMARY_FILE).read_text())
