"""The serving policy: a VW `--cb_explore_adf` model (or uniform random) that returns a distribution and samples it.

One VW workspace is not thread-safe, so predictions are serialised with a lock; sampling uses a per-process RNG.

Actions the model has never seen (not in its metadata's `actions`) share `new_action_share` of the probability and
the model's distribution over the known candidates gets the rest: VW would give an unseen action, whose weights
are all zero and whose predicted cost is therefore the lowest, nearly all of it. Every candidate then gets at least
`exploration_floor`. Both settings come with the model (`metadata.json` `hyperparameters`), so the evaluator scores
exactly the distribution the endpoint serves and logs.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pylibvw
import vowpalwabbit

from container.core.artifacts import MODEL_FILE, ArtifactError, read_metadata, resolve_model_dir
from container.core.errors import ContainerError
from container.core.featurizer import Action, Featurizer, actions_from_ids
from contract.settings import Exploration

UNIFORM_MODEL_ID = "uniform-random"
DEFAULT_NEW_ACTION_SHARE = Exploration().new_action_share
"""For a model saved without its settings: the contract's default (one place, `contract.settings`)."""
DEFAULT_EXPLORATION_FLOOR = Exploration().floor


class NoActionsError(ContainerError, ValueError):
    """The request named no candidates and the policy knows none to fall back on."""


@dataclass(frozen=True)
class Decision:
    """One decision: the chosen candidate, its propensity and the whole distribution it was drawn from."""

    action_index: int
    action: str
    action_prob: float
    probabilities: list[float]


def _normalised(probabilities: Sequence[float], size: int) -> list[float]:
    """VW's PMF in candidate order, guarded against rounding and against a malformed answer."""
    values = [max(0.0, float(p)) for p in probabilities]
    total = sum(values)
    if len(values) != size or total <= 0.0:
        return [1.0 / size] * size
    return [p / total for p in values]


def with_new_actions(known: Sequence[float], is_new: Sequence[bool], share: float) -> list[float]:
    """The served distribution: new candidates split `share` equally, known ones `1 - share` as the model says.

    `known` is the model's distribution over the known candidates, in their order; without a known or a new
    candidate there is nothing to split and the one group takes everything."""
    new_count = sum(is_new)
    if new_count == 0:
        return list(known)
    if new_count == len(is_new):
        return [1.0 / new_count] * new_count
    scale = 1.0 - share
    model = iter(known)
    return [share / new_count if new else scale * next(model) for new in is_new]


def with_floor(probabilities: Sequence[float], floor: float) -> list[float]:
    """Mix with uniform so every candidate has at least `floor` (uniform when the floor cannot hold for all)."""
    size = len(probabilities)
    if floor <= 0.0 or size == 0:
        return list(probabilities)
    if floor * size >= 1.0:
        return [1.0 / size] * size
    keep = 1.0 - floor * size
    return [keep * p + floor for p in probabilities]


def sample(candidates: Sequence[Action], probabilities: list[float], draw: float) -> Decision:
    """The candidate at `draw` (uniform in [0, 1)) on the cumulative distribution, never a zero-probability one."""
    index = len(probabilities) - 1
    cumulative = 0.0
    for i, p in enumerate(probabilities):
        cumulative += p
        if draw < cumulative:
            index = i
            break
    while probabilities[index] <= 0.0:  # rounding at the tail must never pick a zero-probability action
        index -= 1
    return Decision(index, candidates[index].id, probabilities[index], probabilities)


class ServingPolicy(Protocol):
    """What the endpoint serves: a `Policy`, or a serving model with a challenger's share (`challenger.py`)."""

    model_id: str
    challenger_model_id: str | None
    actions: list[Action]

    @property
    def is_uniform(self) -> bool: ...

    def candidates(self, actions: Sequence[Action] | None) -> list[Action]: ...

    def distribution(self, context: Mapping[str, Any], actions: Sequence[Action] | None = None) -> list[float]: ...

    def decide(self, context: Mapping[str, Any], actions: Sequence[Action] | None = None) -> Decision: ...

    def probe(self) -> bool: ...

    def close(self) -> None: ...


def _predict(workspace: vowpalwabbit.Workspace, text: str) -> list[float]:
    """VW's PMF for one multiline example, through pylibvw directly.

    `Workspace.predict` wraps every line in a Python `Example` object, which costs ~5x the prediction itself.
    This is the same sequence of calls without the wrappers (pinned vowpalwabbit 9.11; a test compares both)."""
    examples = workspace._parse(text)
    try:
        pylibvw.vw.predict_multi(workspace, examples)
        return examples[0].get_action_scores()
    finally:
        pylibvw.vw._finish_example_multi_ex(workspace, examples)


