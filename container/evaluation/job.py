"""`python -m container evaluate`: score the candidate and the serving policy on the holdout, decide promotion.

Runs as a SageMaker training job (`ContainerEntrypoint ["evaluate"]`): channels `holdout`, `candidate` and
optional `serving`; writes `model/evaluation.json`, prints `METRIC` lines, and on any error writes
`output/failure` with an actionable message and exits 1 (a failed evaluation never promotes).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from container.core import logged_rows
from container.core.artifacts import ArtifactError
from container.core.challenger import chosen_probability
from container.core.featurizer import Action, actions_from_ids
from container.core.layout import HyperparametersError, Layout, run_job
from container.core.logged_rows import LoggedRow
from container.core.policy import UNIFORM_MODEL_ID, Policy
from container.core.split import is_holdout
from container.evaluation.confidence import BET_CAP, HORIZONS
from container.evaluation.drift import THRESHOLD, DriftCheck, Expected, change_point, detect, serving_rewards
from container.evaluation.errors import EmptyHoldoutError, EvaluationError, HyperparameterError
from container.evaluation.estimators import logging_policy_terms, paired_difference, policy_terms
from container.evaluation.holdout import Holdout, build_holdout, distribution_matrix, first_new_action
from container.evaluation.report import gate, metric_lines, policy_block
from container.evaluation.reward_model import Array, Supplement, cross_fitted_rewards, design_matrix
from contract.bounds import ESTIMATORS, EVALUATION_BOUNDS, EVALUATION_HOLDOUT_SHARE, PROMOTION_INTERVALS
from contract.timefmt import iso

HOLDOUT_CHANNEL = "holdout"
CANDIDATE_CHANNEL = "candidate"
SERVING_CHANNEL = "serving"
EVALUATION_FILE = "evaluation.json"


MAX_POOLED_ROWS = 20_000
"""The gate scores at most this many holdout rows, the latest: a lineage's pool grows with every run, and two
policies' distributions on every row are the job's main cost."""

MIN_ROWS_AFTER_CHANGE = 30
"""After a detected change the gate reads only the holdout rows logged since, when there are at least this many."""


@dataclass(frozen=True)
class EvaluateConfig:
    """The job's hyperparameters (docs/contracts.md); defaults match the pipeline's settings."""

    holdout_share: float = 0.2
    promotion_estimator: str = "dr"
    promotion_margin: float = 0.01
    seed: int = 7
    reward_range: tuple[float, float] | None = None
    promotion_interval: str = "normal"
    holdout_since: datetime | None = None
    serving_expected: Expected | None = None
    promotion_confidence: float = 0.95


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
    confidence = _bounded(raw, "promotion_confidence", 0.95)
    if confidence <= EVALUATION_BOUNDS["promotion_confidence"].low:
        raise HyperparameterError(f"promotion_confidence={confidence} must be above 0.5: a lower bound at 0.5 is none")
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
        _since(raw),
        _expected(raw),
        confidence,
    )


def _pair(raw: Mapping[str, str], low_name: str, high_name: str) -> tuple[float, float] | None:
    """Two hyperparameters that come together (both or neither), each within its `EVALUATION_BOUNDS` range."""
    given = [name for name in (low_name, high_name) if name in raw]
    if not given:
        return None
    if len(given) == 1:
        raise HyperparameterError(f"set both {low_name} and {high_name}, or neither")
    return _bounded(raw, low_name, 0.0), _bounded(raw, high_name, 1.0)


def _expected(raw: Mapping[str, str]) -> Expected | None:
    """Optional `serving_expected_low` / `_high`: the serving model's predicted value band."""
    pair = _pair(raw, "serving_expected_low", "serving_expected_high")
    if pair is None:
        return None
    if pair[0] > pair[1]:
        raise HyperparameterError(f"serving_expected_low={pair[0]} must not exceed serving_expected_high={pair[1]}")
    return Expected(*pair)


