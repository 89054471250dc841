"""Reading the evaluator's verdict (`evaluation.json`, docs/contracts.md); the gate itself lives in the evaluator."""

from __future__ import annotations

import io
import json
import math
import tarfile
from typing import Any

from pipeline_common.errors import EvaluationJobFailed
from pipeline_common.lineage import changed_under
from pipeline_common.steps import Drift, Interval, ServingEstimate, Verdict

EVALUATION_FILE = "evaluation.json"


def read_evaluation(archive: bytes) -> dict[str, Any]:
    """`evaluation.json` from the job's `model.tar.gz` (at its root or in a folder)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.rsplit("/", 1)[-1] == EVALUATION_FILE:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        evaluation: dict[str, Any] = json.loads(handle.read())
                        return evaluation
    except (tarfile.TarError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise EvaluationJobFailed(f"cannot read {EVALUATION_FILE} from the evaluation output: {error}") from error
    raise EvaluationJobFailed(f"the evaluation output has no {EVALUATION_FILE}")


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _interval(block: object) -> Interval:
    numbers = _object(block)
    return Interval(_number(numbers.get("value")), _number(numbers.get("ci_low")), _number(numbers.get("ci_high")))


def summarize(evaluation: dict[str, Any]) -> Verdict:
    """The verdict and the numbers behind it, small enough for the execution's history.

    `promote` must be a boolean written by the evaluator; anything else is an error, never a silent promotion.
    """
    promote = evaluation.get("promote")
    if not isinstance(promote, bool):
        raise EvaluationJobFailed(f"evaluation.json has no boolean 'promote' (got {promote!r})")
    estimator = str(evaluation.get("estimator", "dr"))
    policies = _object(evaluation.get("policies"))
    candidate = _object(policies.get("candidate"))
    serving = _object(policies.get("serving"))
    rows = evaluation.get("rows")
    kind, model_id = serving.get("kind"), serving.get("model_id")
    return Verdict(
        promote=promote,
        reason=str(evaluation.get("reason", "")),
        estimator=estimator,
        margin=_number(evaluation.get("margin")),
        rows=rows if isinstance(rows, int) and not isinstance(rows, bool) else None,
        candidate=_interval(candidate.get(estimator)),
        serving=ServingEstimate(
            _interval(serving.get(estimator)),
            kind=str(kind) if kind is not None else None,
            model_id=str(model_id) if model_id is not None else None,
        ),
        difference=_interval(_object(evaluation.get("difference")).get(estimator)),
        candidate_ess=_number(candidate.get("ess")),
        logged_mean_reward=_number(evaluation.get("logged_mean_reward")),
        drift=_drift(evaluation),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _drift(evaluation: dict[str, Any]) -> Drift | None:
    """The evaluator's drift block, trimmed to what the run's output and the registry keep (None unless checked)."""
    block = _object(evaluation.get("drift"))
    if not block.get("checked"):
        return None
    rows = block.get("rows")
    return Drift(
        detected=block.get("detected") is True,
        serving_model_id=_text(block.get("serving_model_id")),
        direction=_text(block.get("direction")),
        rows=rows if isinstance(rows, int) and not isinstance(rows, bool) else None,
        realized_mean=_number(block.get("realized_mean")),
        expected_low=_number(block.get("expected_low")),
        expected_high=_number(block.get("expected_high")),
        change_after=_text(block.get("change_after")),
        detected_at=_text(block.get("detected_at")),
        reason=_text(block.get("reason")),
    )


def predicted_band(serving: dict[str, Any] | None, estimator: str) -> tuple[float, float] | None:
    """The serving model's value interval from the evaluation that promoted it (its registry `scores`), else its
    reference band (`reference_band`: a model that went live without a promoting evaluation, the bootstrap, has
    its own value at the first look that scored it instead); None without either."""
    promoted = _promoting_band(serving, estimator)
    return promoted if promoted is not None else _reference(serving, estimator)


def _promoting_band(serving: dict[str, Any] | None, estimator: str) -> tuple[float, float] | None:
    scores = (serving or {}).get("scores")
    if isinstance(scores, str):
        try:
            scores = json.loads(scores)
        except json.JSONDecodeError:
            return None
    if not isinstance(scores, dict) or scores.get("promote") is not True:
        return None
    block = _interval(_object(_object(scores.get("policies")).get("candidate")).get(estimator))
    return _ordered(block.ci_low, block.ci_high)


def _reference(serving: dict[str, Any] | None, estimator: str) -> tuple[float, float] | None:
    band = _object((serving or {}).get("reference_band"))
    if band.get("estimator") != estimator:
        return None
    return _ordered(_number(band.get("low")), _number(band.get("high")))


def _ordered(low: float | None, high: float | None) -> tuple[float, float] | None:
    return (low, high) if low is not None and high is not None and low <= high else None


def reference_band(verdict: Verdict) -> dict[str, Any] | None:
    """The serving model's own value interval in this evaluation, as a reference band for the drift check (None
    unless a model served and its interval is finite). The first look at a model is on its own early log, so a
    later drop below it is the world changing under it, as with a promoting evaluation's band."""
    serving = verdict.serving
    band = _ordered(serving.interval.ci_low, serving.interval.ci_high)
    if serving.kind != "model" or serving.model_id is None or band is None:
        return None
    return {
        "model_id": serving.model_id,
        "estimator": verdict.estimator,
        "low": band[0],
        "high": band[1],
        "rows": verdict.rows,
    }