def _share(explicit: float | None, settings: Mapping[str, Any], name: str, default: float) -> float:
    """A probability setting: given, else the model's hyperparameter, else the default; must lie in [0, 1)."""
    raw = explicit if explicit is not None else settings.get(name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ArtifactError(f"metadata hyperparameter {name} is {raw!r}, not a number") from None
    if not 0.0 <= value < 1.0:
        raise ArtifactError(f"metadata hyperparameter {name} is {value:g}; it must be in [0, 1)")
    return value


class Policy:
    """A loaded policy; `distribution` for evaluation, `decide` for serving."""

    challenger_model_id: str | None = None  # a model decides alone

    def __init__(
        self,
        workspace: vowpalwabbit.Workspace | None = None,
        featurizer: Featurizer | None = None,
        actions: Sequence[str] = (),
        model_id: str = UNIFORM_MODEL_ID,
        metadata: Mapping[str, Any] | None = None,
        seed: int | None = None,
        new_action_share: float | None = None,
        exploration_floor: float | None = None,
    ) -> None:
        self._workspace = workspace
        self.featurizer = featurizer or Featurizer()
        self.actions: list[Action] = actions_from_ids(actions)
        self._known_action_lines = "\n".join(self.featurizer.action_line(a) for a in self.actions)
        self.model_id = model_id
        self.metadata: dict[str, Any] = dict(metadata or {})
        stored = self.metadata.get("hyperparameters")
        settings = stored if isinstance(stored, dict) else {}
        self.new_action_share = _share(new_action_share, settings, "new_action_share", DEFAULT_NEW_ACTION_SHARE)
        self.exploration_floor = _share(exploration_floor, settings, "exploration_floor", DEFAULT_EXPLORATION_FLOOR)
        self._known_ids = frozenset(a.id for a in self.actions)
        self._lock = threading.Lock()
        self._rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(8), "big"))

    @classmethod
    def uniform(cls, actions: Sequence[str] = (), model_id: str = UNIFORM_MODEL_ID, seed: int | None = None) -> Policy:
        """Uniform random over the candidates: the first policy, before any reward has been seen."""
        return cls(actions=actions, model_id=model_id, seed=seed)

    @classmethod
    def load(cls, path: str | Path, actions: Sequence[str] = (), seed: int | None = None) -> Policy:
        """Load a model directory or `model.tar.gz`; uniform random when `path` holds no model."""
        model_dir = resolve_model_dir(Path(path))
        if model_dir is None:
            return cls.uniform(actions, seed=seed)
        metadata = read_metadata(model_dir)
        known = [str(a) for a in metadata.get("actions") or actions]
        model_id = str(metadata.get("model_id") or model_dir.name)
        model_file = model_dir / MODEL_FILE
        if not model_file.exists():
            return cls(None, Featurizer.from_state(metadata.get("featurizer")), known, model_id, metadata, seed)
        try:
            workspace = vowpalwabbit.Workspace(f"--quiet -t -i {model_file}")
        except Exception as error:  # VW raises its own error types from C++; name the file either way
            raise ArtifactError(f"{model_file} is not a loadable VW model: {error}") from None
        return cls(workspace, Featurizer.from_state(metadata.get("featurizer")), known, model_id, metadata, seed)

    @property
    def is_uniform(self) -> bool:
        return self._workspace is None

    def candidates(self, actions: Sequence[Action] | None) -> list[Action]:
        """The request's candidates, or the policy's known action set when the request gives none."""
        if actions:
            return actions if isinstance(actions, list) else list(actions)
        if not self.actions:
            raise NoActionsError("this policy knows no actions; send 'actions' with the request")
        return self.actions

    def distribution(self, context: Mapping[str, Any], actions: Sequence[Action] | None = None) -> list[float]:
        """The policy's probability for each candidate, in candidate order (sums to 1)."""
        candidates = self.candidates(actions)
        if self._workspace is None:
            return [1.0 / len(candidates)] * len(candidates)
        if candidates is self.actions:  # the common case: the policy's own featureless actions, text made once
            return with_floor(self._model_distribution(context, candidates, own=True), self.exploration_floor)
        is_new = [a.id not in self._known_ids for a in candidates] if self._known_ids else [False] * len(candidates)
        if all(is_new):  # nothing known to weigh against: the model's own view of the candidates
            is_new = [False] * len(candidates)
        known = [a for a, new in zip(candidates, is_new, strict=True) if not new]
        model = self._model_distribution(context, known, own=False)
        return with_floor(with_new_actions(model, is_new, self.new_action_share), self.exploration_floor)

    def _model_distribution(self, context: Mapping[str, Any], candidates: Sequence[Action], own: bool) -> list[float]:
        """VW's distribution over `candidates` (`own`: they are the policy's action set, whose text is cached)."""
        if own:
            text = f"{self.featurizer.shared_line(context)}\n{self._known_action_lines}"
        else:
            text = "\n".join(self.featurizer.example(context, candidates))
        with self._lock:
            prediction = _predict(self._workspace, text)
        return _normalised(prediction, len(candidates))

    def decide(self, context: Mapping[str, Any], actions: Sequence[Action] | None = None) -> Decision:
        """Sample a candidate from the distribution; the propensity is what the evaluator needs later."""
        candidates = self.candidates(actions)
        return sample(candidates, self.distribution(context, candidates), self.draw())

    def draw(self) -> float:
        """A uniform draw in [0, 1) from this process's RNG."""
        with self._lock:
            return self._rng.random()

    def probe(self) -> bool:
        """Health check: the policy answers a prediction (used by `GET /ping`)."""
        try:
            return len(self.distribution({"probe": 1.0}, self.actions or [Action("probe")])) > 0
        except Exception:  # a broken model must make /ping fail, not crash the server
            return False

    def close(self) -> None:
        if self._workspace is not None:
            with self._lock:
                self._workspace.finish()
                self._workspace = None