def _since(raw: Mapping[str, str]) -> datetime | None:
    """Optional `holdout_since`: only rows logged after it are scored (the pooled holdout's start)."""
    text = str(raw.get("holdout_since", "")).strip().strip('"')
    if not text:
        return None
    try:
        return logged_rows.moment(text)
    except ValueError:
        raise HyperparameterError(
            f"holdout_since={text!r} is not an ISO-8601 time such as 2026-11-23T00:00:00Z"
        ) from None


def _reward_range(raw: Mapping[str, str]) -> tuple[float, float] | None:
    """Optional `reward_min` / `reward_max` (both or neither); absent, the estimators use [0, 1] widened to the data."""
    pair = _pair(raw, "reward_min", "reward_max")
    if pair is not None and not pair[0] < pair[1]:
        raise HyperparameterError(f"reward_min={pair[0]} must be below reward_max={pair[1]}")
    return pair


def _has_files(path: Path) -> bool:
    return path.exists() and any(p.is_file() for p in path.rglob("*"))


def _known_actions(candidate: Policy, serving: Policy | None) -> list[Action]:
    if candidate.actions:
        return candidate.actions
    return serving.actions if serving is not None else []


def _logging_model_id(holdout: Holdout) -> str | None:
    ids = Counter(r.model_id for r in holdout.rows if r.model_id)
    return ids.most_common(1)[0][0] if ids else None


def reward_model_rows(holdout: Holdout, training: list[LoggedRow]) -> tuple[Array, Supplement]:
    """The holdout's design and the supplement of training-split rows whose chosen action the holdout knows.

    Rows of the training split are independent of every holdout row, so the reward model may learn from them
    (`reward_model.Supplement`); both designs come from one matrix so their columns agree.
    """
    columns = {action: code for code, action in enumerate(holdout.vocabulary)}
    usable = [r for r in training if r.action in columns]
    x = design_matrix([r.context for r in holdout.rows] + [r.context for r in usable])
    supplement = Supplement(
        x[holdout.size :],
        np.array([columns[r.action] for r in usable], dtype=np.int64),
        np.array([r.reward for r in usable], dtype=float),
    )
    return x[: holdout.size], supplement


def evaluate(
    holdout: Holdout,
    candidate: Policy,
    serving: Policy | None,
    config: EvaluateConfig,
    read_warnings: list[str],
    training: list[LoggedRow] | None = None,
) -> dict[str, Any]:
    """The whole `evaluation.json`: both policies, their paired difference and the gate's verdict.

    `training`: the training-split rows of the holdout's period, which the reward model also learns from.
    """
    x, supplement = reward_model_rows(holdout, training or [])
    reward_hat = cross_fitted_rewards(
        x, holdout.logged, len(holdout.vocabulary), seed=config.seed, supplement=supplement
    )
    rows = holdout.size
    candidate_terms = policy_terms(distribution_matrix(candidate, holdout, "candidate"), holdout.logged, reward_hat)
    if serving is None and any(r.challenger_model_id for r in holdout.rows):
        # a challenger's share was mixed into the uniform bootstrap: the log is not the serving policy's own
        logger_id = _logging_model_id(holdout) or UNIFORM_MODEL_ID
        serving = Policy.uniform([a.id for a in candidate.actions], model_id=logger_id)
    if serving is None:
        serving_terms = logging_policy_terms(holdout.logged)
        serving_info: dict[str, Any] = {"kind": "logging_policy", "model_id": _logging_model_id(holdout)}
    else:
        serving_terms = policy_terms(distribution_matrix(serving, holdout, "serving"), holdout.logged, reward_hat)
        serving_info = {"kind": "model", "model_id": serving.model_id}
    paired = {
        name: paired_difference(candidate_terms, serving_terms, name, config.promotion_confidence)
        for name in ESTIMATORS
    }
    # The anytime-valid interval holds under repeated looks but needs more rows for the normal one's power
    # (figures: docs/evaluation.md); until holdouts are pooled across runs the normal interval stays the default.
    differences = {
        name: result.interval if config.promotion_interval == "anytime" else result.normal
        for name, result in paired.items()
    }
    verdict = gate(
        differences[config.promotion_estimator],
        config.promotion_estimator,
        config.promotion_margin,
        interval=config.promotion_interval,
        confidence=config.promotion_confidence,
    )
    return {
        "rows": rows,
        "estimator": config.promotion_estimator,
        "margin": config.promotion_margin,
        "interval": config.promotion_interval,
        "confidence": config.promotion_confidence,
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
        "reward_model_rows": {"holdout": holdout.size, "training": len(supplement.reward)},
        "actions": holdout.vocabulary,
        "holdout_share": config.holdout_share,
        "holdout_since": config.holdout_since.isoformat() if config.holdout_since else None,
        "seed": config.seed,
        "reward_range": list(holdout.logged.bounds),
    }


