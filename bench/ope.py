"""Off-policy evaluation on Statlog Shuttle: accurate estimates, honest intervals, a gate that picks right?

Shuttle (`/work/shared/data/shuttle.trn`, 9 integer features, class 1-7) becomes a bandit: action = class guess,
reward 1 iff it is right. Candidate policies are trained by the container's own `train` job on uniformly logged
rows; the rest of the data is a pool where every policy's full distribution is computed once, so each policy's
true value is known (its mean probability of the right class). Each of the `HOLDOUTS` holdouts samples 1,000 pool
rows, logs one action per row from an exploring logging policy and scores every policy with the evaluator's
estimators (IPS, SNIPS, cross-fitted DR). The example's method — one sampled action per row from the candidate,
scored online by `vw --cb 7 --eval --cb_type dr` — runs on the same holdouts for comparison.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from itertools import permutations
from pathlib import Path
from typing import Any

import numpy as np
import vowpalwabbit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import SHUTTLE_ACTIONS as ACTIONS  # noqa: E402
from bench.common import write_result  # noqa: E402
from container.core.layout import Layout  # noqa: E402
from container.core.policy import Policy  # noqa: E402
from container.evaluation.estimators import ESTIMATORS, Logged, difference, policy_terms  # noqa: E402
from container.evaluation.report import gate  # noqa: E402
from container.evaluation.reward_model import cross_fitted_rewards, design_matrix  # noqa: E402
from container.training import train  # noqa: E402

DATA = Path("/work/shared/data/shuttle.trn")
HOLDOUTS = 200
HOLDOUT_ROWS = 1000
TRAIN_ROWS = 6000
MARGIN = 0.01
GATE_GAP = 0.02
SEED = 2026
# (name, training rows, hyperparameters): candidates of different quality, and the exploring logging policy.
POLICIES: list[tuple[str, int, dict[str, str]]] = [
    ("logger", 300, {"exploration": "epsilon", "epsilon": "0.3"}),
    ("eps_small", 400, {"exploration": "epsilon", "epsilon": "0.05"}),
    ("eps_large", 6000, {"exploration": "epsilon", "epsilon": "0.05"}),
    ("squarecb", 6000, {"exploration": "squarecb", "gamma_scale": "10"}),
    ("softmax", 1500, {"exploration": "softmax", "tau": "2"}),
]


def load_shuttle() -> tuple[np.ndarray, np.ndarray]:
    data = np.loadtxt(DATA, delimiter=",", dtype=np.int64)
    return data[:, :9], data[:, 9] - 1


def contexts(features: np.ndarray) -> list[dict[str, float]]:
    return [{f"x{j}": int(v) for j, v in enumerate(row)} for row in features]


def uniform_log(features: np.ndarray, labels: np.ndarray, rng: np.random.Generator, prefix: str) -> list[dict]:
    """Joined rows logged uniformly at random, as the join writes them."""
    chosen = rng.integers(0, len(ACTIONS), len(labels))
    uniform = [1 / len(ACTIONS)] * len(ACTIONS)
    return [
        {
            "event_id": f"{prefix}-{i}",
            "context": json.dumps(context),
            "actions": json.dumps([{"id": a, "features": {}} for a in ACTIONS]),
            "action": ACTIONS[a],
            "action_index": int(a),
            "action_prob": 1 / len(ACTIONS),
            "probabilities": json.dumps(uniform),
            "reward": float(a == y),
        }
        for i, (context, a, y) in enumerate(zip(contexts(features), chosen, labels, strict=True))
    ]


def train_policy(workdir: Path, name: str, rows: list[dict], hyperparameters: dict[str, str]) -> Policy:
    """Train with the container's `train` job (holdout_share 0: the bench's own pool is the holdout)."""
    root = workdir / name
    (root / "input" / "config").mkdir(parents=True)
    config = {"model_id": name, "holdout_share": "0", "actions": ",".join(ACTIONS), **hyperparameters}
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(config))
    channel = root / "input" / "data" / "training"
    channel.mkdir(parents=True)
    (channel / "part-0.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    train.run(Layout(root))
    return Policy.load(root / "model", seed=SEED)


def pool_distributions(policy: Policy, pool: list[dict[str, float]]) -> np.ndarray:
    """The policy's distribution over the 7 actions on every pool row (its own action order is ACTIONS)."""
    order = [ACTIONS.index(a.id) for a in policy.actions]
    matrix = np.zeros((len(pool), len(ACTIONS)))
    matrix[:, order] = np.array([policy.distribution(c) for c in pool])
    return matrix


