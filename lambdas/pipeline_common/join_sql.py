"""The join SQL: pure text building, in the subset Athena (Trino, engine v3) and DuckDB share (docs/contracts.md).

Three statements per run, built from the same pieces: the UNLOAD of the joined rows, the UNLOAD of the rejected
(quarantined) lines with their reason, and one row of counts computed from those very two selects.

Rules the text keeps:
- every table reference carries `<alias>.dt BETWEEN '<hour>' AND '<hour>'`, so Athena's partition projection (and
  the local engine's file pruning) reads only the run's hour folders;
- the Glue columns a producer can get wrong are strings (infra/data_lake.py): the OpenX JSON SerDe fails the whole
  query on a value that does not fit a typed column, so the SQL converts them itself, with `try_cast(x AS double)`
  and `try_cast(x AS integer)`, and a timestamp only when it has the contract's exact format
  (`regexp_like(x, ISO_MS_Z)`) and parses (`try(from_iso8601_timestamp(x))`: Trino's function fails the query on
  a string it cannot read). A line that does not convert is malformed: it is quarantined and counted, never joined,
  and never fails the run;
- one decision per `event_id`: the first by `event_time` (then by the object it came in), so a line Firehose
  delivered twice or a client's reused id gives one training row;
- rewards are ranked by when they reached S3, not by the client's `reward_time`: the `"$path"` pseudo-column names
  the object a row came from, and Firehose names objects `<prefix>YYYY/MM/dd/HH/<stream>-<version>-YYYY-MM-dd-HH-mm-ss-
  <uuid>`, the arrival time of the object's oldest record; a reward dated before its decision, or outside
  `reward_range`, is rejected;
- timestamps are compared as strings (one ISO format); time arithmetic uses `from_iso8601_timestamp` and
  `date_add('second', n, ts)`;
- no CTEs, `count_if`, `is_nan` or other dialect-only functions: a finite-number test is
  `BETWEEN -1.0E308 AND 1.0E308`, which NaN fails in both engines (Trino: NaN compares false; DuckDB: NaN sorts
  above every number).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from contract.records import DECISION_COLUMNS, REWARD_COLUMNS
from contract.timefmt import ISO_MS_Z, hour_partition, iso
from pipeline_common.window import Window

FINITE_LIMIT = 1.0e308
"""The largest magnitude the join takes for a number (NaN and the infinities fail the test)."""
FINITE = "BETWEEN -1.0E308 AND 1.0E308"
ARRIVAL = "([0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2})-[^/]*$"
"""The arrival time in a Firehose object's name (`<stream>-<version>-YYYY-MM-dd-HH-mm-ss-<uuid>`)."""
DELIVERY_DELAY = timedelta(seconds=900)
"""Firehose files a record under the hour it was delivered, up to its 900 s buffer after the record's own time."""
REASONS = ("malformed", "out_of_range", "unknown_event", "duplicate", "before_decision", "late")
"""Why a line is quarantined (docs/contracts.md "Quarantine")."""
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


def _s3_prefix(uri: str, name: str) -> None:
    if not uri.startswith("s3://") or "'" in uri or not uri.endswith("/"):
        raise SqlBuildError(f"{name} must be an s3:// URI ending in '/', got {uri!r}")


