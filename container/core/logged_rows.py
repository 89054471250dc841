"""Logged rows for training and evaluation: joined JSON lines (plain or gzip) or the workshop's CSV.

A bad line is counted and skipped with a message, never fatal: one corrupt record must not block a retraining run.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from container.core.errors import ContainerError
from container.core.featurizer import Action, context_from_observation

GZIP_MAGIC = b"\x1f\x8b"
CSV_COLUMNS = ("event_id", "action", "action_prob", "model_id", "observation", "sample_prob", "reward")
_MAX_MESSAGES = 20


class BadRow(ContainerError, ValueError):
    """A line that is not a usable logged decision (the message says why)."""


@dataclass(frozen=True)
class LoggedRow:
    """One logged decision with its reward: what the policy saw, what it chose and with which propensity."""

    event_id: str
    context: dict[str, Any]
    action: str
    action_prob: float
    reward: float
    actions: list[Action] | None = None
    action_index: int | None = None
    model_id: str | None = None
    probabilities: list[float] | None = None
    event_time: str | None = None
    challenger_model_id: str | None = None  # set when a challenger's share was mixed into model_id's distribution

    def candidates(self, known: list[Action]) -> list[Action]:
        """The candidate set of this decision: as logged, or the policy's known actions when none were logged."""
        return self.actions if self.actions is not None else known

    def chosen_index(self, candidates: list[Action]) -> int:
        """Index of the chosen action among `candidates` (the logged index when it is consistent)."""
        index = self.action_index
        if index is not None and 0 <= index < len(candidates) and candidates[index].id == self.action:
            return index
        for index, candidate in enumerate(candidates):
            if candidate.id == self.action:
                return index
        raise BadRow(f"event {self.event_id}: chosen action {self.action!r} is not among its candidates")


@dataclass
class ReadStats:
    """What a read saw: rows returned and lines skipped (reported in the model metadata)."""

    rows_read: int = 0
    rows_skipped: int = 0
    messages: list[str] = field(default_factory=list)

    def skip(self, where: str, reason: str) -> None:
        self.rows_skipped += 1
        if len(self.messages) < _MAX_MESSAGES:
            message = f"skipped {where}: {reason}"
            self.messages.append(message)
            print(message, file=sys.stderr, flush=True)


