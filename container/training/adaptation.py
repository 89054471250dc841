"""How the training job adapts to a changed world (pure): detect the change in its own window, keep the rows after it.

Why here as well as in the evaluator: the evaluation comes after training in a run, so a change it detects only
reaches the learner one run later. The pipeline passes the training job what the evaluator gets (the serving
model's id and predicted band, `serving_expected_low/high`, and the gate's margin); the job runs the same CUSUM
e-detector (`container.evaluation.drift`) on the serving model's own rows of its window, and on an alarm it learns
only the rows logged after the change, from scratch, with more exploration (`exploration_share`, spread over the
actions as a per-action floor). The pipeline's own answer to a change the evaluator recorded (`training_since`,
`exploration_share`) arrives through the same hyperparameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from container.core.config import ConfigError
from container.core.logged_rows import LoggedRow, logged_after, moment
from container.evaluation.drift import Expected, ServingProbability, change_point, detect, serving_rewards
from contract.bounds import TRAINING_BOUNDS
from contract.settings import DRIFT_EXPLORATION_SHARE


@dataclass(frozen=True)
class Change:
    """A change this job detected in its window: where it was placed and when the detector fired."""

    change_after: str
    detected_at: str | None
    rows_after: int


def _number(raw: Mapping[str, str], name: str) -> float | None:
    """An optional drift hyperparameter within its `contract.bounds.TRAINING_BOUNDS` range (None when absent)."""
    bound = TRAINING_BOUNDS[name]
    text = str(raw.get(name, "")).strip().strip('"')
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(name, f"is {text!r}, not a number") from None
    if value not in bound:
        raise ConfigError(name, f"is {value:g}; it must be {bound.text()}")
    return value


def detect_change(
    raw: Mapping[str, str],
    rows: list[LoggedRow],
    bounds: tuple[float, float],
    serving_probability: ServingProbability | None = None,
) -> Change | None:
    """The change the serving model's realized rewards show against its predicted band (None without band or
    alarm); rows a challenger was mixed into count, reweighted to the serving model, when `serving_probability`
    (from the `serving_model` channel) says what it would have played."""
    low = _number(raw, "serving_expected_low")
    high = _number(raw, "serving_expected_high")
    serving = str(raw.get("serving_model_id", "")).strip()
    if low is None or high is None or not serving:
        return None
    margin = _number(raw, "drift_margin") or 0.0
    realized = serving_rewards(rows, serving, bounds, serving_probability)
    own, rewards = realized.rows, realized.values
    if not rewards:
        return None
    check = detect(rewards, Expected(low - margin, high + margin), realized.bounds)
    if check.alarm is None:
        return None
    after = change_point(own, check.alarm)
    if after is None:
        return None
    kept, _ = logged_after(rows, moment(after))
    return Change(after, own[check.alarm.row].event_time, len(kept))


def exploration_floor(raw: Mapping[str, str], configured: float, actions: int, change: Change | None) -> float:
    """The per-action floor the model serves with: the configured one, raised to `exploration_share / actions` when
    the pipeline asks for more exploration or this job detected a change."""
    share = _number(raw, "exploration_share") or 0.0
    if change is not None:
        share = max(share, DRIFT_EXPLORATION_SHARE)
    if share <= 0.0 or actions <= 0:
        return configured
    return max(configured, share / actions)
