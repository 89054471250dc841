"""`python -m container evaluate`: score the candidate and the serving policy on the holdout, decide promotion.

Runs as a SageMaker training job (`ContainerEntrypoint ["evaluate"]`): channels `holdout`, `candidate` and
optional `serving`; writes `model/evaluation.json`, prints `METRIC` lines, and on any error writes
`output/failure` with an actionable message and exits 1 (a failed evaluation never promotes).
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from container.core.artifacts import ArtifactError
from container.core.featurizer import Action, actions_from_ids
from container.core.layout import HyperparametersError, Layout
from container.core.policy import Policy
from container.core.split import is_holdout
from container.evaluation.confidence import BET_CAP, HORIZONS
from container.evaluation.errors import EmptyHoldoutError, EvaluationError, HyperparameterError
from container.evaluation.estimators import logging_policy_terms, paired_difference, policy_terms
from container.evaluation.holdout import Holdout, build_holdout, distribution_matrix
from container.evaluation.report import gate, metric_lines, policy_block
from container.evaluation.reward_model import cross_fitted_rewards, design_matrix
from container.training.data import LoggedRow, ReadStats, read_rows
from contract.bounds import ESTIMATORS, EVALUATION_BOUNDS, EVALUATION_HOLDOUT_SHARE, PROMOTION_INTERVALS

HOLDOUT_CHANNEL = "holdout"
CANDIDATE_CHANNEL = "candidate"
SERVING_CHANNEL = "serving"
EVALUATION_FILE = "evaluation.json"


@dataclass(frozen=True)
class EvaluateConfig:
    """The job's hyperparameters (docs/contracts.md); defaults match the pipeline's settings."""

    holdout_share: float = 0.2
    promotion_estimator: str = "dr"
    promotion_margin: float = 0.01
    seed: int = 7
    reward_range: tuple[float, float] | None = None
    promotion_interval: str = "normal"


def _float(raw: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    text = str(raw.get(name, default)).strip().strip('"')
    try:
        value = float(text)
    except ValueError:
        raise HyperparameterError(f"hyperparameter {name}={text!r} is not a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise HyperparameterError(f"hyperparameter {name}={value} must be within [{low}, {high}]")
    return value


def _bounded(raw: Mapping[str, str], name: str, default: float) -> float:
    """A hyperparameter within its `contract.bounds.EVALUATION_BOUNDS` range (an open low end checked by the
    caller, with its own reason)."""
    bound = EVALUATION_BOUNDS[name]
    return _float(raw, name, default, bound.low, bound.high)


def parse_config(raw: Mapping[str, str]) -> EvaluateConfig:
    """Hyperparameters as SageMaker passes them (strings, possibly JSON-quoted)."""
    estimator = str(raw.get("promotion_estimator", "dr")).strip().strip('"').lower()
    if estimator not in ESTIMATORS:
        raise HyperparameterError(f"promotion_estimator={estimator!r} must be one of {', '.join(ESTIMATORS)}")
    share = _bounded(raw, "holdout_share", 0.2)
    if share <= EVALUATION_HOLDOUT_SHARE.low:
        raise HyperparameterError("holdout_share must be above 0: with no holdout there is nothing to evaluate on")
    seed = _bounded(raw, "seed", 7)
    if not seed.is_integer():
        raise HyperparameterError(f"hyperparameter seed={seed} must be an integer")
    interval_kind = str(raw.get("promotion_interval", "normal")).strip().strip('"').lower()
    if interval_kind not in PROMOTION_INTERVALS:
        raise HyperparameterError(
            f"promotion_interval={interval_kind!r} must be one of {', '.join(PROMOTION_INTERVALS)}"
        )
    return EvaluateConfig(
        share,
        estimator,
        _bounded(raw, "promotion_margin", 0.01),
        int(seed),
        _reward_range(raw),
        interval_kind,
    )


def _reward_range(raw: Mapping[str, str]) -> tuple[float, float] | None:
    """Optional `reward_min` / `reward_max` (both or neither); absent, the estimators use [0, 1] widened to the data."""
    given = [name for name in ("reward_min", "reward_max") if name in raw]
    if not given:
        return None
    if len(given) == 1:
        raise HyperparameterError("set both reward_min and reward_max, or neither")
    low = _float(raw, "reward_min", 0.0, -1e12, 1e12)
    high = _float(raw, "reward_max", 1.0, -1e12, 1e12)
    if not low < high:
        raise HyperparameterError(f"reward_min={low} must be below reward_max={high}")
    return low, high


def _has_files(path: Path) -> bool:
    return path.exists() and any(p.is_file() for p in path.rglob("*"))


def _known_actions(candidate: Policy, serving: Policy | None) -> list[Action]:
    if candidate.actions:
        return candidate.actions
    return serving.actions if serving is not None else []


def _logging_model_id(holdout: Holdout) -> str | None:
    ids = Counter(r.model_id for r in holdout.rows if r.model_id)
    return ids.most_common(1)[0][0] if ids else None


def evaluate(
    holdout: Holdout, candidate: Policy, serving: Policy | None, config: EvaluateConfig, read_warnings: list[str]
) -> dict[str, Any]:
    """The whole `evaluation.json`: both policies, their paired difference and the gate's verdict."""
    x = design_matrix([r.context for r in holdout.rows])
    reward_hat = cross_fitted_rewards(x, holdout.logged, len(holdout.vocabulary), seed=config.seed)
    rows = holdout.size
    candidate_terms = policy_terms(distribution_matrix(candidate, holdout, "candidate"), holdout.logged, reward_hat)
    if serving is None:
        serving_terms = logging_policy_terms(holdout.logged)
        serving_info: dict[str, Any] = {"kind": "logging_policy", "model_id": _logging_model_id(holdout)}
    else:
        serving_terms = policy_terms(distribution_matrix(serving, holdout, "serving"), holdout.logged, reward_hat)
        serving_info = {"kind": "model", "model_id": serving.model_id}
    paired = {name: paired_difference(candidate_terms, serving_terms, name) for name in ESTIMATORS}
    # The anytime-valid interval holds under repeated looks but needs more rows for the normal one's power
    # (figures: docs/evaluation.md); until holdouts are pooled across runs the normal interval stays the default.
    differences = {
        name: result.interval if config.promotion_interval == "anytime" else result.normal
        for name, result in paired.items()
    }
    verdict = gate(differences[config.promotion_estimator], config.promotion_estimator, config.promotion_margin)
    return {
        "rows": rows,
        "estimator": config.promotion_estimator,
        "margin": config.promotion_margin,
        "interval": config.promotion_interval,
        "promote": verdict.promote,
        "reason": verdict.reason,
        "policies": {
            "candidate": {
                **policy_block(candidate_terms, rows, read_warnings),
                "model_id": candidate.model_id,
            },
            "serving": {**policy_block(serving_terms, rows, read_warnings), **serving_info},
        },
        "difference": {name: interval.as_dict() for name, interval in differences.items()},
        "gate": {
            "interval": "anytime-valid betting confidence sequence on the per-row paired differences",
            "alpha": 0.05,
            "horizons": list(HORIZONS),
            "bet_cap": BET_CAP,
            "first_event_time": holdout.rows[0].event_time,
            "last_event_time": holdout.rows[-1].event_time,
            "estimators": {name: result.as_dict() for name, result in paired.items()},
        },
        "logged_mean_reward": float(holdout.logged.reward.mean()),
        "actions": holdout.vocabulary,
        "holdout_share": config.holdout_share,
        "seed": config.seed,
        "reward_range": list(holdout.logged.bounds),
    }


