"""From logged rows and loaded policies to the matrices the estimators read (the only place that calls VW).

Each row's candidates are its logged actions (or the policies' known actions for logs without them); columns are
a vocabulary of action ids shared by the whole holdout, so distributions of different rows line up.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from container.core.featurizer import Action
from container.core.logged_rows import BadRow, LoggedRow, logged_at
from container.core.policy import Policy
from container.evaluation.errors import DistributionError, EmptyHoldoutError, SingleActionError
from container.evaluation.estimators import Logged

MIN_ROWS = 2


@dataclass(frozen=True)
class Holdout:
    """The holdout rows with their candidates, as column codes of the action vocabulary."""

    rows: list[LoggedRow]
    candidates: list[list[Action]]
    codes: list[NDArray[np.int64]]
    vocabulary: list[str]
    logged: Logged
    skipped: list[str]

    @property
    def size(self) -> int:
        return len(self.rows)


def build_holdout(
    rows: Sequence[LoggedRow], known: Sequence[Action], reward_range: tuple[float, float] | None = None
) -> Holdout:
    """Index the rows' candidates and chosen actions; rows whose chosen action is not a candidate are skipped."""
    vocabulary: dict[str, int] = {}
    kept: list[LoggedRow] = []
    candidates: list[list[Action]] = []
    codes: list[NDArray[np.int64]] = []
    chosen: list[int] = []
    skipped: list[str] = []
    for row in rows:
        row_candidates = row.candidates(list(known))
        if not row_candidates:
            skipped.append(f"event {row.event_id}: no candidates logged and the policies know no actions")
            continue
        try:
            index = row.chosen_index(row_candidates)
        except BadRow as error:
            skipped.append(str(error))
            continue
        row_codes = np.array([vocabulary.setdefault(a.id, len(vocabulary)) for a in row_candidates], dtype=np.int64)
        kept.append(row)
        candidates.append(row_candidates)
        codes.append(row_codes)
        chosen.append(int(row_codes[index]))
    if len(kept) < MIN_ROWS:
        raise EmptyHoldoutError(
            f"the holdout has {len(kept)} usable rows, at least {MIN_ROWS} are needed: check that the join wrote "
            "rows for this window and that holdout_share matches the training job's"
            + (f" ({len(skipped)} rows skipped, e.g. {skipped[0]})" if skipped else "")
        )
    if all(len(c) < 2 for c in candidates):
        raise SingleActionError("every holdout decision had a single candidate: policies cannot differ on this log")
    logged = Logged(
        chosen=np.array(chosen, dtype=np.int64),
        propensity=np.array([r.action_prob for r in kept], dtype=float),
        reward=np.array([r.reward for r in kept], dtype=float),
        reward_range=reward_range,
        logging=_logging_matrix(kept, codes, len(vocabulary)),
    )
    return Holdout(kept, candidates, codes, list(vocabulary), logged, skipped)


def _logging_matrix(
    rows: Sequence[LoggedRow], codes: Sequence[NDArray[np.int64]], actions: int
) -> NDArray[np.float64] | None:
    """The logger's full distribution per row (the joined `probabilities`), or None unless every row has it."""
    pairs = zip(rows, codes, strict=True)
    if not all(r.probabilities is not None and len(r.probabilities) == len(c) for r, c in pairs):
        return None
    matrix = np.zeros((len(rows), actions))
    for i, (row, row_codes) in enumerate(zip(rows, codes, strict=True)):
        values = np.asarray(row.probabilities, dtype=float)
        if not np.all(np.isfinite(values)) or (values < 0.0).any():
            return None
        np.add.at(matrix[i], row_codes, values)
    return matrix


def distribution_matrix(policy: Policy, holdout: Holdout, name: str) -> NDArray[np.float64]:
    """The policy's full distribution on every row, scattered into vocabulary columns (`rows x actions`)."""
    matrix = np.zeros((holdout.size, len(holdout.vocabulary)))
    for i, (row, candidates, codes) in enumerate(zip(holdout.rows, holdout.candidates, holdout.codes, strict=True)):
        probabilities = policy.distribution(row.context, candidates)
        if len(probabilities) != len(candidates):
            raise DistributionError(
                f"{name} policy {policy.model_id} returned {len(probabilities)} probabilities for the "
                f"{len(candidates)} candidates of event {row.event_id}"
            )
        np.add.at(matrix[i], codes, np.asarray(probabilities, dtype=float))
    return matrix


def first_new_action(rows: Sequence[LoggedRow], known: Collection[str]) -> tuple[str, list[str]] | None:
    """When decisions first offered actions the serving model has never seen, and which: (event time, ids).

    From then on the decision problem is not the one the earlier rows logged: a candidate that learned the new
    action gains only where it is offered, so a pool that reaches back before it dilutes the gain the gate must
    see. The earliest such time, so a catalogue that keeps adding actions does not keep shrinking the pool.
    None without known actions or without a new one in the rows' logged candidates.
    """
    if not known:
        return None
    offering = [row for row in rows if row.actions is not None and any(a.id not in known for a in row.actions)]
    first = earliest(offering)
    if first is None:
        return None
    new = {a.id for row in offering for a in row.actions or () if a.id not in known}
    return first, sorted(new)


def earliest(rows: Sequence[LoggedRow]) -> str | None:
    """The earliest event time among `rows` as logged, compared as times (`logged_at`); rows that cannot be placed
    are passed over."""
    placed = [(at, row.event_time) for row in rows if (at := logged_at(row)) is not None and row.event_time]
    return min(placed)[1] if placed else None
