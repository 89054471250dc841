"""The one featurizer: a context and its candidate actions as a VW `--cb_explore_adf` multiline example.

Train, evaluate and serve all call it, so a policy sees the same features when it learns and when it decides.
Shared features go to namespace `s`, per-action features to namespace `a` (so `-q sa` crosses them).
Numeric context features can be quantile-binned with edges fitted at training time: the bin is emitted as a
categorical feature next to the raw value, which lets a linear policy learn non-monotone effects.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SHARED_NAMESPACE = "s"
ACTION_NAMESPACE = "a"
STATE_VERSION = 1
FeatureValue = float | int | str | bool
_SPECIAL = re.compile(r"[\s|:]")


@dataclass(frozen=True)
class Action:
    """A candidate action: its id and optional action-dependent features."""

    id: str
    features: Mapping[str, FeatureValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "features": dict(self.features)}


@dataclass(frozen=True)
class Label:
    """What was logged for the chosen action: its index among the candidates, its cost and its propensity."""

    index: int
    cost: float
    probability: float


def sanitize(text: str) -> str:
    """VW reads `|`, `:` and whitespace as syntax; replace them so any name or value is one token."""
    return _SPECIAL.sub("_", text) or "_"


_OBSERVATION_NAMES = tuple(f"x{i}" for i in range(1024))


def context_from_observation(observation: Sequence[float]) -> dict[str, float]:
    """The workshop's `observation` vector as named features `x0..xn`."""
    if len(observation) <= len(_OBSERVATION_NAMES):
        return dict(zip(_OBSERVATION_NAMES, observation, strict=False))
    return {f"x{i}": value for i, value in enumerate(observation)}


def actions_from_ids(ids: Iterable[str]) -> list[Action]:
    """Featureless candidates: the action's id is its only feature."""
    return [Action(str(i)) for i in ids]


def _number(value: float) -> str:
    if type(value) is int or float(value).is_integer():
        return str(int(value))
    return f"{value:.9g}"


class Featurizer:
    """Turns contexts and candidates into VW text; optional quantile bins per numeric context feature."""

    def __init__(self, bins: Mapping[str, Sequence[float]] | None = None, keep_raw: bool = True) -> None:
        self._bins = {name: [float(e) for e in edges] for name, edges in (bins or {}).items()}
        self._keep_raw = keep_raw
        self._names: dict[str, str] = {}

    # -- fitting and persistence -------------------------------------------------------------------------------

    @classmethod
    def fit(cls, contexts: Iterable[Mapping[str, Any]], quantile_bins: int, keep_raw: bool = True) -> Featurizer:
        """Fit bin edges on training contexts; features with fewer distinct values than bins stay raw only."""
        if quantile_bins < 2:
            return cls(keep_raw=keep_raw)
        values: dict[str, list[float]] = {}
        for context in contexts:
            for name, value in context.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    values.setdefault(name, []).append(float(value))
        bins: dict[str, list[float]] = {}
        for name, column in values.items():
            data = np.asarray(column)
            if len(np.unique(data)) < 2:
                continue
            with np.errstate(over="ignore", invalid="ignore"):  # a span near 2e308 interpolates to inf: skipped
                quantiles = np.quantile(data, np.linspace(0.0, 1.0, quantile_bins + 1)[1:-1])
            edges = sorted({float(q) for q in quantiles if math.isfinite(q)})
            if edges:
                bins[name] = edges
        return cls(bins, keep_raw=keep_raw)

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state stored in the model's metadata."""
        return {
            "version": STATE_VERSION,
            "keep_raw": self._keep_raw,
            "bins": self._bins,
            "namespaces": {"shared": SHARED_NAMESPACE, "action": ACTION_NAMESPACE},
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> Featurizer:
        """Rebuild the featurizer a model was trained with (missing state: raw features only)."""
        if not state:
            return cls()
        return cls(state.get("bins") or {}, keep_raw=bool(state.get("keep_raw", True)))

    @property
    def bins(self) -> dict[str, list[float]]:
        return self._bins

    # -- text --------------------------------------------------------------------------------------------------

    def _name(self, name: str) -> str:
        cached = self._names.get(name)
        if cached is None:
            cached = sanitize(name)
            if len(self._names) < 100_000:
                self._names[name] = cached
        return cached

    def _features(self, features: Mapping[str, Any], binned: bool) -> str:
        # On the request path: dispatch on exact types first (bool is not a number here), then fall back.
        parts: list[str] = []
        append = parts.append
        bins = self._bins if binned else {}
        keep_raw = self._keep_raw
        for raw_name, value in features.items():
            name = self._names.get(raw_name) or self._name(raw_name)
            kind = type(value)
            if kind is bool:
                append(f"{name}={'true' if value else 'false'}")
            elif kind is int or kind is float or (isinstance(value, (int, float)) and kind is not bool):
                if value != value or value in (math.inf, -math.inf):
                    continue
                edges = bins.get(raw_name)
                if edges is not None:
                    append(f"{name}_bin={bisect_right(edges, value)}")
                    if keep_raw:
                        append(f"{name}:{_number(value)}")
                else:
                    append(f"{name}:{_number(value)}")
            else:
                append(f"{name}={sanitize(str(value))}")
        return " ".join(parts)

    def shared_line(self, context: Mapping[str, Any]) -> str:
        return f"shared |{SHARED_NAMESPACE} {self._features(context, binned=True)}"

    def action_line(self, action: Action) -> str:
        extra = self._features(action.features, binned=False) if action.features else ""
        line = f"|{ACTION_NAMESPACE} id={sanitize(action.id)}"
        return f"{line} {extra}" if extra else line

    def example(self, context: Mapping[str, Any], actions: Sequence[Action], label: Label | None = None) -> list[str]:
        """One multiline example: the shared line, then one line per candidate (labelled when training)."""
        lines = [self.shared_line(context)]
        for index, action in enumerate(actions):
            line = self.action_line(action)
            if label is not None and index == label.index:
                line = f"{index}:{_number(label.cost)}:{label.probability:.9g} {line}"
            lines.append(line)
        return lines
