"""Does the loop learn as well as online VW, and does it adapt? Six scenarios through the real local loop.

Each scenario is played through the local runtime as it would run on AWS: 100 uniformly random logged decisions
warm-start the first policy, then 6,000 interactions by InvokeEndpoint (explores, logs to Firehose), rewards to
Firehose, and after every 500 rewards a retraining run (trigger, state machine, Athena join on DuckDB, SageMaker
training and evaluation jobs, the gate, the blue/green deployment). The simulator waits at each 500-interaction
boundary for the run it triggered to end, so every run sees exactly its batch.

Next to it, on the same stream (same contexts, same reward noise), an **online VW reference**: one in-process
`--cb_explore_adf` workspace with the same arguments, features and exploration floor as the loop's models,
learning after every interaction from the same warm start. And from the ground truth: uniform random, the best
constant action and the oracle.

Scenarios (`SCENARIOS`): a non-linear reward with action features (`nonlinear`), string-valued contexts with 24
actions (`catalog`), the demo's scenario with an abrupt change of the best action at interaction 3,000 (`change`), a
new action at 3,000 (`new_action`, the reviews scenario), scikit-learn's digits (`digits`, 10 classes) and Statlog
Shuttle (`shuttle`). `python -m bench.learning [name ...]` runs the named ones (all by default), writes
`bench/results/learning/<name>.json` and `.png` per scenario, and `bench/results/learning.json` from every scenario
result on disk. `python -m bench learning` takes the scenarios from `BENCH_LEARNING_SCENARIOS` (comma-separated; all
when unset), and `BENCH_LEARNING_EXPLORATION` (a JSON object, e.g. '{"gamma_scale": 10}') merges over `cdk.json`'s
`exploration` for both the loop and the online reference, to compare settings before changing the defaults; every
result records the exploration it ran with. `BENCH_LEARNING_SETTINGS` (a JSON object, e.g. '{"promotion_estimator":
"snips"}') does the same for the loop's other settings (`protocol.loop_settings`). Data: Shuttle and the
scikit-learn wheel (for `digits.csv.gz`) are read from `BANDIT_DATA_DIR` (default `../shared/data`); `pip download
scikit-learn --no-deps --only-binary=:all: -d $BANDIT_DATA_DIR` fetches the wheel.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import RESULTS_DIR, write_result
from local.driver import FAST_SETTINGS
from local.driver import DetachedRuntime as Runtime

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("BANDIT_DATA_DIR", str(REPO.parent / "shared" / "data")))
SCENARIOS = ("nonlinear", "catalog", "change", "new_action", "digits", "shuttle")
INTERACTIONS = 6000
RETRAIN_EVERY = 500
WARM_START = 100
BATCH = 50
BLOCK = 500
LAST = 1000
EVENT_AT = 3000  # the abrupt change, and the new action's arrival
RECOVERY_WINDOW = 250
INTERACTIONS_PER_S = 100.0
SEED = 2026
LOOP_SETTINGS: dict[str, Any] = {**FAST_SETTINGS, "retrain_threshold": RETRAIN_EVERY, "min_training_rows": 50}
"""Only what makes the local loop fast; the policy and gate settings are `cdk.json`'s."""
SCENARIOS_ENV = "BENCH_LEARNING_SCENARIOS"
EXPLORATION_ENV = "BENCH_LEARNING_EXPLORATION"
SETTINGS_ENV = "BENCH_LEARNING_SETTINGS"
TARGETS = {
    "loop_last_1000_at_least_online_vw": True,
    "recovery_within": 1500,
    "recovery_share": 0.9,
    "new_action_share_where_best_within_1000": 0.8,
    "demo_above_best_constant_within": 1000,
}


def _env_object(name: str) -> tuple[dict[str, Any], str]:
    """The JSON object in environment variable `name` (empty when unset) and its text, for the error messages."""
    text = os.environ.get(name, "").strip()
    value = json.loads(text) if text else {}
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object, not {text!r}")
    return value, text


def exploration_override() -> dict[str, Any]:
    """`BENCH_LEARNING_EXPLORATION`'s keys (none when unset): merged over `cdk.json`'s exploration for both learners."""
    return _env_object(EXPLORATION_ENV)[0]


