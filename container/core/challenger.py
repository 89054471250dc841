"""The challenger mixture: the serving model with a share of a rejected candidate mixed into every distribution.

The gate can only confirm a candidate where the logger plays what the candidate would: against a near-greedy
serving model, a better candidate's own choices are logged with tiny propensities and its lower bound stays below
zero run after run. Serving `(1 - share) * serving + share * challenger` gives every action the challenger plays a
propensity of at least `share` times its own probability, so its importance weights stay under `1 / share` and the
next evaluation has the power the last one lacked. The logged `probabilities` and `action_prob` are the mixture's:
the evaluator and the learner read them as any logging policy's, and the record names the challenger
(`challenger_model_id`) so the drift detector, which judges the serving model alone, leaves those rows out.

The training job packs the serving model it trained next to into the candidate's artifact (`serving/`), so the
endpoint needs one artifact; `CHALLENGER_SHARE` in the model's environment switches the mixture on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from container.core.artifacts import ArtifactError, resolve_model_dir
from container.core.featurizer import Action
from container.core.logged_rows import BadRow, LoggedRow
from container.core.policy import Decision, Policy, ServingPolicy, sample
from contract import environment
from contract.bounds import SETTING_BOUNDS

SERVING_DIR = "serving"
"""The serving model's copy inside a candidate's artifact (`vw.model` + `metadata.json`, or the metadata alone for
the uniform bootstrap)."""
SHARE_VARIABLE = environment.CHALLENGER_SHARE
SHARE_BOUND = SETTING_BOUNDS["challenger_share"]


class ChallengerError(ArtifactError):
    """The challenger mixture cannot be served: a share out of range, or an artifact without its serving model."""


def check_share(raw: str | None) -> float:
    """`CHALLENGER_SHARE` as a number within the setting's bounds (0 or unset: the candidate serves alone)."""
    if raw is None or not raw.strip():
        return 0.0
    try:
        share = float(raw)
    except ValueError:
        raise ChallengerError(f"{SHARE_VARIABLE} is {raw!r}, not a number") from None
    if share not in SHARE_BOUND:
        raise ChallengerError(f"{SHARE_VARIABLE} is {share:g}; it must be {SHARE_BOUND.text()}")
    return share


class ChallengerMixture:
    """`(1 - share) * serving + share * challenger` on every request's candidates, sampled with its own draw."""

    def __init__(self, serving: Policy, challenger: Policy, share: float) -> None:
        if not 0.0 < share <= SHARE_BOUND.high:
            raise ChallengerError(f"a challenger share of {share:g} mixes nothing in or outweighs the serving model")
        self.serving = serving
        self.challenger = challenger
        self.share = share
        self.model_id = serving.model_id
        self.challenger_model_id: str | None = challenger.model_id
        # the candidate trained after the serving model: its action set includes every action the serving one knew
        self.actions: list[Action] = challenger.actions or serving.actions

    @property
    def is_uniform(self) -> bool:
        return False

    def candidates(self, actions: Sequence[Action] | None) -> list[Action]:
        return self.challenger.candidates(actions or self.actions or None)

    def distribution(self, context: Mapping[str, Any], actions: Sequence[Action] | None = None) -> list[float]:
        candidates = self.candidates(actions)
        serving = self.serving.distribution(context, candidates)
        challenger = self.challenger.distribution(context, candidates)
        keep = 1.0 - self.share
        return [keep * s + self.share * c for s, c in zip(serving, challenger, strict=True)]

    def decide(self, context: Mapping[str, Any], actions: Sequence[Action] | None = None) -> Decision:
        candidates = self.candidates(actions)
        return sample(candidates, self.distribution(context, candidates), self.challenger.draw())

    def probe(self) -> bool:
        return self.serving.probe() and self.challenger.probe()

    def close(self) -> None:
        self.serving.close()
        self.challenger.close()


def chosen_probability(policy: Policy) -> Callable[[LoggedRow], float | None]:
    """`policy`'s own probability of each logged row's chosen action: what reweights a mixed row to the serving
    model alone (`container.evaluation.drift.serving_rewards`); None for a row whose choice is not a candidate."""

    def probability(row: LoggedRow) -> float | None:
        candidates = row.candidates(policy.actions)
        try:
            index = row.chosen_index(candidates)
        except BadRow:
            return None
        return policy.distribution(row.context, candidates)[index]

    return probability


def load_serving_policy(
    path: str | Path, environ: Mapping[str, str], actions: Sequence[str] = (), seed: int | None = None
) -> ServingPolicy:
    """The model at `path` alone, or mixed with the serving model its artifact carries when `CHALLENGER_SHARE` > 0."""
    share = check_share(environ.get(SHARE_VARIABLE))
    challenger = Policy.load(path, actions=actions, seed=seed)
    if share == 0.0:
        return challenger
    model_dir = resolve_model_dir(Path(path))
    serving_dir = model_dir / SERVING_DIR if model_dir is not None else None
    if serving_dir is None or not serving_dir.is_dir():
        challenger.close()
        raise ChallengerError(
            f"{SHARE_VARIABLE} is {share:g} but the artifact carries no {SERVING_DIR}/ model to mix the candidate "
            "into (it was trained before challengers existed, or without a serving model)"
        )
    serving = Policy.load(serving_dir, actions=[a.id for a in challenger.actions], seed=seed)
    return ChallengerMixture(serving, challenger, share)