def _load(layout: Layout, name: str, actions: list[str], seed: int) -> Policy:
    try:
        return Policy.load(layout.channel(name), actions=actions, seed=seed)
    except ArtifactError as error:
        raise EvaluationError(f"the {name} channel does not hold a loadable model: {error}") from None


def in_arrival_order(rows: list[LoggedRow]) -> tuple[list[LoggedRow], int]:
    """The holdout in the order it was logged (event time, then event id), each event once; and the repeats dropped.

    The confidence sequence is valid at every prefix of the rows in arrival order, so a holdout pooled from
    several runs' joined rows (everything since the serving model went live) is scored as one growing stream:
    each run's look is a later prefix of the same sequence. A row read twice (overlapping windows) counts once.
    """
    seen: set[str] = set()
    unique = []
    for row in rows:
        if row.event_id in seen:
            continue
        seen.add(row.event_id)
        unique.append(row)
    unique.sort(key=lambda r: (r.event_time or "", r.event_id))
    return unique, len(rows) - len(unique)


def run(layout: Layout) -> dict[str, Any]:
    """Read channels and hyperparameters, evaluate, write `evaluation.json`; returns what was written."""
    config = parse_config(layout.hyperparameters())
    if not _has_files(layout.channel(CANDIDATE_CHANNEL)):
        raise EvaluationError(f"the {CANDIDATE_CHANNEL} channel is empty: pass the candidate's model.tar.gz")
    candidate = _load(layout, CANDIDATE_CHANNEL, [], config.seed)
    serving = None
    if _has_files(layout.channel(SERVING_CHANNEL)):
        serving = _load(layout, SERVING_CHANNEL, [a.id for a in candidate.actions], config.seed)
    stats = ReadStats()
    rows = [
        r for r in read_rows(layout.channel(HOLDOUT_CHANNEL), stats) if is_holdout(r.event_id, config.holdout_share)
    ]
    print(
        f"[evaluate] read {stats.rows_read} rows ({stats.rows_skipped} skipped), {len(rows)} in the holdout", flush=True
    )
    rows, duplicates = in_arrival_order(rows)
    try:
        holdout = build_holdout(
            rows,
            _known_actions(candidate, serving) or actions_from_ids(sorted({r.action for r in rows})),
            config.reward_range,
        )
    except EmptyHoldoutError as error:
        if not stats.rows_skipped:
            raise
        raise EmptyHoldoutError(
            f"{error}; the reader skipped {stats.rows_skipped} rows, e.g. {stats.messages[0]}"
        ) from None
    read_warnings = []
    if duplicates:
        read_warnings.append(
            f"{duplicates} holdout rows repeat an event_id already read (overlapping windows in a pooled holdout); "
            "each event counts once"
        )
    if stats.rows_skipped or holdout.skipped:
        read_warnings.append(f"{stats.rows_skipped + len(holdout.skipped)} malformed holdout rows were skipped")
    evaluation = evaluate(holdout, candidate, serving, config, read_warnings)
    layout.model_dir.mkdir(parents=True, exist_ok=True)
    (layout.model_dir / EVALUATION_FILE).write_text(json.dumps(evaluation, indent=2, sort_keys=True))
    for line in metric_lines(evaluation):
        print(line, flush=True)
    print(f"[evaluate] promote={evaluation['promote']}: {evaluation['reason']}", flush=True)
    for policy in (candidate, serving):
        if policy is not None:
            policy.close()
    return evaluation


def main(argv: list[str] | None = None) -> int:
    """Entry point of `evaluate`; exit code 1 with `output/failure` on any error (never a silent promotion)."""
    layout = Layout.from_env()
    try:
        run(layout)
    except (EvaluationError, HyperparametersError) as error:
        return _fail(layout, f"{type(error).__name__}: {error}")
    except Exception as error:  # anything else still leaves SageMaker a reason a person can act on
        return _fail(layout, f"evaluation failed unexpectedly: {type(error).__name__}: {error}")
    return 0


def _fail(layout: Layout, message: str) -> int:
    layout.write_failure(message)
    print(f"[evaluate] FAILED: {message}", file=sys.stderr, flush=True)
    return 1