def settings_override() -> dict[str, Any]:
    """`BENCH_LEARNING_SETTINGS`'s keys (none when unset): other settings of the loop, e.g. the gate's
    `promotion_estimator`, merged over `cdk.json`'s (the online reference has no gate: only the loop reads them)."""
    value, text = _env_object(SETTINGS_ENV)
    if "exploration" in value:
        raise ValueError(f"{SETTINGS_ENV} must be a JSON object without 'exploration' ({EXPLORATION_ENV}): {text!r}")
    return value


def settings() -> Any:
    """The settings both learners use: `cdk.json`'s, with the overrides (validated by the contract)."""
    from dataclasses import asdict

    from infra.settings import load_settings

    base = load_settings()
    override = exploration_override()
    overrides: dict[str, Any] = dict(settings_override())
    if override:
        overrides["exploration"] = {**asdict(base.exploration), **override}
    return load_settings(overrides=overrides) if overrides else base


def loop_settings() -> dict[str, Any]:
    """What the local runtime is started with: `LOOP_SETTINGS`, plus the overridden settings."""
    from dataclasses import asdict

    chosen = settings()
    extra: dict[str, Any] = {key: getattr(chosen, key) for key in settings_override()}
    if exploration_override():
        extra["exploration"] = asdict(chosen.exploration)
    return {**LOOP_SETTINGS, **extra}


