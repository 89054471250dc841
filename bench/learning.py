"""Does the loop learn, and how fast: the AWS bandits example's Statlog Shuttle protocol through the real local loop.

Protocol (the example's): 100 uniformly random logged decisions warm-start the first policy; then 7,500 interactions,
and after every 500 of them the loop retrains (`retrain_threshold` = 500). Everything goes through the local runtime
as it would on AWS: InvokeEndpoint on the serving policy (explores, logs to Firehose), rewards to Firehose, the S3
event, the trigger, the state machine, the Athena join on DuckDB, SageMaker training and evaluation jobs, the
promotion gate and the blue/green deployment. The simulator waits at each 500-interaction boundary for the run it
triggered to end, so every run sees exactly its batch (the example's batch protocol, not a race with wall time).

Measured in the same run: this project's production configuration (`cdk.json`), and the example's own configuration
as the baseline (VW `--cover 3`, raw features: no quantile binning); uniform random, the best constant action and the
oracle from the same 7,500 interactions. Writes `bench/results/learning.json` and `learning.png`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import RESULTS_DIR, write_result
from local.driver import FAST_SETTINGS
from local.driver import DetachedRuntime as Runtime

REPO = Path(__file__).resolve().parents[1]
SHUTTLE = REPO.parent / "shared" / "data" / "shuttle.trn"
INTERACTIONS = 7500
RETRAIN_EVERY = 500
WARM_START = 100
BATCH = 50
LAST = 1000
INTERACTIONS_PER_S = 100.0
"""Paced like a live application (a run's window ends at its crossing, so it holds the whole batch either way)."""
SEED = 2026
LOOP_SETTINGS: dict[str, Any] = {**FAST_SETTINGS, "retrain_threshold": RETRAIN_EVERY, "min_training_rows": 50}
"""Only what makes the local loop fast; the policy and gate settings are `cdk.json`'s."""
BASELINE_SETTINGS: dict[str, Any] = {
    "exploration": {"algorithm": "cover", "cover": 3},
    "quantile_bins": 0,
}
"""The AWS example's configuration: online cover with 3 policies on raw features."""


def configurations() -> dict[str, dict[str, Any]]:
    """Settings overrides per configuration measured (merged over cdk.json by the local synth)."""
    return {"project": dict(LOOP_SETTINGS), "baseline": {**LOOP_SETTINGS, **BASELINE_SETTINGS}}


def segments(interactions: int, every: int, warm_start: int) -> list[int]:
    """Where the simulator pauses for a run: each time the reward count reaches a multiple of `every`.

    The warm start's rewards count too (the trigger counts every reward object), so the first run comes after
    `every - warm_start` online interactions and then every `every`; the last segment ends the protocol.
    """
    first = every - warm_start % every
    stops = list(range(first, interactions, every))
    return [*stops, interactions]


def reward_summary(rewards: Sequence[float], last: int = LAST) -> dict[str, float]:
    """Mean reward over every interaction and over the last `last`."""
    values = np.asarray(rewards, dtype=float)
    if values.size == 0:
        raise ValueError("no rewards to summarise")
    return {"mean_reward": float(values.mean()), "mean_reward_last_1000": float(values[-last:].mean())}


def reference_values(expected: Sequence[dict[str, float]]) -> dict[str, float | str]:
    """Uniform random, best constant action and oracle over the same interactions (expected rewards per action)."""
    actions = sorted({a for row in expected for a in row})
    table = np.array([[row.get(a, 0.0) for a in actions] for row in expected])
    best = int(np.argmax(table.mean(axis=0)))
    return {
        "uniform_random": float(table.mean()),
        "best_constant": float(table[:, best].mean()),
        "best_constant_action": actions[best],
        "oracle": float(table.max(axis=1).mean()),
    }


def rolling(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over `window` (shorter at the start)."""
    data = np.asarray(values, dtype=float)
    sums = np.cumsum(np.insert(data, 0, 0.0))
    ends = np.arange(1, len(data) + 1)
    starts = np.maximum(0, ends - window)
    return (sums[ends] - sums[starts]) / (ends - starts)


class _Slice:
    """A scenario view that hands out the next interactions of one fixed plan (so batches continue, not restart)."""

    name = "shuttle"

    def __init__(self, plan: Sequence[Any]) -> None:
        self._plan = list(plan)
        self._next = 0

    def interactions(self, count: int) -> Iterator[Any]:
        chunk = self._plan[self._next : self._next + count]
        self._next += len(chunk)
        return iter(chunk)


def _log(message: str) -> None:
    print(f"[learning {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _wait_run(rt: Runtime, known: set[str], timeout: float = 240.0) -> dict[str, Any] | None:
    """The run the last batch's rewards triggered, once it has ended (None when no run started)."""
    execution = rt.new_execution(known, timeout=30)
    if execution is None:
        return None
    known.add(execution["name"])
    described = rt.wait_execution(execution["executionArn"], timeout)
    output = json.loads(described.get("output") or "{}")
    return {
        "run_id": execution["name"],
        "status": described["status"],
        "outcome": (output.get("result") or {}).get("outcome") or rt.experiment().get("last_outcome"),
        "seconds": round((described["stopDate"] - described["startDate"]).total_seconds(), 1),
        **(
            {"error": described.get("error"), "cause": (described.get("cause") or "")[:500]}
            if described["status"] != "SUCCEEDED"
            else {}
        ),
    }


def run_protocol(name: str, settings: dict[str, Any], work: Path) -> dict[str, Any]:
    """The protocol on a fresh runtime with `settings`: rewards per interaction, expected rewards, the runs."""
    from simulator import FirehoseRewardSink, SageMakerDecisionClient, build_scenario, run_simulation
    from simulator.scenarios import take
    from simulator.warmstart import logged_data, write_to_streams

    started = time.monotonic()
    rt = Runtime(work / name, settings).start()
    try:
        outputs = rt.outputs
        firehose = rt.client("firehose")
        history = build_scenario("shuttle", data=SHUTTLE, seed=SEED + 1)
        warm = logged_data(history, WARM_START, seed=SEED, experiment_id=rt.experiment_id)
        write_to_streams(warm, outputs["DecisionsStreamName"], outputs["RewardsStreamName"], firehose)
        time.sleep(float(settings["reward_wait_seconds"]) + 2.5)  # landed and older than the bootstrap window's end
        sfn = rt.client("stepfunctions")
        boot = sfn.start_execution(
            stateMachineArn=outputs["StateMachineArn"], name="bootstrap-1", input=json.dumps({"bootstrap": True})
        )
        booted = rt.wait_execution(boot["executionArn"])
        if booted["status"] != "SUCCEEDED":
            raise RuntimeError(f"{name}: the bootstrap ended {booted['status']}: {booted.get('cause', '')[:300]}")
        known = {"bootstrap-1"}
        plan = list(take(build_scenario("shuttle", data=SHUTTLE, seed=SEED).interactions(INTERACTIONS), INTERACTIONS))
        scenario = _Slice(plan)
        decisions = SageMakerDecisionClient(outputs["EndpointName"], runtime=rt.client("sagemaker-runtime"))
        sink = FirehoseRewardSink(outputs["RewardsStreamName"], firehose)
        rewards: list[float] = []
        models: list[str] = []
        runs: list[dict[str, Any]] = []
        stops = segments(INTERACTIONS, RETRAIN_EVERY, WARM_START)
        for start, stop in zip([0, *stops[:-1]], stops, strict=True):
            result = run_simulation(
                scenario, stop - start, decisions, sink, batch_size=BATCH, seed=start, rate=INTERACTIONS_PER_S
            )
            rewards += [r.reward for r in result.rounds]
            models += [r.model_id for r in result.rounds]
            batch_mean = float(np.mean([r.reward for r in result.rounds]))
            run = _wait_run(rt, known) if stop < INTERACTIONS else None
            if run is not None:
                runs.append({**run, "after_interactions": stop})
            _log(
                f"{name}: interactions {start + 1}-{stop} mean reward {batch_mean:.3f} (model {models[-1]})"
                + (f"; run {run['run_id']} {run['status']} {run['outcome']} in {run['seconds']}s" if run else "")
            )
    finally:
        rt.stop()
    return {
        "rewards": rewards,
        "expected": [dict(i.expected) for i in plan],
        "models": models,
        "runs": runs,
        "wall_s": round(time.monotonic() - started, 1),
    }


def plot(curves: dict[str, Sequence[float]], references: dict[str, float], path: Path) -> Path:
    """Rolling mean reward of each configuration with the oracle, best constant and uniform random drawn in."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5.5))
    for label, rewards in curves.items():
        ax.plot(np.arange(1, len(rewards) + 1), rolling(rewards, 500), label=f"{label} (rolling mean, 500)")
    ax.axhline(references["oracle"], color="green", linestyle="--", label=f"oracle ({references['oracle']:.3f})")
    ax.axhline(
        references["best_constant"],
        color="orange",
        linestyle="-.",
        label=f"best constant action ({references['best_constant']:.3f})",
    )
    ax.axhline(
        references["uniform_random"],
        color="grey",
        linestyle=":",
        label=f"uniform random ({references['uniform_random']:.3f})",
    )
    for boundary in range(RETRAIN_EVERY, INTERACTIONS, RETRAIN_EVERY):
        ax.axvline(boundary, color="#cccccc", linewidth=0.6)
    ax.set_xlabel("interaction (a retraining run after every 500)")
    ax.set_ylabel("reward")
    ax.set_ylim(0.0, 1.05)
    ax.set_title("Statlog Shuttle through the local loop: warm start 100, retrain every 500")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> dict[str, Any]:
    if not SHUTTLE.is_file():
        raise FileNotFoundError(f"{SHUTTLE} is missing (python -m simulator download-shuttle {SHUTTLE} when online)")
    started = time.monotonic()
    load = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench-learning-"))
    try:
        measured = {name: run_protocol(name, settings, work) for name, settings in configurations().items()}
    except BaseException:
        print(f"bench learning failed; the runtimes' state (logs, models) is kept in {work}", file=sys.stderr)
        raise
    shutil.rmtree(work, ignore_errors=True)
    project, baseline = measured["project"], measured["baseline"]
    references = reference_values(project["expected"])
    picture = plot(
        {"this project (cdk.json)": project["rewards"], "example's configuration": baseline["rewards"]},
        {name: value for name, value in references.items() if isinstance(value, float)},
        RESULTS_DIR / "learning.png",
    )

    def described(m: dict[str, Any]) -> dict[str, Any]:
        return {
            **reward_summary(m["rewards"]),
            "runs": m["runs"],
            "promoted": sum(1 for r in m["runs"] if r["outcome"] == "promoted"),
            "wall_s": m["wall_s"],
        }

    project_summary = described(project)
    result = {
        "mean_reward": project_summary["mean_reward"],
        "mean_reward_last_1000": project_summary["mean_reward_last_1000"],
        "baseline": {**described(baseline), "settings": BASELINE_SETTINGS},
        "project": project_summary,
        **references,
        "wall_s": round(time.monotonic() - started, 1),
        "protocol": {
            "interactions": INTERACTIONS,
            "retrain_every": RETRAIN_EVERY,
            "warm_start": WARM_START,
            "decisions_per_request": BATCH,
            "loop_settings": LOOP_SETTINGS,
        },
        "targets": {
            "mean_reward": 0.95,
            "mean_reward_last_1000": 0.98,
            "over_baseline": 0.1,
        },
        "plot": str(picture.relative_to(REPO)),
        "load_average_at_start": [round(x, 2) for x in load],
    }
    write_result("learning", result)
    return result


if __name__ == "__main__":
    json.dump(main(), sys.stdout, indent=2, default=str)