def holdout_since(serving: dict[str, Any] | None, drift: dict[str, Any] | None) -> str | None:
    """Where the pooled holdout starts: the serving model's data cutoff, or a later change the detector placed.

    Every holdout row after the serving model's data cutoff was (bar the minutes of its own rollout) logged by it: on
    its own log the serving model's terms have weight 1 and a candidate that moves a little from it has small
    weights, which is what lets the gate read small steps. Older rows, logged by the lineage's earlier models, are
    unbiased too (no model trains on a holdout row) but weigh both policies heavily where they differ from the old
    logger: starting the pool at the lineage's start instead (`data_start`) cost the learning benchmark's `digits`
    scenario 0.10 of reward (docs/evaluation.md, "The pooled holdout"). After a detected change only rows from the
    new world count.
    """
    if not serving:
        return None
    since = serving.get("data_end") if isinstance(serving.get("data_end"), str) else None
    change = (drift or {}).get("change_after")
    if (drift or {}).get("serving_model_id") == serving.get("model_id") and isinstance(change, str):
        since = max(since, change) if since else change
    return since


def _model_id(serving: dict[str, Any] | None) -> str | None:
    model_id = (serving or {}).get("model_id")
    return str(model_id) if model_id is not None else None


def evaluation_inputs(serving: dict[str, Any] | None, drift: dict[str, Any] | None, estimator: str) -> dict[str, str]:
    """The evaluation job's pooled-holdout and drift hyperparameters (absent when unknown).

    A serving model's change is detected once: with one recorded, the band is not passed again. Its realized reward
    stays below the band while it serves, so every later run would detect it anew, move the change point and the
    pool's start to its own window, and restart the new lineage each time (the learning benchmark's `digits`,
    2026-12-03, after a false alarm: five runs in a row, each candidate from scratch and truly 0.46-0.77 worse).
    """
    inputs: dict[str, str] = {}
    since = holdout_since(serving, drift)
    if since:
        inputs["holdout_since"] = since
    band = None if changed_under(drift, _model_id(serving)) else predicted_band(serving, estimator)
    if band is not None:
        inputs["serving_expected_low"] = f"{band[0]:.6g}"
        inputs["serving_expected_high"] = f"{band[1]:.6g}"
    return inputs


def drift_inputs(
    serving: dict[str, Any] | None, estimator: str, margin: float, drift: dict[str, Any] | None = None
) -> dict[str, str]:
    """The training job's drift-check hyperparameters: the serving model, its predicted band and the gate's margin.

    With them the training job detects a change in its own window and restarts on the rows after it in the same
    run (`container/training/adaptation.py`); without a band (bootstrap, or a model promoted before bands) there is
    none.
    """
    band = predicted_band(serving, estimator)
    if serving is None or band is None or changed_under(drift, _model_id(serving)):  # detected once
        return {}
    return {
        "serving_model_id": str(serving["model_id"]),
        "serving_expected_low": f"{band[0]:.6g}",
        "serving_expected_high": f"{band[1]:.6g}",
        "drift_margin": f"{margin:g}",
    }


def wants_challenger(evaluation: dict[str, Any], verdict: Verdict, share: float) -> bool:
    """A rejected candidate serves as a challenger (`challenger_share` of every decision) unless it is confidently
    worse: the upper end of the anytime-valid sequence on its difference (`gate.estimators`, valid at any n with no
    normal approximation) below `-margin` says more rows on its choices cannot change the verdict. The normal
    interval's upper end is the fallback for an evaluation without the sequence; on 80 rows it put a candidate
    truly better by +0.13 at -0.14 [-0.27, -0.01], too sure to judge who may explore.

    The gate rejects a better candidate when the logger rarely played the candidate's choices (a near-greedy or a
    drifted serving model); mixing the candidate in gives those choices a propensity of at least `share` times the
    candidate's own, so the next evaluation can tell (docs/evaluation.md, "The challenger share")."""
    if verdict.promote or share <= 0.0:
        return False
    sequence = _interval(_object(_object(evaluation.get("gate")).get("estimators")).get(verdict.estimator))
    high = sequence.ci_high if sequence.ci_high is not None else verdict.difference.ci_high
    return high is None or high >= -(verdict.margin or 0.0)
