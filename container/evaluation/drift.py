"""Has the world changed under the serving policy? A CUSUM e-detector on its realized rewards (pure).

Why: the gate compares two policies on the same logged rows, so a change of the world that hurts both equally is
invisible to it; what shows the change is the serving policy's **realized** reward leaving what its evaluation
predicted when it was promoted. Its own logged rows (on-policy: `model_id` is the serving model) are exactly that
reward, one row at a time, bounded by the reward range.

The detector is the CUSUM e-detector of Shin, Ramdas & Rinaldo (2023, "E-detectors: a nonparametric framework for
sequential change detection", arXiv:2203.03532), one per direction. Against a drop below `m` (the predicted lower
bound minus the margin), each row multiplies the statistic by `1 + lam (m - r_t)`, with `lam = BET / (high - m)` so
the factor stays positive for any reward in the range; while the mean reward is at least `m` each factor has
expectation at most 1 (an e-value). The CUSUM restarts at 1 whenever the statistic falls below 1:
`M_t = max(M_{t-1}, 1) * (1 + lam (m - r_t))`, and it alarms when `M_t >= THRESHOLD`. Under no change the average
number of rows before a false alarm is at least `THRESHOLD` (their Theorem); after a drop to mean `mu < m` the
statistic grows by `E log(1 + lam (m - r))` per row. The rise detector is the same with `r_t - m` against the
predicted upper bound plus the margin. The change is placed after the row where the alarming run last restarted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from container.core.logged_rows import LoggedRow, in_arrival_order

BET = 0.5  # share of the largest safe bet: the factor is at least 1 - BET whatever the reward
THRESHOLD = 1000.0  # 1 / alpha: at least 1,000 on-policy rows on average before a false alarm


@dataclass(frozen=True)
class Expected:
    """What the serving policy's evaluation predicted: its value's interval, widened by the gate's margin."""

    low: float
    high: float


@dataclass(frozen=True)
class Alarm:
    """The first row at which one direction's statistic reached the threshold, and where its run began."""

    direction: str
    row: int
    start: int
    log_statistic: float


@dataclass(frozen=True)
class DriftCheck:
    """The detector's answer on one stream of realized rewards."""

    rows: int
    realized_mean: float
    expected: Expected
    alarm: Alarm | None
    log_statistic_down: float
    log_statistic_up: float

    @property
    def detected(self) -> bool:
        return self.alarm is not None


def _cusum(factors: Sequence[float]) -> tuple[float, int | None, int, float]:
    """(largest log statistic, first alarming row, where that run restarted, log statistic at the end)."""
    log_m, start, peak = 0.0, 0, -math.inf
    threshold = math.log(THRESHOLD)
    for t, factor in enumerate(factors):
        if log_m < 0.0:
            log_m, start = 0.0, t
        log_m += math.log(factor)
        peak = max(peak, log_m)
        if log_m >= threshold:
            return peak, t, start, log_m
    return peak, None, start, log_m


def detect(rewards: Sequence[float], expected: Expected, bounds: tuple[float, float]) -> DriftCheck:
    """Run both directions over `rewards` (in logging order) and report the earlier alarm, if any.

    `bounds` is the reward range; a band outside it cannot be left in that direction (no bet is placed).
    """
    low, high = bounds
    if not low < high:
        raise ValueError(f"the reward range [{low}, {high}] is empty")
    values = [min(max(float(r), low), high) for r in rewards]
    down_bet = BET / (high - expected.low) if expected.low < high else 0.0
    up_bet = BET / (expected.high - low) if expected.high > low else 0.0
    down = _cusum([1.0 + down_bet * (expected.low - r) for r in values]) if expected.low > low else None
    up = _cusum([1.0 + up_bet * (r - expected.high) for r in values]) if expected.high < high else None
    alarms = []
    if down is not None and down[1] is not None:
        alarms.append(Alarm("down", down[1], down[2], down[3]))
    if up is not None and up[1] is not None:
        alarms.append(Alarm("up", up[1], up[2], up[3]))
    alarm = min(alarms, key=lambda a: a.row) if alarms else None
    return DriftCheck(
        rows=len(values),
        realized_mean=sum(values) / len(values) if values else math.nan,
        expected=expected,
        alarm=alarm,
        log_statistic_down=down[0] if down is not None and values else 0.0,
        log_statistic_up=up[0] if up is not None and values else 0.0,
    )


ServingProbability = Callable[[LoggedRow], float | None]
"""The serving model's own probability of a row's chosen action (None when it cannot say for that row)."""


@dataclass(frozen=True)
class RealizedRewards:
    """The serving model's realized reward, row by row in logging order, and the range those values lie in."""

    rows: list[LoggedRow]
    values: list[float]
    bounds: tuple[float, float]
    reweighted: int  # rows a challenger was mixed into, scored as the serving model alone


def serving_rewards(
    rows: list[LoggedRow],
    model_id: str | None,
    bounds: tuple[float, float],
    serving_probability: ServingProbability | None = None,
) -> RealizedRewards:
    """The serving model's realized rewards (training side too: a realized reward is not learned), in logging order.

    Its own rows count as logged. A row a challenger's share was mixed into was not decided by the serving model
    alone, so its reward is reweighted to it: `low + w (r - low)` with `w = pi_serving(a|x) / mu(a|x)`, unbiased for
    the serving model's own value and bounded (`w <= 1 / (1 - challenger_share)`), so the detector keeps watching
    while every decision carries a challenger. The values' range grows by the largest weight; without
    `serving_probability` such rows are left out."""
    low, high = bounds
    if not model_id:
        return RealizedRewards([], [], bounds, 0)
    kept, values, largest, reweighted = [], [], 1.0, 0
    ordered, _ = in_arrival_order([r for r in rows if r.model_id == model_id])
    for row in ordered:
        if row.challenger_model_id is None:
            kept.append(row)
            values.append(row.reward)
            continue
        probability = serving_probability(row) if serving_probability is not None else None
        if probability is None:
            continue
        weight = probability / row.action_prob
        kept.append(row)
        values.append(low + weight * (min(max(row.reward, low), high) - low))
        largest, reweighted = max(largest, weight), reweighted + 1
    return RealizedRewards(kept, values, (low, low + largest * (high - low)), reweighted)


def change_point(own: list[LoggedRow], alarm: Alarm) -> str | None:
    """The event time after which the alarming run began (the last row before it; the first row if it began there)."""
    return own[alarm.start - 1].event_time if alarm.start > 0 else own[alarm.start].event_time
