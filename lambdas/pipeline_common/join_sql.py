"""The join SQL: pure text building, in the subset Athena (Trino, engine v3) and DuckDB share (docs/contracts.md).

Rules the text keeps:
- every table reference carries `<alias>.dt BETWEEN '<hour>' AND '<hour>'`, so Athena's partition projection (and
  the local engine's file pruning) reads only the run's hour folders: decisions of the window, rewards of the
  window extended by the reward wait;
- the Glue columns a producer can get wrong are strings (infra/data_lake.py): the OpenX JSON SerDe fails the whole
  query on a value that does not fit a typed column, so the SQL converts them itself, with `try_cast(x AS double)`
  and `try_cast(x AS integer)`, and a timestamp only when it has the contract's exact format
  (`regexp_like(x, ISO_MS_Z)`) and parses (`try(from_iso8601_timestamp(x))`: Trino's function fails the query on
  a string it cannot read). A line that does not convert is malformed: it is counted, never joined, and never
  fails the run;
- timestamps are compared as strings (one ISO format); time arithmetic uses `from_iso8601_timestamp` and
  `date_add('second', n, ts)`;
- no CTEs, `count_if`, `is_nan` or other dialect-only functions: a finite-number test is
  `BETWEEN -1.0E308 AND 1.0E308`, which NaN fails in both engines (Trino: NaN compares false; DuckDB: NaN sorts
  above every number).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from contract.records import DECISION_COLUMNS
from contract.timefmt import ISO_MS_Z, hour_partition, iso
from pipeline_common.window import Window

FINITE_LIMIT = 1.0e308
"""The largest magnitude the join takes for a number (NaN and the infinities fail the test)."""
FINITE = "BETWEEN -1.0E308 AND 1.0E308"
DELIVERY_DELAY = timedelta(seconds=900)
"""Firehose files a record under the hour it was delivered, up to its 900 s buffer after the record's own time."""
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class SqlBuildError(ValueError):
    """A name or value would not be safe to place in the SQL text."""


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise SqlBuildError(f"not a safe SQL identifier: {name!r}")
    return f'"{name}"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _number(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        raise SqlBuildError(f"not a finite number: {value!r}")
    return repr(float(value))


@dataclass(frozen=True)
class JoinSpec:
    """Everything the join needs: tables, window, reward wait, missing-reward policy, output location."""

    database: str
    decisions_table: str
    rewards_table: str
    window: Window
    reward_wait_seconds: int
    missing_reward: str
    default_reward: float
    output_prefix: str
    experiment_id: str | None = None

    def __post_init__(self) -> None:
        if self.missing_reward not in ("default", "drop"):
            raise SqlBuildError(f"missing_reward must be 'default' or 'drop', got {self.missing_reward!r}")
        if self.reward_wait_seconds < 0:
            raise SqlBuildError("reward_wait_seconds must not be negative")
        if not self.output_prefix.startswith("s3://") or "'" in self.output_prefix:
            raise SqlBuildError(f"output prefix must be an s3:// URI, got {self.output_prefix!r}")

    @property
    def decision_hours(self) -> tuple[str, str]:
        """First and last hour partition holding decisions of the window (start is exclusive, still its hour)."""
        return hour_partition(self.window.start), hour_partition(self.window.end + DELIVERY_DELAY)

    @property
    def reward_hours(self) -> tuple[str, str]:
        """Reward partitions: a reward lands at most `reward_wait` after its decision's hour."""
        wait = timedelta(seconds=self.reward_wait_seconds)
        return hour_partition(self.window.start), hour_partition(self.window.end + wait + DELIVERY_DELAY)

    def _table(self, name: str) -> str:
        return f"{_identifier(self.database)}.{_identifier(name)}"


def _between(alias: str, hours: tuple[str, str]) -> str:
    return f"{alias}.dt BETWEEN {_literal(hours[0])} AND {_literal(hours[1])}"


def number(expression: str) -> str:
    """A string column read as a double, NULL when it is not a number (Trino's CAST would fail the query)."""
    return f"try_cast({expression} AS double)"


def moment(expression: str) -> str:
    """A timestamp string as a timestamp: NULL unless it has the contract's format and is a real time."""
    return (
        f"CASE WHEN regexp_like({expression}, {_literal(ISO_MS_Z)}) THEN try(from_iso8601_timestamp({expression})) END"
    )