@dataclass(frozen=True)
class JoinSpec:
    """Everything the join needs: tables, window, reward wait and range, missing-reward policy, output locations."""

    database: str
    decisions_table: str
    rewards_table: str
    window: Window
    reward_wait_seconds: int
    missing_reward: str
    default_reward: float
    output_prefix: str
    experiment_id: str | None = None
    reward_range: tuple[float, float] = (0.0, 1.0)
    quarantine_prefix: str | None = None

    def __post_init__(self) -> None:
        if self.missing_reward not in ("default", "drop"):
            raise SqlBuildError(f"missing_reward must be 'default' or 'drop', got {self.missing_reward!r}")
        if self.reward_wait_seconds < 0:
            raise SqlBuildError("reward_wait_seconds must not be negative")
        _s3_prefix(self.output_prefix, "output prefix")
        if self.quarantine_prefix is not None:
            _s3_prefix(self.quarantine_prefix, "quarantine prefix")
        low, high = (_number(bound) for bound in self.reward_range)
        if not float(low) < float(high):
            raise SqlBuildError(f"reward_range must be [low, high] with low < high, got {self.reward_range!r}")

    @property
    def decision_hours(self) -> tuple[str, str]:
        """First and last hour partition holding decisions of the window (start is exclusive, still its hour)."""
        return hour_partition(self.window.start), hour_partition(self.window.end + DELIVERY_DELAY)

    @property
    def reward_hours(self) -> tuple[str, str]:
        """Reward partitions: a reward lands at most `reward_wait` after its decision's hour."""
        return hour_partition(self.window.start), hour_partition(self.window.end + self.wait + DELIVERY_DELAY)

    @property
    def owned_hours(self) -> tuple[str, str]:
        """`[first, next)`: the hour folders whose lines this run alone judges on their own (malformed, out of
        range, unknown event). Consecutive windows tile time, so every folder is judged by exactly one run."""
        return hour_partition(self.window.start), hour_partition(self.window.end)

    @property
    def wait(self) -> timedelta:
        return timedelta(seconds=self.reward_wait_seconds)

    def _table(self, name: str) -> str:
        return f"{_identifier(self.database)}.{_identifier(name)}"


def _between(alias: str, hours: tuple[str, str]) -> str:
    return f"{alias}.dt BETWEEN {_literal(hours[0])} AND {_literal(hours[1])}"


def _owned(alias: str, spec: JoinSpec) -> str:
    first, following = spec.owned_hours
    return f"{_between(alias, (first, following))} AND {alias}.dt < {_literal(following)}"


def _hour(moment: datetime) -> str:
    return _literal(hour_partition(moment))


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

    Never NULL (each test is guarded by an `IS NOT NULL` before it), so `NOT (...)` finds every other line.
    """
    return _well_formed_decision(alias, f"{moment(f'{alias}.event_time')} IS NOT NULL")


def _well_formed_reward(alias: str, moment_test: str) -> str:
    reward = number(f"{alias}.reward")
    return f"{alias}.event_id IS NOT NULL AND {reward} IS NOT NULL AND {reward} {FINITE} AND {moment_test}"


def valid_reward(alias: str) -> str:
    """A well-formed reward: an event id, a finite numeric reward, a reward time in the contract's format.

    Never NULL (each test is guarded by an `IS NOT NULL` before it), so `NOT (...)` finds every other line.
    """
    return _well_formed_reward(alias, f"{moment(f'{alias}.reward_time')} IS NOT NULL")


def _in_range(spec: JoinSpec, expression: str) -> str:
    low, high = spec.reward_range
    return f"{expression} BETWEEN {_number(low)} AND {_number(high)}"


def window_decisions(spec: JoinSpec, alias: str = "d") -> str:
    """Well-formed decisions whose `event_time` is in `(start, end]`, ranked per `event_id` (`decision_rank` 1 is
    the one kept), from the window's hour partitions only.

    The columns come out as read (strings), plus `event_at` (the decision time as a timestamp, for the reward-wait
    arithmetic) and `source` (the object the line came in). The inner query parses the time once per line.
    """
    columns = ", ".join(f"{alias}.{column}" for column in DECISION_COLUMNS)
    experiment = f"\n      AND {alias}.experiment_id = {_literal(spec.experiment_id)}" if spec.experiment_id else ""
    return (
        f"SELECT {columns}, {alias}.event_at, {alias}.source,\n"
        f"    row_number() OVER (PARTITION BY {alias}.event_id ORDER BY {alias}.event_time, {alias}.source)"
        " AS decision_rank\n"
        f"  FROM (\n"
        f'    SELECT {alias}.*, {moment(f"{alias}.event_time")} AS event_at, {alias}."$path" AS source\n'
        f"    FROM {spec._table(spec.decisions_table)} {alias}\n"
        f"    WHERE {_between(alias, spec.decision_hours)}\n"
        f"      AND {alias}.event_time > {_literal(iso(spec.window.start))}\n"
        f"      AND {alias}.event_time <= {_literal(iso(spec.window.end))}{experiment}\n"
        f"  ) {alias}\n"
        f"  WHERE {_well_formed_decision(alias, f'{alias}.event_at IS NOT NULL')}"
    )


def reward_lines(spec: JoinSpec, alias: str = "r") -> str:
    """Every line of the reward partitions, with its value and time parsed (NULL when they do not convert), the
    object it came in (`source`) and that object's Firehose arrival time (`arrival`, '' when the name has none)."""
    return (
        f"SELECT {alias}.event_id, {alias}.reward, {alias}.reward_time, {alias}.dt,"
        f" {number(f'{alias}.reward')} AS reward_value,\n"
        f'    {moment(f"{alias}.reward_time")} AS reward_at, {alias}."$path" AS source,\n'
        f"    coalesce(regexp_extract({alias}.\"$path\", {_literal(ARRIVAL)}, 1), '') AS arrival\n"
        f"  FROM {spec._table(spec.rewards_table)} {alias}\n"
        f"  WHERE {_between(alias, spec.reward_hours)}"
    )


