"""The gate's statistics on simulated ground truth: coverage, power and false promotions at n = 50-1,000.

A synthetic contextual bandit (2 uniform features, 4 actions, Bernoulli rewards with known means) is logged by the
serving policy itself (epsilon-greedy, epsilon 0.2, on a mediocre greedy map), as the pipeline's holdout is.
Candidates are mixtures of the serving policy with a better or a worse epsilon-greedy policy, set so that their true
value differs from serving's by exactly `GAPS` (computed on a 200,000-context pool from the known means). Every
holdout is scored with the evaluator's own code (`policy_terms`, `paired_difference`, `gate`), and each figure is
reported for the anytime-valid confidence sequence (the gate now) next to the previous normal interval on the
previous terms, measured on the same holdouts:

- coverage of the true difference by the paired 95% interval at n = 50, 100, 300, 1,000;
- the share promoted (`gate`, margin 0.01) at n = 300 for candidates better by 0.05 / 0.07 (power) and worse by
  0.03 / 0.05 (false promotions; target <= 5%);
- the pipeline's protocol (`pipeline_runs`): a run adds 100 holdout rows and the gate looks once per run for 10 runs,
  on the run's own rows (the gate before pooling) or on every row since the serving model went live (pooled); a
  candidate counts as promoted at its first promoting look. Reported: the share of truly better candidates (gap
  above the margin) promoted, within 3 runs and within 10, and of truly worse ones (target <= 5%); the normal gate
  at its lower end's one-sided 97.5% (`normal`, a two-sided 95% interval) and at 95% (`normal_one_sided_95`, the
  default `promotion_confidence`); and `pooled_challenger`, a design study: the pooled, supplemented gate on rows
  logged by the endpoint serving `CHALLENGER_SHARE` of the candidate next to serving (not built in the pipeline).

`BENCH_GATE_EPSILON` and `BENCH_GATE_ESTIMATOR` change the logger's epsilon and the gate's estimator (the result
then goes to `gate_<estimator>_epsilon<epsilon>.json`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import RESULTS_DIR, write_result  # noqa: E402
from container.evaluation.estimators import (  # noqa: E402
    ESTIMATORS,
    GATE_CONFIDENCE,
    Interval,
    Logged,
    interval,
    paired_difference,
    policy_terms,
)
from container.evaluation.report import gate  # noqa: E402
from container.evaluation.reward_model import Supplement, cross_fitted_rewards  # noqa: E402

SEED = 2026
ACTIONS = 4
EPSILON = float(os.environ.get("BENCH_GATE_EPSILON", "0.2"))
"""The logger's exploration; `BENCH_GATE_EPSILON=0.02` (min propensity 0.005) is the near-deterministic regime a
served squarecb model reaches after a few thousand interactions."""
MARGIN = 0.01
SIZES = (50, 100, 300, 1000)
GAPS = (-0.05, -0.03, 0.0, 0.05, 0.07)
REPETITIONS = 300
RUN_ROWS = 100  # a run's holdout: 500 rewards per run (retrain_threshold) x holdout_share 0.2
RUNS = 10
TRAINING_PER_HOLDOUT_ROW = 4  # holdout_share 0.2: each run's 500 rows are 100 holdout and 400 training rows
SEQUENTIAL_REPETITIONS = 100
PIPELINE_GAPS = (-0.05, -0.03, -0.02, 0.02, 0.05, 0.07)
ESTIMATOR = os.environ.get("BENCH_GATE_ESTIMATOR", "dr")  # the pipeline's promotion estimator
RESULT = "gate" if (EPSILON, ESTIMATOR) == (0.2, "dr") else f"gate_{ESTIMATOR}_epsilon{EPSILON:g}"
"""`gate.json` for the defaults; another logger or estimator writes its own file."""
POOL = 200_000
CHALLENGER_SHARE = 0.2
"""`pooled_challenger`: the endpoint serves this share of the candidate's distribution next to serving's and logs
the mixture's propensities (a design study for a lever not built: docs/evaluation.md)."""
LOWER_CONFIDENCES = {"normal_one_sided_95": 0.95}
"""The normal interval with its lower end at one-sided 95% (`promotion_confidence` 0.95), next to the two-sided 95%
interval's 97.5% ("normal"), on the same holdouts."""