def _load(layout: Layout, name: str, actions: list[str], seed: int) -> Policy:
    try:
        return Policy.load(layout.channel(name), actions=actions, seed=seed)
    except ArtifactError as error:
        raise EvaluationError(f"the {name} channel does not hold a loadable model: {error}") from None


def drift_block(
    rows: list[LoggedRow], serving: Policy | None, config: EvaluateConfig, bounds: tuple[float, float]
) -> dict[str, Any]:
    """`evaluation.json`'s `drift`: did the serving model's realized reward leave its predicted band?

    Checked only when the pipeline passes the band (`serving_expected_low/high`, from the evaluation that promoted
    the serving model) and the serving policy is a model with logged rows of its own.
    """
    model_id = serving.model_id if serving is not None else None
    if config.serving_expected is None:
        own = sum(1 for r in rows if model_id and r.model_id == model_id)
        return {"checked": False, "detected": False, "reason": "no predicted band for the serving model", "rows": own}
    realized = serving_rewards(rows, model_id, bounds, chosen_probability(serving) if serving is not None else None)
    if not realized.values:
        return {"checked": False, "detected": False, "reason": "no on-policy rows", "rows": 0}
    band = Expected(
        config.serving_expected.low - config.promotion_margin, config.serving_expected.high + config.promotion_margin
    )
    check = detect(realized.values, band, realized.bounds)
    return {"checked": True, **_describe(check, realized.rows, model_id), "reweighted_rows": realized.reweighted}


def _describe(check: DriftCheck, own: list[LoggedRow], model_id: str | None) -> dict[str, Any]:
    alarm = check.alarm
    block: dict[str, Any] = {
        "detected": check.detected,
        "serving_model_id": model_id,
        "rows": check.rows,
        "realized_mean": check.realized_mean,
        "expected_low": check.expected.low,
        "expected_high": check.expected.high,
        "log_statistic_down": check.log_statistic_down,
        "log_statistic_up": check.log_statistic_up,
        "threshold": THRESHOLD,
        "direction": alarm.direction if alarm else None,
        "change_after": None,
        "detected_at": None,
    }
    if alarm is None:
        block["reason"] = (
            f"realized reward {check.realized_mean:.4f} over {check.rows} on-policy rows is consistent with the "
            f"predicted band [{check.expected.low:.4f}, {check.expected.high:.4f}]"
        )
        return block
    since_change = [r.reward for r in own[alarm.start : alarm.row + 1]]
    block["change_after"] = change_point(own, alarm)
    block["detected_at"] = own[alarm.row].event_time
    block["rows_since_change"] = len(since_change)
    block["realized_mean_since_change"] = sum(since_change) / len(since_change)
    word = "fell below" if alarm.direction == "down" else "rose above"
    block["reason"] = (
        f"serving model {model_id}'s realized reward {word} its predicted band "
        f"[{check.expected.low:.4f}, {check.expected.high:.4f}]: mean {block['realized_mean_since_change']:.4f} over "
        f"the {len(since_change)} on-policy rows after {block['change_after']} (CUSUM e-detector reached "
        f"{THRESHOLD:g} at {block['detected_at']})"
    )
    return block