def ranked_rewards(spec: JoinSpec) -> str:
    """Each kept window decision with its usable rewards ranked by arrival (`reward_rank` 1 = arrived first).

    A usable reward is well-formed, within `reward_range` and not dated before its decision. A decision without
    one comes out once with NULL reward columns. `in_time`: the reward came within the reward wait.
    """
    typed = {
        "action_index": "try_cast(w.action_index AS integer) AS action_index",
        "action_prob": f"{number('w.action_prob')} AS action_prob",
    }
    columns = ", ".join(typed.get(column, f"w.{column}") for column in DECISION_COLUMNS)
    usable = f"{_well_formed_reward('r', 'r.reward_at IS NOT NULL')} AND {_in_range(spec, 'r.reward_value')}"
    return (
        f"SELECT {columns}, w.event_at, r.reward, r.reward_value, r.reward_time, r.reward_at, r.source,\n"
        f"  CASE WHEN r.reward_at <= date_add('second', {int(spec.reward_wait_seconds)}, w.event_at) THEN 1"
        " ELSE 0 END AS in_time,\n"
        "  row_number() OVER (PARTITION BY w.event_id ORDER BY r.arrival, r.source, r.reward_time, r.reward_value)"
        " AS reward_rank\n"
        f"FROM (\n  {window_decisions(spec)}\n) w\n"
        f"LEFT JOIN (\n  {reward_lines(spec)}\n) r\n"
        f"  ON r.event_id = w.event_id AND {usable} AND r.reward_at >= w.event_at\n"
        "WHERE w.decision_rank = 1"
    )


def joined_select(spec: JoinSpec) -> str:
    """The joined rows: each kept decision of the window with its first-arrived usable reward, if that came within
    the reward wait; otherwise `default_reward` (with `reward_time` null) or no row, by `missing_reward`."""
    columns = ", ".join(f"x.{column}" for column in DECISION_COLUMNS)
    rewarded = "x.in_time = 1"
    if spec.missing_reward == "default":
        reward = f"CASE WHEN {rewarded} THEN x.reward_value ELSE {_number(spec.default_reward)} END"
        keep = ""
    else:
        reward, keep = "x.reward_value", f" AND {rewarded}"
    return (
        f"SELECT {columns},\n"
        f"  CAST({reward} AS DOUBLE) AS reward,\n"
        f"  CASE WHEN {rewarded} THEN x.reward_time END AS reward_time\n"
        f"FROM (\n{ranked_rewards(spec)}\n) x\n"
        f"WHERE x.reward_rank = 1{keep}"
    )