def reward_means(x: np.ndarray) -> np.ndarray:
    """Known mean reward of each action in each context (`rows x 4`), within [0.1, 0.9]."""
    a, b = x[:, 0], x[:, 1]
    return np.column_stack(
        [0.2 + 0.6 * a * b, 0.5 + 0.3 * np.sin(6 * a) * (b - 0.5), 0.8 - 0.6 * a, 0.3 + 0.5 * (b > 0.6)]
    )


def epsilon_greedy(greedy: np.ndarray) -> np.ndarray:
    return (1 - EPSILON) * np.eye(ACTIONS)[greedy] + EPSILON / ACTIONS


def policies(x: np.ndarray) -> dict[str, np.ndarray]:
    """Serving (greedy on a rough rule), the best and the worst epsilon-greedy policies on contexts `x`."""
    means = reward_means(x)
    serving = np.where(x[:, 0] > 0.5, 0, 2)
    return {
        "serving": epsilon_greedy(serving),
        "best": epsilon_greedy(np.argmax(means, axis=1)),
        "worst": epsilon_greedy(np.argmin(means, axis=1)),
    }


def mixing_shares(rng: np.random.Generator) -> dict[float, tuple[str, float]]:
    """For each gap, the policy mixed into serving and its share, from the true values on a large pool."""
    x = rng.random((POOL, 2))
    means = reward_means(x)
    values = {name: float(np.mean(np.sum(p * means, axis=1))) for name, p in policies(x).items()}
    shares = {}
    for gap in sorted({*GAPS, *PIPELINE_GAPS}):
        other = "best" if gap >= 0 else "worst"
        shares[gap] = (other, gap / (values[other] - values["serving"]))
    return shares


def candidate(x: np.ndarray, mix: tuple[str, float]) -> np.ndarray:
    p = policies(x)
    other, share = mix
    return share * p[other] + (1 - share) * p["serving"]


def draw(n: int, rng: np.random.Generator, challenger: tuple[str, float] | None = None) -> tuple[np.ndarray, Logged]:
    """A holdout of `n` rows logged by the serving policy (its full distribution is logged, as the join does); with
    a `challenger` (a candidate's mix), by `(1 - CHALLENGER_SHARE) serving + CHALLENGER_SHARE challenger`."""
    x = rng.random((n, 2))
    mu = policies(x)["serving"]
    if challenger is not None:
        mu = (1 - CHALLENGER_SHARE) * mu + CHALLENGER_SHARE * candidate(x, challenger)
    chosen = (rng.random(n)[:, None] > np.cumsum(mu, axis=1)).sum(axis=1)
    reward = (rng.random(n) < reward_means(x)[np.arange(n), chosen]).astype(float)
    return x, Logged(chosen.astype(np.int64), mu[np.arange(n), chosen], reward, (0.0, 1.0), logging=mu)


def _previous_terms(target: np.ndarray, logged: Logged, reward_hat: np.ndarray, estimator: str) -> np.ndarray:
    """The previous per-row terms: IPS, SNIPS' delta-method influence terms, DR with the unfloored reward model."""
    rows = np.arange(logged.rows)
    w = target[rows, logged.chosen] / logged.propensity
    r = logged.reward
    if estimator == "ips":
        return w * r
    if estimator == "snips":
        value = float(np.sum(w * r) / np.sum(w))
        return value + w * (r - value) / np.mean(w)
    return np.sum(target * reward_hat, axis=1) + w * (r - reward_hat[rows, logged.chosen])


def previous_normal(
    target: np.ndarray,
    serving: np.ndarray,
    logged: Logged,
    reward_hat: np.ndarray,
    estimator: str,
    confidence: float = GATE_CONFIDENCE,
) -> Interval:
    """The previous gate's interval: normal on the per-row differences of the previous terms, each end at
    one-sided `confidence`."""
    paired = _previous_terms(target, logged, reward_hat, estimator) - _previous_terms(
        serving, logged, reward_hat, estimator
    )
    return interval(paired, confidence)