def _json_field(value: Any, name: str) -> Any:
    """Decision fields like `context` are JSON text in the joined rows; accept decoded values too."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise BadRow(f"{name} is not valid JSON text ({error.msg})") from None
    return value


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or value is None:
        raise BadRow(f"{name} is {value!r}, not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadRow(f"{name} is {value!r}, not a number") from None
    if not math.isfinite(number):
        raise BadRow(f"{name} is {value!r}, not a finite number")
    return number


def _actions(value: Any) -> list[Action] | None:
    value = _json_field(value, "actions")
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise BadRow("actions is not a non-empty list")
    actions = []
    for item in value:
        if isinstance(item, Mapping):
            features = item.get("features") or {}
            if "id" not in item or not isinstance(features, Mapping):
                raise BadRow("an action has no id or its features are not an object")
            actions.append(Action(str(item["id"]), dict(features)))
        else:
            actions.append(Action(str(item)))
    return actions


def _observation(value: Any) -> dict[str, float]:
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text) if text.startswith("[") else [float(v) for v in text.replace(",", " ").split()]
        except (json.JSONDecodeError, ValueError):
            raise BadRow("observation is not a list of numbers") from None
    if not isinstance(value, list):
        raise BadRow("observation is not a list of numbers")
    return context_from_observation([_finite(v, "observation") for v in value])


def parse_row(record: Mapping[str, Any]) -> LoggedRow:
    """One joined row (or a workshop CSV row) as a `LoggedRow`; `BadRow` says what is wrong."""
    event_id = record.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        raise BadRow("event_id is missing")
    if record.get("context") not in (None, ""):
        context = _json_field(record["context"], "context")
    elif record.get("observation") not in (None, ""):
        context = _observation(record["observation"])
    else:
        raise BadRow("neither context nor observation is present")
    if not isinstance(context, dict):
        raise BadRow("context is not an object")
    action = record.get("action")
    if action is None or action == "":
        raise BadRow("action is missing")
    probability = _finite(record.get("action_prob"), "action_prob")
    if not 0.0 < probability <= 1.0:
        raise BadRow(f"action_prob is {probability}, outside (0, 1]")
    index = record.get("action_index")
    probabilities = _json_field(record.get("probabilities"), "probabilities")
    return LoggedRow(
        event_id=event_id,
        context=context,
        action=str(action),
        action_prob=probability,
        reward=_finite(record.get("reward"), "reward"),
        actions=_actions(record.get("actions")),
        action_index=int(index) if isinstance(index, (int, float)) and not isinstance(index, bool) else None,
        model_id=record.get("model_id") or None,
        probabilities=probabilities if isinstance(probabilities, list) else None,
        event_time=record.get("event_time"),
        challenger_model_id=record.get("challenger_model_id") or None,
    )


def _open_text(path: Path) -> TextIO:
    """Open a file as text, decompressing gzip by its magic bytes (Athena UNLOAD may omit the `.gz`)."""
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == GZIP_MAGIC:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return path.open("r", encoding="utf-8", errors="replace")


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.exists():
        return []
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))


def _read_file(path: Path, stats: ReadStats) -> Iterator[LoggedRow]:
    with _open_text(path) as handle:
        first = handle.readline()
        if first.lstrip().startswith("{") or not first.strip():
            lines: Iterator[tuple[int, Mapping[str, Any] | str]] = _json_lines(first, handle)
        elif "event_id" in first and "," in first:
            lines = _csv_lines(first, handle)
        else:
            stats.skip(f"{path.name}", "neither JSON lines nor the workshop CSV")
            return
        for number, record in lines:
            where = f"{path.name}:{number}"
            if isinstance(record, str):
                stats.skip(where, record)
                continue
            try:
                row = parse_row(record)
            except BadRow as error:
                stats.skip(where, str(error))
                continue
            stats.rows_read += 1
            yield row


def _json_lines(first: str, handle: TextIO) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    for number, line in enumerate([first, *handle] if first else handle, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            yield number, f"not JSON ({error.msg})"
            continue
        yield number, record if isinstance(record, dict) else "not a JSON object"


def _csv_lines(header: str, handle: TextIO) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    columns = next(csv.reader([header]))
    missing = [c for c in ("event_id", "action", "action_prob", "observation", "reward") if c not in columns]
    if missing:
        yield 1, f"CSV header lacks {', '.join(missing)}"
        return
    for number, values in enumerate(csv.reader(handle), start=2):
        if not values:
            continue
        if len(values) != len(columns):
            yield number, f"{len(values)} columns, expected {len(columns)}"
            continue
        yield number, dict(zip(columns, values, strict=True))


def read_rows(path_or_dir: str | Path, stats: ReadStats | None = None) -> Iterator[LoggedRow]:
    """Joined rows from a file or a directory tree; pass `stats` to learn how many lines were skipped."""
    stats = stats if stats is not None else ReadStats()
    for path in _files(Path(path_or_dir)):
        yield from _read_file(path, stats)


def moment(text: str) -> datetime:
    """An ISO-8601 time (`Z` or an offset; a naive time is UTC)."""
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def logged_at(row: LoggedRow) -> datetime | None:
    """When `row` was logged, as a time (`...Z` and `...+00:00` both occur, so strings do not order); None for a row
    without an event time (the workshop CSV) or with one that does not parse: it cannot be placed."""
    if row.event_time is None:
        return None
    try:
        return moment(row.event_time)
    except ValueError:
        return None


_UNPLACED = datetime.min.replace(tzinfo=UTC)


def logged_after(rows: list[LoggedRow], since: datetime | None) -> tuple[list[LoggedRow], int]:
    """The rows logged after `since` (all of them without it), and how many earlier rows were left out.

    A row that cannot be placed (`logged_at` is None) is kept.
    """
    if since is None:
        return rows, 0
    kept = [row for row in rows if (at := logged_at(row)) is None or at > since]
    return kept, len(rows) - len(kept)


def in_arrival_order(rows: list[LoggedRow]) -> tuple[list[LoggedRow], int]:
    """Rows in the order they were logged (event time, then event id), each event once; and the repeats dropped.

    The evaluator's confidence sequence is valid at every prefix of the rows in arrival order, so a holdout pooled from
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
    unique.sort(key=lambda r: (logged_at(r) or _UNPLACED, r.event_id))  # rows that cannot be placed first
    return unique, len(rows) - len(unique)


def reward_bounds(rows: list[LoggedRow]) -> tuple[float, float]:
    """The reward range when none is declared: [0, 1] widened to the logged rewards (the evaluator's default)."""
    rewards = [r.reward for r in rows]
    return min([0.0, *rewards]), max([1.0, *rewards])