def run(layout: Layout) -> dict[str, Any]:
    """Read channels and hyperparameters, evaluate, write `evaluation.json`; returns what was written."""
    config = parse_config(layout.hyperparameters())
    if not _has_files(layout.channel(CANDIDATE_CHANNEL)):
        raise EvaluationError(f"the {CANDIDATE_CHANNEL} channel is empty: pass the candidate's model.tar.gz")
    candidate = _load(layout, CANDIDATE_CHANNEL, [], config.seed)
    serving = None
    if _has_files(layout.channel(SERVING_CHANNEL)):
        serving = _load(layout, SERVING_CHANNEL, [a.id for a in candidate.actions], config.seed)
    stats = logged_rows.ReadStats()
    logged, before = logged_rows.logged_after(
        list(logged_rows.read_rows(layout.channel(HOLDOUT_CHANNEL), stats)), config.holdout_since
    )
    rows = [r for r in logged if is_holdout(r.event_id, config.holdout_share)]
    print(
        f"[evaluate] read {stats.rows_read} rows ({stats.rows_skipped} skipped), {len(rows)} in the holdout", flush=True
    )
    if config.holdout_since is not None:
        print(
            f"[evaluate] pooled holdout since {config.holdout_since.isoformat()}: {len(rows)} rows kept, "
            f"{before} logged earlier left out",
            flush=True,
        )
    drift = drift_block(logged, serving, config, config.reward_range or logged_rows.reward_bounds(logged))
    since_change = None
    period: datetime | None = None  # a later start of the scored period than `holdout_since`, for both splits
    if drift["detected"]:
        print(f"[evaluate] DRIFT: {drift['reason']}", flush=True)
        after, _ = logged_rows.logged_after(rows, logged_rows.moment(drift["change_after"]))
        if len(after) >= MIN_ROWS_AFTER_CHANGE:  # the gate judges both policies on the world as it is now
            rows, since_change = after, drift["change_after"]
            period = logged_rows.moment(since_change)
            print(f"[evaluate] the gate reads the {len(rows)} holdout rows logged after the change", flush=True)
    offered = first_new_action(logged, {a.id for a in serving.actions}) if serving is not None else None
    if offered is not None and since_change is None:
        start = logged_rows.moment(offered[0]) - timedelta(milliseconds=1)
        after, _ = logged_rows.logged_after(rows, start)
        if len(after) >= MIN_ROWS_AFTER_CHANGE:  # judged on the decision problem as it is now, new actions in it
            rows, since_change, period = after, iso(start), start
            print(
                f"[evaluate] actions new to the serving model ({', '.join(offered[1])}) first offered at "
                f"{offered[0]}: the gate reads the {len(rows)} holdout rows from then on",
                flush=True,
            )
    rows, duplicates = logged_rows.in_arrival_order(rows)
    if len(rows) > MAX_POOLED_ROWS:
        rows = rows[-MAX_POOLED_ROWS:]
        first = rows[0].event_time
        with contextlib.suppress(ValueError):  # an unplaceable first row: the period stays where it was
            period = logged_rows.moment(first) if first is not None else period
        print(f"[evaluate] the gate scores the latest {MAX_POOLED_ROWS} holdout rows, from {first}", flush=True)
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
    # The reward model learns from the training split of the period the gate scores.
    training, _ = logged_rows.logged_after(
        [r for r in logged if not is_holdout(r.event_id, config.holdout_share)], period
    )
    training, _ = logged_rows.in_arrival_order(training)
    print(f"[evaluate] the reward model also learns from {len(training)} training-split rows of the period", flush=True)
    evaluation = evaluate(holdout, candidate, serving, config, read_warnings, training)
    evaluation["drift"] = drift
    evaluation["new_actions"] = {"actions": offered[1], "first_offered": offered[0]} if offered else None
    if since_change is not None:
        evaluation["holdout_since"] = since_change
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
    return run_job(
        "evaluate", "evaluation", run, (EvaluationError, HyperparametersError), lambda e: f"{type(e).__name__}: {e}"
    )