def unload(spec: JoinSpec) -> str:
    """`UNLOAD (<joined rows>) TO '<output>' WITH (format = 'JSON')`: Athena writes JSON lines to the prefix."""
    return f"UNLOAD (\n{joined_select(spec)}\n) TO {_literal(spec.output_prefix)} WITH (format = 'JSON')"


QUARANTINE_COLUMNS = ("reason", "kind", "source", *DECISION_COLUMNS, "reward", "reward_time")
"""The columns of a quarantined line: why, which table, the S3 object it came in, then its fields as they were read
(strings; a decision's reward fields and a reward's decision fields are NULL)."""


def _quarantined(reason: str, kind: str, alias: str, fields: tuple[str, ...]) -> str:
    values = []
    for column in QUARANTINE_COLUMNS[3:]:
        values.append(f"{alias}.{column}" if column in fields else f"CAST(NULL AS varchar) AS {column}")
    return f"SELECT {reason} AS reason, {_literal(kind)} AS kind, {alias}.source, " + ", ".join(values)


def quarantine_select(spec: JoinSpec) -> str:
    """Every line the join rejects, with its reason (`REASONS`):

    - decisions: `malformed` (not `valid_decision`, in the run's owned hours), `duplicate` (a later line with the
      `event_id` of a kept window decision);
    - rewards in the run's owned hours: `malformed` (not `valid_reward`), `out_of_range` (outside `reward_range`),
      `unknown_event` (no decision with its `event_id` in the hours a reward of it could come from);
    - rewards of kept window decisions: `before_decision` (dated before the decision), `duplicate` (a usable
      reward that arrived after the first), `late` (the first arrived after the reward wait).
    """
    decisions = spec._table(spec.decisions_table)
    decision_fields = tuple(DECISION_COLUMNS)
    reward_fields = tuple(REWARD_COLUMNS)
    search = (
        hour_partition(spec.window.start - spec.wait - DELIVERY_DELAY),
        hour_partition(spec.window.end + DELIVERY_DELAY),
    )
    return (
        f"{_quarantined(_literal('malformed'), 'decision', 'n', decision_fields)}\n"
        f'FROM (SELECT n.*, n."$path" AS source FROM {decisions} n WHERE {_owned("n", spec)}'
        f" AND NOT ({valid_decision('n')})) n\n"
        "UNION ALL\n"
        f"{_quarantined(_literal('duplicate'), 'decision', 'k', decision_fields)}\n"
        f"FROM (\n  {window_decisions(spec, 'k')}\n) k\nWHERE k.decision_rank > 1\n"
        "UNION ALL\n"
        f"{_quarantined('q.reason', 'reward', 'q', reward_fields)}\n"
        "FROM (\n"
        f"  SELECT u.*, CASE WHEN NOT ({_well_formed_reward('u', 'u.reward_at IS NOT NULL')}) THEN 'malformed'"
        f" WHEN NOT ({_in_range(spec, 'u.reward_value')}) THEN 'out_of_range' ELSE 'unknown_event' END AS reason\n"
        f"  FROM (\n  {reward_lines(spec, 'u')}\n  ) u\n"
        f"  WHERE u.dt < {_literal(spec.owned_hours[1])} AND NOT (\n"
        f"    {_well_formed_reward('u', 'u.reward_at IS NOT NULL')} AND {_in_range(spec, 'u.reward_value')}\n"
        f"    AND EXISTS (SELECT 1 FROM {decisions} e WHERE {_between('e', search)} AND e.event_id = u.event_id))\n"
        ") q\n"
        "UNION ALL\n"
        f"{_quarantined('q.reason', 'reward', 'q', reward_fields)}\n"
        "FROM (\n"
        "  SELECT q.event_id, q.reward, q.reward_time, q.source,\n"
        "    CASE WHEN q.reward_at < q.event_at THEN 'before_decision' WHEN q.reward_rank > 1 THEN 'duplicate'"
        " ELSE 'late' END AS reason\n"
        "  FROM (\n"
        "    SELECT w.event_id, w.event_at, r.reward, r.reward_value, r.reward_time, r.reward_at, r.source,\n"
        "      CASE WHEN r.reward_at >= w.event_at THEN row_number() OVER (PARTITION BY w.event_id, "
        "CASE WHEN r.reward_at >= w.event_at THEN 1 ELSE 0 END ORDER BY r.arrival, r.source, r.reward_time,"
        " r.reward_value) END AS reward_rank\n"
        f"    FROM (\n  {window_decisions(spec)}\n    ) w\n"
        f"    JOIN (\n  {reward_lines(spec)}\n    ) r\n"
        f"      ON r.event_id = w.event_id AND {_well_formed_reward('r', 'r.reward_at IS NOT NULL')}"
        f" AND {_in_range(spec, 'r.reward_value')}\n"
        "    WHERE w.decision_rank = 1\n"
        "  ) q\n"
        f"  WHERE q.reward_at < q.event_at OR q.reward_rank > 1\n"
        f"    OR q.reward_at > date_add('second', {int(spec.reward_wait_seconds)}, q.event_at)\n"
        ") q"
    )