def scenario_names(argv: Sequence[str] = ()) -> tuple[str, ...]:
    """The scenarios to run: those named on the command line, else `BENCH_LEARNING_SCENARIOS`, else all."""
    names = list(argv) or [n.strip() for n in os.environ.get(SCENARIOS_ENV, "").split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    return tuple(names) or SCENARIOS


@dataclass(frozen=True)
class Spec:
    """One scenario of the benchmark: how to build it, and where its change or new action happens."""

    name: str
    build: Callable[[int], Any]
    change_at: int | None = None
    new_action_at: int | None = None


def digits_data() -> Any:
    """scikit-learn's digits (1,797 8x8 images, 64 features, class last) from the wheel in `DATA_DIR`."""
    from simulator.datasets import parse_classification

    wheels = sorted(DATA_DIR.glob("scikit_learn-*.whl"))
    if not wheels:
        fetch = f"pip download scikit-learn --no-deps --only-binary=:all: -d {DATA_DIR}"
        raise FileNotFoundError(f"no scikit-learn wheel in {DATA_DIR}: {fetch}")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        text = gzip.decompress(wheel.read("sklearn/datasets/data/digits.csv.gz")).decode()
    return parse_classification(text, "digits.csv.gz")


def spec(name: str) -> Spec:
    """The scenario called `name` (`SCENARIOS`)."""
    from simulator.datasets import load_classification
    from simulator.scenarios import (
        CatalogScenario,
        CbifyScenario,
        DriftingScenario,
        NonlinearScenario,
        ReviewsScenario,
        SyntheticScenario,
    )

    builders: dict[str, Spec] = {
        "nonlinear": Spec(name, NonlinearScenario),
        "catalog": Spec(name, CatalogScenario),
        "change": Spec(name, lambda seed: DriftingScenario(SyntheticScenario(seed), EVENT_AT), change_at=EVENT_AT),
        "new_action": Spec(name, lambda seed: ReviewsScenario(seed, EVENT_AT), new_action_at=EVENT_AT),
        "digits": Spec(name, lambda seed: CbifyScenario(digits_data(), seed)),
        "shuttle": Spec(name, lambda seed: CbifyScenario(load_classification(DATA_DIR / "shuttle.trn"), seed)),
    }
    if name not in builders:
        raise ValueError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    return builders[name]


# --- the online VW reference ---------------------------------------------------------------------------------


class OnlineReference:
    """VW `--cb_explore_adf` learning online in-process: the loop's arguments, features and exploration floor."""

    def __init__(self, warm_rows: Sequence[Any], seed: int) -> None:
        import vowpalwabbit

        from container.core.config import parse_config
        from container.core.featurizer import Featurizer
        from container.training.train import train_examples

        self.config = parse_config(settings().hyperparameters())
        self.featurizer = Featurizer.fit((r.context for r in warm_rows), self.config.quantile_bins)
        self.workspace = vowpalwabbit.Workspace(f"{self.config.vw_args()} --quiet")
        self.rng = random.Random(seed)
        examples, _ = train_examples(self.config, self.featurizer, list(warm_rows), [])
        for example in examples:
            self.workspace.learn(example)

    def play(self, interaction: Any) -> tuple[str, float]:
        """Choose for one interaction, learn from its reward; (chosen action, realised reward)."""
        from container.core.featurizer import Action, Label
        from container.core.policy import _normalised, with_floor

        candidates = [Action(c.id, dict(c.features)) for c in interaction.candidates]
        pmf = self.workspace.predict(self.featurizer.example(interaction.context, candidates))
        probabilities = with_floor(_normalised(pmf, len(candidates)), self.config.exploration_floor)
        index = self.rng.choices(range(len(candidates)), weights=probabilities)[0]
        action = candidates[index].id
        reward = interaction.reward(action)
        label = Label(index, self.config.cost(reward), probabilities[index])
        self.workspace.learn(self.featurizer.example(interaction.context, candidates, label))
        return action, reward

    def close(self) -> None:
        self.workspace.finish()


def warm_rows(logged: Any) -> list[Any]:
    """The warm start's decision and reward records joined, as the container reads them."""
    from container.core.logged_rows import parse_row

    rewards = {r.event_id: r.reward for r in logged.rewards}
    return [parse_row({**d, "reward": rewards[d["event_id"]]}) for d in logged.decisions]


# --- the loop ------------------------------------------------------------------------------------------------


def segments(interactions: int, every: int, warm_start: int) -> list[int]:
    """Where the simulator pauses for a run: each time the reward count reaches a multiple of `every`.

    The warm start's rewards count too (the trigger counts every reward object), so the first run comes after
    `every - warm_start` online interactions and then every `every`; the last segment ends the protocol.
    """
    first = every - warm_start % every
    stops = list(range(first, interactions, every))
    return [*stops, interactions]


class _Slice:
    """A scenario view that hands out the next interactions of one fixed plan (so batches continue, not restart)."""

    def __init__(self, name: str, plan: Sequence[Any]) -> None:
        self.name = name
        self._plan = list(plan)
        self._next = 0

    def interactions(self, count: int) -> Iterator[Any]:
        chunk = self._plan[self._next : self._next + count]
        self._next += len(chunk)
        return iter(chunk)


def _log(message: str) -> None:
    print(f"[learning {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_summary(output: dict[str, Any]) -> dict[str, Any]:
    """What one run's execution output says: the gate's verdict and numbers, and the drift check."""

    def block(parent: dict[str, Any], key: str) -> dict[str, Any]:
        value = parent.get(key)
        return value if isinstance(value, dict) else {}

    evaluation, training = block(output, "evaluation"), block(output, "training")
    drift = block(evaluation, "drift")
    return {
        "promote": evaluation.get("promote"),
        "rows": evaluation.get("rows"),
        "difference": evaluation.get("difference"),
        "holdout_since": evaluation.get("holdout_since"),
        "drift_detected": drift.get("detected") is True,
        "drift_reason": drift.get("reason") if drift.get("detected") is True else None,
        "adapting_to_drift": bool(training.get("adapting_to_drift")),
        "challenger": block(output, "result").get("challenger_model_id") is not None,
    }


def _wait_run(rt: Runtime, known: set[str], timeout: float = 600.0) -> dict[str, Any] | None:
    """The run the last batch's rewards triggered, once it has ended (None when no run started)."""
    execution = rt.new_execution(known, timeout=60)
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
        **run_summary(output),
        **(
            {"error": described.get("error"), "cause": (described.get("cause") or "")[:500]}
            if described["status"] != "SUCCEEDED"
            else {}
        ),
    }


# --- the ground truth of each gate decision ---------------------------------------------------------------


def true_value(policy: Any, interactions: Sequence[Any]) -> float:
    """The policy's true value on `interactions`: the mean over them of `sum_a pi(a | x) E[r | x, a]`, from the
    simulator's expected rewards (what no estimator sees)."""
    from container.core.featurizer import Action

    values = []
    for interaction in interactions:
        candidates = [Action(c.id, dict(c.features)) for c in interaction.candidates]
        probabilities = policy.distribution(interaction.context, candidates)
        values.append(sum(p * interaction.expected[a.id] for p, a in zip(probabilities, candidates, strict=True)))
    return float(np.mean(values))


def model_policy(rt: Runtime, model_id: str, work: Path) -> Any:
    """The registry's model `model_id` loaded as the endpoint loads it (its artifact from the runtime's S3)."""
    from container.core.policy import Policy

    uri = str(rt.item("ModelsTableName", {"model_id": model_id}).get("artifact_uri") or "")
    if not uri.startswith("s3://"):
        raise RuntimeError(f"model {model_id} has no artifact in the registry ({uri!r})")
    bucket, key = uri[len("s3://") :].split("/", 1)
    path = work / "artifacts" / model_id / "model.tar.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    rt.client("s3").download_file(bucket, key, str(path))
    return Policy.load(path, seed=SEED)


def decision_truth(
    candidate: Any, serving: Any, upcoming: Sequence[Any], pooled: Sequence[Any] = ()
) -> dict[str, float]:
    """Both policies' true values on the interactions the run's winner would serve next, and the gap; with
    `pooled` (the interactions since the serving model went live, whose holdout the gate scored) also the gap
    there, which is what the gate's estimate is an estimate of (`past_gap`)."""
    candidate_value, serving_value = true_value(candidate, upcoming), true_value(serving, upcoming)
    truth = {"candidate": candidate_value, "serving": serving_value, "gap": candidate_value - serving_value}
    if pooled:
        truth["past_gap"] = true_value(candidate, pooled) - true_value(serving, pooled)
    return truth


def gate_truth(runs: Sequence[dict[str, Any]], margin: float) -> dict[str, Any]:
    """How the loop's own gate decisions fared against the truth: of the candidates truly worse than serving by
    more than the margin, the share promoted (target <= 5%); of those truly better by more than it, the share."""
    judged = [r for r in runs if isinstance(r.get("truth"), dict) and r.get("outcome") in ("promoted", "rejected")]
    worse = [r for r in judged if r["truth"]["gap"] < -margin]
    better = [r for r in judged if r["truth"]["gap"] > margin]

    def promoted(group: list[dict[str, Any]]) -> float | None:
        return sum(r["outcome"] == "promoted" for r in group) / len(group) if group else None

    return {
        "margin": margin,
        "judged": len(judged),
        "truly_worse": len(worse),
        "truly_worse_promoted": promoted(worse),
        "truly_better": len(better),
        "truly_better_promoted": promoted(better),
        "within_margin": len(judged) - len(worse) - len(better),
    }


def play_loop(scenario: Spec, plan: Sequence[Any], warm: Any, work: Path) -> dict[str, Any]:
    """The plan through a fresh local runtime: per interaction the action, reward and model; the runs."""
    from simulator import FirehoseRewardSink, SageMakerDecisionClient, run_simulation
    from simulator.warmstart import write_to_streams

    started = time.monotonic()
    rt = Runtime(work / scenario.name, loop_settings()).start()
    loaded: dict[str, Any] = {}  # a promoted candidate is the next segment's serving model: load it once

    def policy(model_id: str) -> Any:
        if model_id not in loaded:
            loaded[model_id] = model_policy(rt, model_id, work)
        return loaded[model_id]

    try:
        outputs = rt.outputs
        firehose = rt.client("firehose")
        write_to_streams(warm, outputs["DecisionsStreamName"], outputs["RewardsStreamName"], firehose)
        time.sleep(float(loop_settings()["reward_wait_seconds"]) + 2.5)  # landed and older than the window's end
        sfn = rt.client("stepfunctions")
        boot = sfn.start_execution(
            stateMachineArn=outputs["StateMachineArn"], name="bootstrap-1", input=json.dumps({"bootstrap": True})
        )
        booted = rt.wait_execution(boot["executionArn"])
        if booted["status"] != "SUCCEEDED":
            raise RuntimeError(f"{scenario.name}: the bootstrap ended {booted['status']}: {booted.get('cause')}")
        known = {"bootstrap-1"}
        stream = _Slice(scenario.name, plan)
        decisions = SageMakerDecisionClient(outputs["EndpointName"], runtime=rt.client("sagemaker-runtime"))
        sink = FirehoseRewardSink(outputs["RewardsStreamName"], firehose)
        rounds: list[Any] = []
        runs: list[dict[str, Any]] = []
        stops = segments(len(plan), RETRAIN_EVERY, WARM_START)
        pool_start = 0

        for start, stop in zip([0, *stops[:-1]], stops, strict=True):
            result = run_simulation(
                stream, stop - start, decisions, sink, batch_size=BATCH, seed=start, rate=INTERACTIONS_PER_S
            )
            rounds += result.rounds
            serving_id = rounds[-1].model_id  # the model the endpoint served this segment with
            run = _wait_run(rt, known) if stop < len(plan) else None
            if run is not None:
                if run["outcome"] in ("promoted", "rejected"):
                    try:
                        run["truth"] = decision_truth(
                            policy(run["run_id"]),
                            policy(serving_id),
                            plan[stop : stop + BLOCK],
                            plan[pool_start:stop],
                        )
                    except Exception as error:  # the figure is lost, not the scenario: say so in the result
                        run["truth_error"] = f"{type(error).__name__}: {error}"
                        _log(f"{scenario.name}: no true gap for {run['run_id']}: {run['truth_error']}")
                runs.append({**run, "after_interactions": stop})
                if run["outcome"] == "promoted" or run.get("drift_detected"):
                    pool_start = stop  # the gate's pool restarts at a promotion (and, near enough, at a change)
            batch = float(np.mean([r.reward for r in result.rounds]))
            truth = run.get("truth") if run else None
            _log(
                f"{scenario.name}: {start + 1}-{stop} mean reward {batch:.3f} (model {rounds[-1].model_id})"
                + (f"; run {run['outcome']} in {run['seconds']}s" if run else "")
                + (" (deployed as a challenger)" if run and run.get("challenger") else "")
                + (f" (true gap {truth['gap']:+.3f}, on the pool {truth['past_gap']:+.3f})" if truth else "")
                + ("; DRIFT detected" if run and run.get("drift_detected") else "")
            )
    finally:
        for loaded_policy in loaded.values():
            loaded_policy.close()
        rt.stop()
    return {
        "actions": [r.action for r in rounds],
        "rewards": [r.reward for r in rounds],
        "models": [r.model_id for r in rounds],
        "runs": runs,
        "wall_s": round(time.monotonic() - started, 1),
    }


# --- what the rounds amount to (pure) ------------------------------------------------------------------------


def block_means(values: Sequence[float], block: int = BLOCK) -> list[float]:
    """Mean of each consecutive `block` of values (the last one may be shorter)."""
    data = np.asarray(values, dtype=float)
    return [float(data[i : i + block].mean()) for i in range(0, len(data), block)]


def rolling(values: Sequence[float] | np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over `window` (shorter at the start)."""
    data = np.asarray(values, dtype=float)
    sums = np.cumsum(np.insert(data, 0, 0.0))
    ends = np.arange(1, len(data) + 1)
    starts = np.maximum(0, ends - window)
    return (sums[ends] - sums[starts]) / (ends - starts)


def recovery(expected: Sequence[float], change_at: int, share: float = 0.9, window: int = RECOVERY_WINDOW) -> dict:
    """Interactions after the change until the trailing `window` mean expected reward is back to `share` of the
    level of the 1,000 before it (None if never); the window counts only rows after the change."""
    values = np.asarray(expected, dtype=float)
    before = float(values[max(0, change_at - LAST) : change_at].mean())
    after = values[change_at:]
    trailing = rolling(after, window)
    for t in range(window - 1, len(after)):
        if trailing[t] >= share * before:
            return {"pre_change_level": before, "target": share * before, "interactions": t + 1}
    return {"pre_change_level": before, "target": share * before, "interactions": None}


def new_action_share(plan: Sequence[Any], actions: Sequence[str], at: int, block: int = BLOCK) -> dict[str, Any]:
    """Where the new action (offered from `at` on) is best: the share of those interactions picking it, per block."""
    new = sorted(set(plan[at].action_ids) - set(plan[at - 1].action_ids))
    shares, counts = [], []
    for start in range(at, len(plan), block):
        where = [i for i in range(start, min(start + block, len(plan))) if plan[i].best_action in new]
        counts.append(len(where))
        shares.append(float(np.mean([actions[i] in new for i in where])) if where else None)
    return {"actions": new, "share_per_block": shares, "contexts_per_block": counts}


def describe(name: str, plan: Sequence[Any], actions: Sequence[str], rewards: Sequence[float]) -> dict[str, Any]:
    """One policy's figures on the plan: mean reward per block, last 1,000, and expected reward per block."""
    expected = [plan[i].expected[a] for i, a in enumerate(actions)]
    return {
        "policy": name,
        "mean_reward": float(np.mean(rewards)),
        "mean_reward_last_1000": float(np.mean(rewards[-LAST:])),
        "expected_reward_last_1000": float(np.mean(expected[-LAST:])),
        "reward_per_block": block_means(rewards),
        "expected_reward_per_block": block_means(expected),
    }


def plot(name: str, curves: dict[str, Sequence[float]], references: dict[str, float], marks: dict[str, Any]) -> Path:
    """Rolling mean expected reward of the loop and the online reference, with the ground-truth baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5))
    for label, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), rolling(values, BLOCK), label=f"{label} (rolling 500)")
    styles = {"oracle": ("green", "--"), "best_constant": ("orange", "-."), "uniform": ("grey", ":")}
    for key, (color, style) in styles.items():
        ax.axhline(references[key], color=color, linestyle=style, label=f"{key} ({references[key]:.3f})")
    for run in marks.get("promoted", []):
        ax.axvline(run, color="#88bb88", linewidth=0.8)
    if marks.get("event") is not None:
        ax.axvline(marks["event"], color="red", linewidth=1.2, label=marks["event_label"])
    ax.set_xlabel("interaction (green lines: a promotion)")
    ax.set_ylabel("expected reward of the chosen action")
    ax.set_ylim(0.0, 1.05)
    ax.set_title(f"{name}: the loop vs online VW on the same stream")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = RESULTS_DIR / "learning" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def measure(name: str, work: Path) -> dict[str, Any]:
    """One scenario: the loop, the online reference and the baselines on the same plan, and the targets."""
    from simulator.scenarios import baselines, take
    from simulator.warmstart import logged_data

    scenario = spec(name)
    plan = take(scenario.build(SEED).interactions(INTERACTIONS), INTERACTIONS)
    warm = logged_data(scenario.build(SEED + 1), WARM_START, seed=SEED, experiment_id="bandit-demo")
    started = time.monotonic()
    reference = OnlineReference(warm_rows(warm), SEED)
    played = [reference.play(i) for i in plan]
    reference.close()
    online_s = time.monotonic() - started
    loop = play_loop(scenario, plan, warm, work)
    ref = baselines(plan).to_json()
    loop_figures = describe("loop", plan, loop["actions"], loop["rewards"])
    online = describe("online_vw", plan, [a for a, _ in played], [r for _, r in played])
    result: dict[str, Any] = {
        "scenario": name,
        "interactions": INTERACTIONS,
        "loop": {
            **loop_figures,
            "runs": loop["runs"],
            "promoted": sum(1 for r in loop["runs"] if r["outcome"] == "promoted"),
            "rejected": sum(1 for r in loop["runs"] if r["outcome"] == "rejected"),
            "challengers": sum(1 for r in loop["runs"] if r.get("challenger")),
            "drift_detected": [r["after_interactions"] for r in loop["runs"] if r.get("drift_detected")],
            "gate_truth": gate_truth(loop["runs"], settings().promotion_margin),
            "wall_s": loop["wall_s"],
        },
        "online_vw": {**online, "wall_s": round(online_s, 1)},
        "baselines": {k: ref[k] for k in ("oracle", "best_constant", "best_constant_action", "uniform")},
    }
    checks: dict[str, Any] = {
        "loop_last_1000_minus_online_vw": loop_figures["mean_reward_last_1000"] - online["mean_reward_last_1000"],
    }
    checks["loop_at_least_online_vw"] = checks["loop_last_1000_minus_online_vw"] >= 0.0
    expected_loop = [plan[i].expected[a] for i, a in enumerate(loop["actions"])]
    expected_online = [plan[i].expected[a] for i, (a, _) in enumerate(played)]
    if scenario.change_at is not None:
        result["recovery"] = {
            "loop": recovery(expected_loop, scenario.change_at),
            "online_vw": recovery(expected_online, scenario.change_at),
        }
        done = result["recovery"]["loop"]["interactions"]
        checks["recovery_within_1500"] = done is not None and done <= TARGETS["recovery_within"]
        # The change scenario is the demo's (synthetic) before the change: above the best constant within 1,000?
        pre = baselines(plan[: scenario.change_at]).best_constant
        blocks = block_means(expected_loop[: scenario.change_at])
        above = next(((k + 1) * BLOCK for k, v in enumerate(blocks) if v > pre), None)
        result["demo"] = {"best_constant_before_change": pre, "first_block_above_it_ends_at": above}
        checks["demo_above_best_constant_within_1000"] = above is not None and above <= 1000
    if scenario.new_action_at is not None:
        result["new_action"] = {
            "loop": new_action_share(plan, loop["actions"], scenario.new_action_at),
            "online_vw": new_action_share(plan, [a for a, _ in played], scenario.new_action_at),
        }
        second = result["new_action"]["loop"]["share_per_block"][1]
        checks["new_action_share_within_1000"] = second
        checks["new_action_at_least_80_percent"] = second is not None and second >= 0.8
    result["checks"] = checks
    marks = {
        "promoted": [r["after_interactions"] for r in loop["runs"] if r["outcome"] == "promoted"],
        "event": scenario.change_at or scenario.new_action_at,
        "event_label": "abrupt change" if scenario.change_at else "new action",
    }
    picture = plot(name, {"loop": expected_loop, "online VW": expected_online}, ref, marks)
    result["plot"] = str(picture.relative_to(REPO))
    return result


def summary() -> dict[str, Any]:
    """`learning.json`: every scenario result on disk, side by side."""
    per: dict[str, Any] = {}
    for name in SCENARIOS:
        path = RESULTS_DIR / "learning" / f"{name}.json"
        if path.is_file():
            data = json.loads(path.read_text())
            per[name] = {
                "loop_last_1000": data["loop"]["mean_reward_last_1000"],
                "online_vw_last_1000": data["online_vw"]["mean_reward_last_1000"],
                "best_constant": data["baselines"]["best_constant"],
                "oracle": data["baselines"]["oracle"],
                "promoted": data["loop"]["promoted"],
                "rejected": data["loop"]["rejected"],
                "challengers": data["loop"].get("challengers"),
                "gate_truth": data["loop"].get("gate_truth"),
                "checks": data["checks"],
                "finished_at": data["_meta"]["finished_at"],
            }
    return {"scenarios": per, "gate_truth": pooled_gate_truth(per), "targets": TARGETS, "protocol": protocol()}


def pooled_gate_truth(per: dict[str, Any]) -> dict[str, Any]:
    """Every scenario's gate decisions together: the shares of truly worse and truly better candidates promoted."""
    totals = {"truly_worse": 0, "worse_promoted": 0, "truly_better": 0, "better_promoted": 0}
    for figures in per.values():
        truth = figures.get("gate_truth") or {}
        for group, promoted in (("truly_worse", "worse_promoted"), ("truly_better", "better_promoted")):
            count = int(truth.get(group) or 0)
            totals[group] += count
            share = truth.get(f"{group}_promoted")
            totals[promoted] += round(share * count) if share is not None else 0
    return {
        **totals,
        "truly_worse_promoted": totals["worse_promoted"] / totals["truly_worse"] if totals["truly_worse"] else None,
        "truly_better_promoted": totals["better_promoted"] / totals["truly_better"] if totals["truly_better"] else None,
    }


def protocol() -> dict[str, Any]:
    from dataclasses import asdict

    return {
        "interactions": INTERACTIONS,
        "retrain_every": RETRAIN_EVERY,
        "warm_start": WARM_START,
        "decisions_per_request": BATCH,
        "event_at": EVENT_AT,
        "loop_settings": loop_settings(),
        "exploration": asdict(settings().exploration),
    }


def main(names: Sequence[str] = ()) -> dict[str, Any]:
    names = scenario_names(names)
    work = Path(tempfile.mkdtemp(prefix="bench-learning-"))
    (RESULTS_DIR / "learning").mkdir(parents=True, exist_ok=True)
    for name in names:
        load = os.getloadavg()
        try:
            result = measure(name, work)
        except BaseException:
            print(f"bench learning {name} failed; the runtime's state is kept in {work}", file=sys.stderr)
            raise
        result["load_average_at_start"] = [round(x, 2) for x in load]
        result["protocol"] = protocol()
        write_result(f"learning/{name}", result)
        _log(
            f"{name}: loop last 1,000 {result['loop']['mean_reward_last_1000']:.3f}, online VW "
            f"{result['online_vw']['mean_reward_last_1000']:.3f}; checks {result['checks']}"
        )
    shutil.rmtree(work, ignore_errors=True)
    data = summary()
    write_result("learning", data)
    return data


if __name__ == "__main__":
    json.dump(main(sys.argv[1:]), sys.stdout, indent=2, default=str)