def score(
    x: np.ndarray, logged: Logged, mix: tuple[str, float], seed: int, supplement: Supplement | None = None
) -> dict[str, dict[str, Interval]]:
    """Both gates' paired intervals of one candidate against the serving policy (its own logger) on one holdout;
    with a `supplement` the reward model also learns from those training rows (as the evaluation job does)."""
    reward_hat = cross_fitted_rewards(x, logged, ACTIONS, seed=seed, supplement=supplement)
    target = candidate(x, mix)
    terms = policy_terms(target, logged, reward_hat)
    serving_target = policies(x)["serving"]
    serving = policy_terms(serving_target, logged, reward_hat)  # the pipeline scores the serving model, kind "model"
    return {
        "sequence": {e: paired_difference(terms, serving, e).interval for e in ESTIMATORS},
        "normal": {e: previous_normal(target, serving_target, logged, reward_hat, e) for e in ESTIMATORS},
        **{
            method: {e: previous_normal(target, serving_target, logged, reward_hat, e, level) for e in ESTIMATORS}
            for method, level in LOWER_CONFIDENCES.items()
        },
    }


def fixed_size(shares: dict[float, tuple[str, float]], rng: np.random.Generator) -> dict[str, Any]:
    """Coverage per n and the share promoted per gap, for both gates, over `REPETITIONS` holdouts per n."""
    out: dict[str, Any] = {}
    for n in SIZES:
        covered = {m: {e: 0 for e in ESTIMATORS} for m in ("sequence", "normal")}
        promoted = {m: {e: {str(g): 0 for g in GAPS} for e in ESTIMATORS} for m in ("sequence", "normal")}
        width = {m: {e: 0.0 for e in ESTIMATORS} for m in ("sequence", "normal")}
        for repetition in range(REPETITIONS):
            x, logged = draw(n, rng)
            for gap in GAPS:
                result = score(x, logged, shares[gap], seed=repetition)
                for method, intervals in result.items():
                    for e, ci in intervals.items():
                        covered[method][e] += ci.ci_low <= gap <= ci.ci_high
                        promoted[method][e][str(gap)] += gate(ci, e, MARGIN).promote
                        width[method][e] += ci.ci_high - ci.ci_low
        count = REPETITIONS * len(GAPS)
        out[str(n)] = {
            "coverage": {m: {e: covered[m][e] / count for e in ESTIMATORS} for m in covered},
            "mean_width": {m: {e: width[m][e] / count for e in ESTIMATORS} for m in width},
            "promoted": {
                m: {e: {g: v / REPETITIONS for g, v in promoted[m][e].items()} for e in ESTIMATORS} for m in promoted
            },
        }
    return out


def _prefix(logged: Logged, start: int, stop: int) -> Logged:
    """Rows `start:stop` of a log (the logger's distribution is always logged here)."""
    assert logged.logging is not None
    return Logged(
        logged.chosen[start:stop],
        logged.propensity[start:stop],
        logged.reward[start:stop],
        (0.0, 1.0),
        logging=logged.logging[start:stop],
    )