def _well_formed_decision(alias: str, moment_test: str) -> str:
    prob = number(f"{alias}.action_prob")
    return (
        f"{alias}.event_id IS NOT NULL AND {moment_test} "
        f"AND try_cast({alias}.action_index AS integer) IS NOT NULL "
        f"AND {prob} IS NOT NULL AND {prob} > 0.0 AND {prob} <= 1.0"
    )


def valid_decision(alias: str) -> str:
    """A well-formed decision: an event id, a contract timestamp, an integer action index, a propensity in (0, 1].

    Never NULL (each test is guarded by an `IS NOT NULL` before it), so `NOT (...)` counts every other line.
    """
    return _well_formed_decision(alias, f"{moment(f'{alias}.event_time')} IS NOT NULL")


def decisions_in_window(spec: JoinSpec, alias: str = "d") -> str:
    """Well-formed decisions whose `event_time` is in `(start, end]`, from the window's hour partitions only.

    The typed columns come out as the contract's types (`action_index` integer, `action_prob` double), plus
    `event_at`, the decision time as a timestamp, for the reward-wait arithmetic. The inner query parses the time
    once per line of the window (the parse is the costly part of the validity test).
    """
    typed = {
        "action_index": f"try_cast({alias}.action_index AS integer) AS action_index",
        "action_prob": f"{number(f'{alias}.action_prob')} AS action_prob",
    }
    columns = ", ".join(typed.get(column, f"{alias}.{column}") for column in DECISION_COLUMNS)
    experiment = f"\n      AND {alias}.experiment_id = {_literal(spec.experiment_id)}" if spec.experiment_id else ""
    return (
        f"SELECT {columns}, {alias}.event_at\n"
        f"  FROM (\n"
        f"    SELECT {alias}.*, {moment(f'{alias}.event_time')} AS event_at\n"
        f"    FROM {spec._table(spec.decisions_table)} {alias}\n"
        f"    WHERE {_between(alias, spec.decision_hours)}\n"
        f"      AND {alias}.event_time > {_literal(iso(spec.window.start))}\n"
        f"      AND {alias}.event_time <= {_literal(iso(spec.window.end))}{experiment}\n"
        f"  ) {alias}\n"
        f"  WHERE {_well_formed_decision(alias, f'{alias}.event_at IS NOT NULL')}"
    )


def _well_formed_reward(alias: str, moment_test: str) -> str:
    reward = number(f"{alias}.reward")
    return f"{alias}.event_id IS NOT NULL AND {reward} IS NOT NULL AND {reward} {FINITE} AND {moment_test}"


def valid_reward(alias: str) -> str:
    """A well-formed reward: an event id, a finite numeric reward, a reward time in the contract's format.

    Never NULL (each test is guarded by an `IS NOT NULL` before it), so `NOT (...)` counts every other line.
    """
    return _well_formed_reward(alias, f"{moment(f'{alias}.reward_time')} IS NOT NULL")


def first_rewards(spec: JoinSpec, alias: str = "r") -> str:
    """Well-formed rewards of the reward partitions, ranked per `event_id` by `reward_time` (rank 1 = first).

    `reward` comes out as a double, and `reward_at` is the reward time as a timestamp (parsed once per line).
    """
    reward = number(f"{alias}.reward")
    return (
        f"SELECT {alias}.event_id, {reward} AS reward, {alias}.reward_time, {alias}.reward_at,\n"
        f"    row_number() OVER (PARTITION BY {alias}.event_id ORDER BY {alias}.reward_time, {reward})"
        " AS reward_rank\n"
        f"  FROM (\n"
        f"    SELECT {alias}.event_id, {alias}.reward, {alias}.reward_time,"
        f" {moment(f'{alias}.reward_time')} AS reward_at\n"
        f"    FROM {spec._table(spec.rewards_table)} {alias}\n"
        f"    WHERE {_between(alias, spec.reward_hours)}\n"
        f"  ) {alias}\n"
        f"  WHERE {_well_formed_reward(alias, f'{alias}.reward_at IS NOT NULL')}"
    )


