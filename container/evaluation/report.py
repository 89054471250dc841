"""`evaluation.json` (docs/contracts.md), the promotion gate and the `METRIC name=value` lines.

The gate lives here and only here: promote unless the paired difference's lower bound is below `-margin`, so a
candidate is kept out only when the data say it is likely worse by more than the tolerated margin. The bound is an
anytime-valid confidence sequence (`confidence.py`): the gate may look again every run on a pooled holdout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from container.evaluation.estimators import ESTIMATORS, GATE_CONFIDENCE, Interval, PolicyTerms

FEW_ROWS = 200
LOW_ESS_SHARE = 0.1  # an ESS below 10% of the rows always warns
LOW_ESS_ROWS = 50  # below 50 it warns too, but only when the weights also halve the rows (the policies disagree)
LOW_ESS_DISAGREE = 0.5
LOW_PROPENSITY = 0.01
_NUMBER = r"([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|nan|inf))"
POLICY_NAMES = ("candidate", "serving", "difference")


def metric_names() -> list[str]:
    """Every metric the job prints, in the order the pipeline's `MetricDefinitions` list them."""
    names = [f"{policy}_{estimator}" for estimator in ESTIMATORS for policy in POLICY_NAMES]
    names += [f"difference_{estimator}_{bound}" for estimator in ESTIMATORS for bound in ("low", "high")]
    return [*names, "candidate_ess", "serving_ess", "holdout_rows", "promote"]


METRIC_DEFINITIONS: list[dict[str, str]] = [
    {"Name": name, "Regex": rf"METRIC {name}={_NUMBER}"} for name in metric_names()
]


@dataclass(frozen=True)
class Verdict:
    """The gate's answer and the sentence explaining it."""

    promote: bool
    reason: str


INTERVAL_NAMES = {"normal": "normal", "anytime": "anytime-valid"}
"""How the reason names the interval the gate read (`promotion_interval`)."""


def gate(
    difference: Interval,
    estimator: str,
    margin: float,
    *,
    interval: str | None = None,
    confidence: float = GATE_CONFIDENCE,
) -> Verdict:
    """Promote unless `difference.ci_low < -margin` (a NaN bound never promotes). `interval` (`normal` or
    `anytime`) and `confidence` (the lower end's one-sided level) name the bound in the reason."""
    low = difference.ci_low
    kind = f" {INTERVAL_NAMES[interval]}" if interval is not None else ""
    bound = (
        f"95%{kind} CI low" if confidence == GATE_CONFIDENCE else f"one-sided {100 * confidence:g}%{kind} lower bound"
    )
    if not math.isfinite(low):
        return Verdict(False, f"the {estimator} difference has no finite lower bound ({low}); not promoting")
    if low < -margin:
        return Verdict(
            False,
            f"candidate may be worse than serving: {estimator} difference {difference.value:+.4f}, "
            f"{bound} {low:+.4f} < -margin {-margin:+.4f}",
        )
    return Verdict(
        True,
        f"candidate is not worse than serving beyond the margin: {estimator} difference {difference.value:+.4f}, "
        f"{bound} {low:+.4f} >= -margin {-margin:+.4f}",
    )


def low_ess(ess: float, rows: int) -> bool:
    """A real weight problem: ESS under 10% of the rows, or under 50 while the weights also halve the rows.

    An ESS near the row count means the policy agrees with the logger and every row counts: a small holdout of
    such rows is small, not skewed (its width already says so), so the absolute floor of 50 only applies when the
    policies disagree enough to lose half the rows.
    """
    return ess < max(LOW_ESS_SHARE * rows, min(LOW_ESS_ROWS, LOW_ESS_DISAGREE * rows))


def warnings_for(terms: PolicyTerms, rows: int) -> list[str]:
    """Reasons to distrust a policy's numbers: few rows, a low effective sample size, tiny propensities."""
    warnings = []
    if rows < FEW_ROWS:
        warnings.append(f"only {rows} holdout rows: intervals are wide, a small improvement cannot be shown yet")
    if low_ess(terms.ess, rows):
        warnings.append(
            f"effective sample size {terms.ess:.1f} of {rows} rows: the policy rarely agrees with the logged "
            "actions, so IPS/SNIPS are noisy and DR leans on its reward model"
        )
    if terms.min_propensity < LOW_PROPENSITY:
        warnings.append(f"minimum logged propensity {terms.min_propensity:.4g}: a few rows carry large weights")
    low, high = terms.bounds
    if terms.dr_unfloored is not None:
        warnings.append(
            f"DR with the full reward model fell below the reward range ({terms.dr_unfloored:.4g}): a few large-weight "
            "rows fell short of confident predictions; DR is reported with the model floored where weights are large"
        )
    outside = {
        name: value for name in ESTIMATORS if math.isfinite(value := terms.raw_value(name)) and not low <= value <= high
    }
    if outside:
        found = ", ".join(f"{name} {value:.4g}" for name, value in outside.items())
        warnings.append(
            f"estimates outside the reward range [{low:g}, {high:g}] before clipping ({found}): large weights on few "
            "rows dominate; the clipped values rest on little data"
        )
    return warnings


def policy_block(terms: PolicyTerms, rows: int, extra_warnings: list[str] | None = None) -> dict[str, Any]:
    """One policy's block of `evaluation.json`."""
    block: dict[str, Any] = {name: terms.interval(name).as_dict() for name in ESTIMATORS}
    block["ess"] = terms.ess
    block["min_propensity"] = terms.min_propensity
    block["warnings"] = [*warnings_for(terms, rows), *(extra_warnings or [])]
    return block


def metric_lines(evaluation: dict[str, Any]) -> list[str]:
    """`METRIC name=value` lines for the training job's metric definitions."""
    policies = evaluation["policies"]
    values: dict[str, float] = {}
    for estimator in ESTIMATORS:
        for name in ("candidate", "serving"):
            values[f"{name}_{estimator}"] = policies[name][estimator]["value"]
        values[f"difference_{estimator}"] = evaluation["difference"][estimator]["value"]
    for estimator in ESTIMATORS:
        values[f"difference_{estimator}_low"] = evaluation["difference"][estimator]["ci_low"]
        values[f"difference_{estimator}_high"] = evaluation["difference"][estimator]["ci_high"]
    values["candidate_ess"] = policies["candidate"]["ess"]
    values["serving_ess"] = policies["serving"]["ess"]
    values["holdout_rows"] = float(evaluation["rows"])
    values["promote"] = 1.0 if evaluation["promote"] else 0.0
    return [f"METRIC {name}={values[name]:.6g}" for name in metric_names()]