def quarantine_unload(spec: JoinSpec) -> str:
    """`UNLOAD (<rejected lines>) TO '<quarantine prefix>' WITH (format = 'JSON')`."""
    if spec.quarantine_prefix is None:
        raise SqlBuildError("the spec has no quarantine_prefix")
    return f"UNLOAD (\n{quarantine_select(spec)}\n) TO {_literal(spec.quarantine_prefix)} WITH (format = 'JSON')"


COUNTED_REASONS = {
    "malformed_rewards": ("reward", "malformed"),
    "out_of_range_rewards": ("reward", "out_of_range"),
    "unmatched_rewards": ("reward", "unknown_event"),
    "backdated_rewards": ("reward", "before_decision"),
    "duplicate_rewards": ("reward", "duplicate"),
    "late_rewards": ("reward", "late"),
    "malformed_decisions": ("decision", "malformed"),
    "duplicate_decisions": ("decision", "duplicate"),
}
"""Count column -> (kind, reason) of the quarantined lines it counts."""
COUNT_COLUMNS = ("joined_rows", "defaulted_rows", *COUNTED_REASONS, "quarantined_lines")


def counts_select(spec: JoinSpec) -> str:
    """One row of counts, from the very selects the two UNLOADs write: joined rows, rows given the default reward,
    the quarantined lines per reason (`COUNTED_REASONS`) and in all."""
    per_reason = ",\n".join(
        f"  coalesce(sum(CASE WHEN q.kind = {_literal(kind)} AND q.reason = {_literal(reason)} THEN 1 ELSE 0 END), 0)"
        f" AS {name}"
        for name, (kind, reason) in COUNTED_REASONS.items()
    )
    names = ", ".join(f"q.{name}" for name in COUNTED_REASONS)
    return (
        f"SELECT j.joined_rows, j.defaulted_rows, {names}, q.quarantined_lines\n"
        "FROM (\n"
        "  SELECT count(*) AS joined_rows, coalesce(sum(CASE WHEN x.reward_time IS NULL THEN 1 ELSE 0 END), 0)"
        " AS defaulted_rows\n"
        f"  FROM (\n{joined_select(spec)}\n  ) x\n"
        ") j\n"
        "CROSS JOIN (\n"
        f"  SELECT\n{per_reason},\n  count(*) AS quarantined_lines\n"
        f"  FROM (\n{quarantine_select(spec)}\n  ) q\n"
        ") q"
    )