def pipeline_runs(shares: dict[float, tuple[str, float]], rng: np.random.Generator) -> dict[str, Any]:
    """The pipeline's protocol: each run adds `RUN_ROWS` holdout rows; the gate looks once per run, until it promotes.

    A candidate of a given true gap is evaluated at every run (a lineage that keeps learning towards it) and the
    episode ends at its first promotion, as the serving model then changes. Two holdouts: the run's own rows only
    (the gate before pooling) and every row since the serving model went live (pooled); two intervals: the normal
    one and the anytime-valid sequence. A truly worse candidate promoted at any look counts as a false promotion.
    """
    holdouts = ("per_run", "pooled", "pooled_supplemented", "pooled_challenger")
    challenger_rng = np.random.default_rng(SEED + 2)  # its own draws: the other holdouts' streams stay as they were
    methods = ("sequence", "normal", *LOWER_CONFIDENCES)
    looks: dict[str, dict[str, list[int]]] = {
        f"{holdout}/{method}": {str(g): [] for g in PIPELINE_GAPS} for holdout in holdouts for method in methods
    }
    for repetition in range(SEQUENTIAL_REPETITIONS):
        x, logged = draw(RUN_ROWS * RUNS, rng)
        x_training, training = draw(RUN_ROWS * RUNS * TRAINING_PER_HOLDOUT_ROW, rng)
        for gap in PIPELINE_GAPS:
            # The challenger's logger depends on the candidate, so its holdout and training rows are drawn per gap.
            xc, logged_c = draw(RUN_ROWS * RUNS, challenger_rng, shares[gap])
            xc_training, training_c = draw(RUN_ROWS * RUNS * TRAINING_PER_HOLDOUT_ROW, challenger_rng, shares[gap])
            first = dict.fromkeys(looks, 0)
            for look in range(1, RUNS + 1):
                stop = look * RUN_ROWS
                for holdout in holdouts:
                    if all(first[f"{holdout}/{m}"] for m in methods):
                        continue
                    start = stop - RUN_ROWS if holdout == "per_run" else 0
                    supplement = None
                    rows_x, rows, extra_x, extra = (
                        (xc, logged_c, xc_training, training_c)
                        if holdout == "pooled_challenger"
                        else (x, logged, x_training, training)
                    )
                    if holdout in ("pooled_supplemented", "pooled_challenger"):
                        seen = stop * TRAINING_PER_HOLDOUT_ROW
                        supplement = Supplement(extra_x[:seen], extra.chosen[:seen], extra.reward[:seen])
                    result = score(
                        rows_x[start:stop],
                        _prefix(rows, start, stop),
                        shares[gap],
                        seed=repetition,
                        supplement=supplement,
                    )
                    for method in methods:
                        key = f"{holdout}/{method}"
                        if not first[key] and gate(result[method][ESTIMATOR], ESTIMATOR, MARGIN).promote:
                            first[key] = look
            for key, look_found in first.items():
                looks[key][str(gap)].append(look_found)
    summary: dict[str, Any] = {}
    for key, per_gap in looks.items():
        summary[key] = {}
        for g, found in per_gap.items():
            array = np.array(found)
            promoted = array > 0
            summary[key][g] = {
                "promoted_ever": float(promoted.mean()),
                "promoted_by_run": [float(np.mean(promoted & (array <= k))) for k in range(1, RUNS + 1)],
                "median_first_run": float(np.median(array[promoted])) if promoted.any() else None,
            }
        worse = [g for g in PIPELINE_GAPS if g < -MARGIN]
        better = [g for g in PIPELINE_GAPS if g > MARGIN]
        summary[key]["truly_worse_promoted"] = float(np.mean([summary[key][str(g)]["promoted_ever"] for g in worse]))
        summary[key]["truly_better_promoted"] = float(np.mean([summary[key][str(g)]["promoted_ever"] for g in better]))
        summary[key]["truly_better_promoted_within_3_runs"] = float(
            np.mean([summary[key][str(g)]["promoted_by_run"][2] for g in better])
        )
    return summary


def main(parts: Sequence[str] = ("fixed_size", "pipeline_runs")) -> dict[str, Any]:
    """Both parts by default; `python -m bench.gate pipeline_runs` reruns one and keeps the other from gate.json."""
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    shares = mixing_shares(rng)
    previous = RESULTS_DIR / f"{RESULT}.json"
    data: dict[str, Any] = json.loads(previous.read_text()) if previous.is_file() else {}
    data.pop("_meta", None)
    data.pop("repeated_looks", None)  # the previous protocol (one fixed run size), replaced by pipeline_runs
    data.update(
        {
            "problem": (
                "2 uniform features, 4 actions, Bernoulli rewards with known means; logged by the serving policy "
                f"(epsilon-greedy, epsilon {EPSILON}, min propensity {EPSILON / ACTIONS}); candidates mix serving "
                "with the best / worst epsilon-greedy policy to a known true gap"
            ),
            "gaps": list(GAPS),
            "margin": MARGIN,
            "repetitions": REPETITIONS,
        }
    )
    seconds = dict(data.get("seconds") or {})
    if "fixed_size" in parts:
        data["fixed_size"] = fixed_size(shares, rng)
        seconds["fixed_size"] = round(time.perf_counter() - started, 1)
    if "pipeline_runs" in parts:
        begun = time.perf_counter()
        data["pipeline_runs"] = {
            "run_rows": RUN_ROWS,
            "runs": RUNS,
            "repetitions": SEQUENTIAL_REPETITIONS,
            "estimator": ESTIMATOR,
            "gaps": list(PIPELINE_GAPS),
            **pipeline_runs(shares, np.random.default_rng(SEED + 1)),
        }
        seconds["pipeline_runs"] = round(time.perf_counter() - begun, 1)
    # The parts may come from different runs (one can be rerun alone): the total is their sum, never a stale figure.
    seconds["total"] = round(sum(v for k, v in seconds.items() if k != "total"), 1)
    data["seconds"] = seconds
    write_result(RESULT, data)
    return data


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:] or ("fixed_size", "pipeline_runs")), indent=2, sort_keys=True))