def joined_select(spec: JoinSpec) -> str:
    """The joined rows: each decision of the window with its first reward, if it came within the reward wait.

    A reward that came later than `reward_wait_seconds` after its decision is treated as missing; missing rewards
    get `default_reward` (with `reward_time` null) or drop the row, by `missing_reward`.
    """
    columns = ", ".join(f"w.{column}" for column in DECISION_COLUMNS)
    in_time = f"f.reward_at <= date_add('second', {int(spec.reward_wait_seconds)}, w.event_at)"
    if spec.missing_reward == "default":
        reward = f"CASE WHEN f.event_id IS NULL THEN {_number(spec.default_reward)} ELSE f.reward END"
        kind = "LEFT JOIN"
    else:
        reward, kind = "f.reward", "JOIN"
    return (
        f"SELECT {columns},\n"
        f"  CAST({reward} AS DOUBLE) AS reward,\n"
        f"  f.reward_time AS reward_time\n"
        f"FROM (\n  {decisions_in_window(spec)}\n) w\n"
        f"{kind} (\n  {first_rewards(spec)}\n) f\n"
        f"  ON f.event_id = w.event_id AND f.reward_rank = 1 AND {in_time}"
    )


def unload(spec: JoinSpec) -> str:
    """`UNLOAD (<joined rows>) TO '<output>' WITH (format = 'JSON')`: Athena writes JSON lines to the prefix."""
    return f"UNLOAD (\n{joined_select(spec)}\n) TO {_literal(spec.output_prefix)} WITH (format = 'JSON')"


def counts_select(spec: JoinSpec) -> str:
    """One row of counts: joined rows, rows given the default reward, unmatched rewards, malformed reward lines,
    late rewards, malformed decision lines.

    `unmatched_rewards`: well-formed rewards timed in `(start, end + wait]` whose `event_id` has no decision in the
    hours a reward could belong to (window start minus the wait to the end plus the wait). `malformed_rewards`:
    lines of the reward partitions without an event id, a finite reward or a reward time. `late_rewards`: first
    rewards of window decisions that arrived after the wait. `malformed_decisions`: lines of the window's decision
    partitions that are not a well-formed decision (`valid_decision`); like malformed rewards, a line in an hour two
    windows share is counted by both runs.
    """
    wait = timedelta(seconds=spec.reward_wait_seconds)
    decision_hours = (
        hour_partition(spec.window.start - wait),
        hour_partition(spec.window.end + wait + DELIVERY_DELAY),
    )
    rewards = spec._table(spec.rewards_table)
    decisions = spec._table(spec.decisions_table)
    late = f"f.reward_at > date_add('second', {int(spec.reward_wait_seconds)}, w.event_at)"
    return (
        "SELECT j.joined_rows, j.defaulted_rows, u.unmatched_rewards, m.malformed_rewards, l.late_rewards,"
        " b.malformed_decisions\n"
        "FROM (\n"
        "  SELECT count(*) AS joined_rows, coalesce(sum(CASE WHEN x.reward_time IS NULL THEN 1 ELSE 0 END), 0)"
        " AS defaulted_rows\n"
        f"  FROM (\n{joined_select(spec)}\n  ) x\n"
        ") j\n"
        "CROSS JOIN (\n"
        "  SELECT count(DISTINCT u.event_id) AS unmatched_rewards\n"
        f"  FROM {rewards} u\n"
        f"  WHERE {_between('u', spec.reward_hours)}\n"
        f"    AND u.reward_time > {_literal(iso(spec.window.start))}\n"
        f"    AND u.reward_time <= {_literal(iso(spec.window.end + wait))}\n"
        f"    AND {valid_reward('u')}\n"
        f"    AND NOT EXISTS (SELECT 1 FROM {decisions} k WHERE {_between('k', decision_hours)}"
        " AND k.event_id = u.event_id)\n"
        ") u\n"
        "CROSS JOIN (\n"
        "  SELECT count(*) AS malformed_rewards\n"
        f"  FROM {rewards} b\n"
        f"  WHERE {_between('b', spec.reward_hours)}\n"
        f"    AND NOT ({valid_reward('b')})\n"
        ") m\n"
        "CROSS JOIN (\n"
        "  SELECT count(*) AS late_rewards\n"
        f"  FROM (\n  {decisions_in_window(spec)}\n) w\n"
        f"  JOIN (\n  {first_rewards(spec)}\n) f\n"
        f"    ON f.event_id = w.event_id AND f.reward_rank = 1 AND {late}\n"
        ") l\n"
        "CROSS JOIN (\n"
        "  SELECT count(*) AS malformed_decisions\n"
        f"  FROM {decisions} n\n"
        f"  WHERE {_between('n', spec.decision_hours)}\n"
        f"    AND NOT ({valid_decision('n')})\n"
        ") b"
    )


COUNT_COLUMNS = (
    "joined_rows",
    "defaulted_rows",
    "unmatched_rewards",
    "malformed_rewards",
    "late_rewards",
    "malformed_decisions",
)