def vw_eval(
    lines: list[str], policy_actions: np.ndarray, chosen: np.ndarray, reward: np.ndarray, prob: np.ndarray
) -> float:
    """The example's method: `vw --cb 7 --eval --cb_type dr` with cost = -reward; returns the value estimate."""
    workspace = vowpalwabbit.Workspace("--cb 7 --eval --cb_type dr --quiet")
    try:
        for line, p_action, a, r, p in zip(lines, policy_actions, chosen, reward, prob, strict=True):
            workspace.learn(f"{p_action + 1} {a + 1}:{-r:g}:{p:.9g} {line}")
        return float(-workspace.get_sum_loss() / workspace.get_weighted_examples())
    finally:
        workspace.finish()


def _sample(distributions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row from each row's distribution (vectorised inverse CDF)."""
    cumulative = np.cumsum(distributions, axis=1)
    draws = rng.random(len(distributions))[:, None] * cumulative[:, -1:]
    return np.minimum((draws > cumulative).sum(axis=1), distributions.shape[1] - 1)


def _summary(errors: np.ndarray) -> dict[str, float]:
    return {"bias": float(np.mean(errors)), "rmse": float(np.sqrt(np.mean(errors**2)))}


def true_values(distributions: dict[str, np.ndarray], labels: np.ndarray) -> dict[str, float]:
    """Each policy's true value on the pool: the mean probability it gives the right class (reward 1 iff right)."""
    rows = np.arange(len(labels))
    return {name: float(d[rows, labels].mean()) for name, d in distributions.items()}


def aggregate(
    errors: dict[str, list[float]], covered: dict[str, list[bool]], widths: dict[str, list[float]]
) -> dict[str, Any]:
    """Bias, RMSE, coverage and mean interval width over every (policy, holdout), and per policy."""
    names = list(errors)
    return {
        **_summary(np.concatenate([np.asarray(errors[c], dtype=float) for c in names])),
        "coverage": float(np.mean(np.concatenate([np.asarray(covered[c], dtype=bool) for c in names]))),
        "mean_width": float(np.mean(np.concatenate([np.asarray(widths[c], dtype=float) for c in names]))),
        "min_width": float(np.min(np.concatenate([np.asarray(widths[c], dtype=float) for c in names]))),
        "intervals": int(sum(len(covered[c]) for c in names)),
        "per_policy": {
            c: {
                **_summary(np.asarray(errors[c], dtype=float)),
                "coverage": float(np.mean(covered[c])),
                "mean_width": float(np.mean(widths[c])),
            }
            for c in names
        },
    }


def score(
    distributions: dict[str, np.ndarray],
    logger: np.ndarray,
    pool_contexts: list[dict[str, float]],
    pool_labels: np.ndarray,
    vw_lines: list[str],
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Every estimator, the example's method and the gate on `HOLDOUTS` holdouts logged by `logger`."""
    truth = true_values(distributions, pool_labels)
    candidates = [name for name, _, _ in POLICIES if name != "logger"]
    errors: dict[str, dict[str, list[float]]] = {e: {c: [] for c in candidates} for e in ESTIMATORS}
    covered: dict[str, dict[str, list[bool]]] = {e: {c: [] for c in candidates} for e in ESTIMATORS}
    widths: dict[str, dict[str, list[float]]] = {e: {c: [] for c in candidates} for e in ESTIMATORS}
    example_errors: dict[str, list[float]] = {c: [] for c in candidates}
    gate_right: list[bool] = []
    promoted_better: list[bool] = []
    promoted_worse: list[bool] = []
    difference_covered: dict[str, list[bool]] = {e: [] for e in ESTIMATORS}
    for holdout in range(HOLDOUTS):
        idx = rng.choice(len(pool_labels), HOLDOUT_ROWS, replace=False)
        chosen = _sample(logger[idx], rng)
        propensity = logger[idx, chosen]
        reward = (chosen == pool_labels[idx]).astype(float)
        logged = Logged(chosen.astype(np.int64), propensity, reward, logging=logger[idx])  # joined rows carry it
        x = design_matrix([pool_contexts[i] for i in idx])
        reward_hat = cross_fitted_rewards(x, logged, len(ACTIONS), seed=holdout)
        terms = {name: policy_terms(d[idx], logged, reward_hat) for name, d in distributions.items()}
        lines = [vw_lines[i] for i in idx]
        for name in candidates:
            for estimator in ESTIMATORS:
                result = terms[name].interval(estimator)
                errors[estimator][name].append(result.value - truth[name])
                covered[estimator][name].append(result.ci_low <= truth[name] <= result.ci_high)
                widths[estimator][name].append(result.ci_high - result.ci_low)
            sampled = _sample(distributions[name][idx], rng)
            example_errors[name].append(vw_eval(lines, sampled, chosen, reward, propensity) - truth[name])
        for first, second in permutations(distributions, 2):
            paired = difference(terms[first], terms[second])
            gap = truth[first] - truth[second]
            for estimator in ESTIMATORS:
                difference_covered[estimator].append(paired[estimator].ci_low <= gap <= paired[estimator].ci_high)
            if abs(gap) >= GATE_GAP:
                promote = gate(paired["dr"], "dr", MARGIN).promote
                gate_right.append(promote == (gap > 0))
                (promoted_better if gap > 0 else promoted_worse).append(promote)
    return {
        "holdouts": HOLDOUTS,
        "holdout_rows": HOLDOUT_ROWS,
        "true_values": truth,
        "estimators": {e: aggregate(errors[e], covered[e], widths[e]) for e in ESTIMATORS},
        "example_method": {
            **_summary(np.concatenate([example_errors[c] for c in candidates])),
            "per_policy": {c: _summary(np.array(example_errors[c])) for c in candidates},
        },
        "gate_accuracy": float(np.mean(gate_right)) if gate_right else None,
        "gate_decisions": len(gate_right),
        "gate_promoted_better": float(np.mean(promoted_better)) if promoted_better else None,
        "gate_promoted_worse": float(np.mean(promoted_worse)) if promoted_worse else None,
        "difference_coverage": {e: float(np.mean(difference_covered[e])) for e in ESTIMATORS},
        "gate": {"estimator": "dr", "margin": MARGIN, "min_true_gap": GATE_GAP},
        "dr_rmse_over_example_rmse": float(
            np.sqrt(np.mean(np.concatenate([errors["dr"][c] for c in candidates]) ** 2))
            / np.sqrt(np.mean(np.concatenate([example_errors[c] for c in candidates]) ** 2))
        ),
    }


def main() -> dict[str, Any]:
    """Train the policies, score both loggers' holdouts and write `bench/results/ope.json`."""
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    features, labels = load_shuttle()
    order = rng.permutation(len(labels))
    train_idx, pool_idx = order[:TRAIN_ROWS], order[TRAIN_ROWS:]
    training_log = uniform_log(features[train_idx], labels[train_idx], rng, "train")
    with tempfile.TemporaryDirectory() as tmp:
        policies = {
            name: train_policy(Path(tmp), name, training_log[:rows], hyperparameters)
            for name, rows, hyperparameters in POLICIES
        }
    pool_contexts = contexts(features[pool_idx])
    pool_labels = labels[pool_idx]
    distributions = {name: pool_distributions(policy, pool_contexts) for name, policy in policies.items()}
    for policy in policies.values():
        policy.close()
    vw_lines = ["| " + " ".join(f"x{j}:{v}" for j, v in enumerate(row)) for row in features[pool_idx]]
    prepared = time.perf_counter()
    data = score(distributions, distributions["logger"], pool_contexts, pool_labels, vw_lines, rng)
    scored = time.perf_counter()
    uniform = np.full_like(distributions["logger"], 1 / len(ACTIONS))
    data["uniform_logger"] = score(distributions, uniform, pool_contexts, pool_labels, vw_lines, rng)
    data["logging_policy"] = "logger: trained on 300 uniform rows, --epsilon 0.3 (min propensity 0.3/7)"
    data["seconds"] = {
        "prepare": round(prepared - started, 1),
        "holdouts": round(scored - prepared, 1),
        "uniform_logger_holdouts": round(time.perf_counter() - scored, 1),
        "total": round(time.perf_counter() - started, 1),
    }
    write_result("ope", data)
    return data


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, sort_keys=True))
