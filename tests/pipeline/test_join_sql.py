"""The join SQL: its text (partition pruning, quoting) and its semantics, run in DuckDB with the contract's shims."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pipeline_common import join_sql
from pipeline_common.window import Window

from infra.data_lake import DECISION_COLUMNS, REWARD_COLUMNS

WINDOW = Window(datetime(2026, 11, 23, 1, 0, tzinfo=UTC), datetime(2026, 11, 23, 3, 0, tzinfo=UTC))
SHIMS = (
    # Like Trino's: a string that is not a timestamp fails the query (a cast, so `try()` can catch it).
    "CREATE MACRO from_iso8601_timestamp(x) AS CAST(x AS TIMESTAMPTZ)",
    "CREATE MACRO regexp_like(s, p) AS regexp_matches(s, p)",
    "CREATE MACRO date_add(unit, n, ts) AS ts + to_seconds(n)",
    "CREATE MACRO to_iso8601(ts) AS strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ')",
)


def spec(missing_reward: str = "default", wait: int = 300, window: Window = WINDOW) -> join_sql.JoinSpec:
    return join_sql.JoinSpec(
        database="bandit_demo",
        decisions_table="decisions",
        rewards_table="rewards",
        window=window,
        reward_wait_seconds=wait,
        missing_reward=missing_reward,
        default_reward=0.0,
        output_prefix="s3://bandit-lake/joined/run-1/",
    )


# --- text -----------------------------------------------------------------------------------------------------


def table_references(sql: str) -> list[tuple[str, str]]:
    """(table, alias) of every FROM/JOIN of a base table."""
    return re.findall(r'"bandit_demo"\."(\w+)" (\w+)', sql)


@pytest.mark.parametrize("build", [join_sql.joined_select, join_sql.counts_select, join_sql.unload])
def test_every_table_reference_is_restricted_to_hour_partitions(build: Any) -> None:
    sql = build(spec())
    references = table_references(sql)
    assert references, sql
    for _table, alias in references:
        assert re.search(rf"{alias}\.dt BETWEEN '\d{{4}}/\d\d/\d\d/\d\d' AND '\d{{4}}/\d\d/\d\d/\d\d'", sql), alias


def test_the_window_reads_only_its_own_hours_and_rewards_extend_by_the_wait() -> None:
    sql = join_sql.joined_select(spec(wait=3600))
    # decisions (01:00, 03:00] plus Firehose's delivery delay; rewards to end + wait + delay.
    assert "d.dt BETWEEN '2026/11/23/01' AND '2026/11/23/03'" in sql
    assert "r.dt BETWEEN '2026/11/23/01' AND '2026/11/23/04'" in sql
    assert "d.event_time > '2026-11-23T01:00:00.000Z'" in sql
    assert "d.event_time <= '2026-11-23T03:00:00.000Z'" in sql


def test_a_long_window_spans_days_of_partitions() -> None:
    window = Window(datetime(2026, 11, 20, 23, 30, tzinfo=UTC), datetime(2026, 11, 22, 5, 0, tzinfo=UTC))
    sql = join_sql.joined_select(spec(window=window, wait=0))
    assert "d.dt BETWEEN '2026/11/20/23' AND '2026/11/22/05'" in sql


def test_unload_writes_json_to_the_run_prefix() -> None:
    sql = join_sql.unload(spec())
    assert sql.startswith("UNLOAD (\nSELECT ")
    assert sql.endswith(") TO 's3://bandit-lake/joined/run-1/' WITH (format = 'JSON')")


def test_only_the_shared_dialect_is_used() -> None:
    sql = join_sql.counts_select(spec())
    for forbidden in ("WITH ", "count_if", "is_nan", "isnan", "::", "TRY_CAST", "regexp_matches"):
        assert forbidden not in sql


def test_string_columns_are_converted_without_failing_the_query() -> None:
    """Every conversion of a producer's string is a `try_cast` or a guarded parse: a bad line cannot fail Athena."""
    sql = join_sql.counts_select(spec())
    assert "try_cast(r.reward AS double)" in sql and "try_cast(d.action_prob AS double)" in sql
    assert "try_cast(d.action_index AS integer)" in sql
    assert "CAST(r.reward" not in sql and "CAST(d.action" not in sql
    # from_iso8601_timestamp only inside try(...), after the contract's exact format matched.
    calls = re.findall(r"(.{5})from_iso8601_timestamp\((\w+\.\w+)\)", sql)
    assert calls and all(prefix.endswith("try(") for prefix, _ in calls), calls
    assert f"regexp_like(r.reward_time, '{join_sql.ISO_MS_Z}')" in sql


@pytest.mark.parametrize(
    "changes",
    [
        {"database": 'bad"name'},
        {"rewards_table": "rewards; DROP TABLE x"},
        {"missing_reward": "ignore"},
        {"output_prefix": "/tmp/out"},
        {"default_reward": float("nan")},
        {"reward_wait_seconds": -1},
    ],
)
def test_unsafe_or_invalid_inputs_are_refused(changes: dict[str, Any]) -> None:
    values = {**spec().__dict__, **changes}
    with pytest.raises(join_sql.SqlBuildError):
        join_sql.joined_select(join_sql.JoinSpec(**values))


# --- semantics in DuckDB --------------------------------------------------------------------------------------


def decision(event_id: str, event_time: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_time": event_time,
        "experiment_id": "bandit-demo",
        "model_id": "m-0",
        "context": json.dumps({"x": 1}),
        "actions": json.dumps([{"id": "a"}, {"id": "b"}]),
        "action": "a",
        "action_index": 0,
        "action_prob": 0.5,
        "probabilities": "[0.5, 0.5]",
    }


def bad_decision(event_id: str, event_time: str, **fields: Any) -> dict[str, Any]:
    return {**decision(event_id, event_time), **fields}


def reward(event_id: str | None, value: Any, reward_time: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {"reward": value}
    if event_id is not None:
        row["event_id"] = event_id
    if reward_time is not None:
        row["reward_time"] = reward_time
    return row


DECISIONS = {
    "2026/11/23/00": [decision("before", "2026-11-23T00:59:00.000Z")],
    "2026/11/23/01": [
        decision("at-start", "2026-11-23T01:00:00.000Z"),  # the window is open at its start
        decision("first-wins", "2026-11-23T01:10:00.000Z"),
        decision("no-reward", "2026-11-23T01:30:00.000Z"),
        decision("malformed-only", "2026-11-23T01:40:00.000Z"),
        bad_decision("bad-prob", "2026-11-23T01:41:00.000Z", action_prob="high"),  # malformed: never joined
        bad_decision("bad-index", "2026-11-23T01:42:00.000Z", action_index="first"),  # malformed
    ],
    "2026/11/23/02": [
        decision("nan-then-valid", "2026-11-23T02:00:00.000Z"),
        decision("late", "2026-11-23T02:30:00.000Z"),
        decision("edge", "2026-11-23T02:59:59.999Z"),
        bad_decision("bad-time", "2026-11-23 02:10:00"),  # not the contract's format: malformed
        "not json",  # malformed
    ],
    "2026/11/23/03": [
        decision("at-end", "2026-11-23T03:00:00.000Z"),
        decision("after", "2026-11-23T03:00:00.001Z"),
    ],
    # In the window by time but filed under an hour outside it: never read (proves the dt restriction).
    "2026/11/22/10": [decision("outside-partition", "2026-11-23T01:20:00.000Z")],
}
REWARDS = {
    "2026/11/23/01": [
        reward("first-wins", 0.25, "2026-11-23T01:13:00.000Z"),
        reward("first-wins", 1.0, "2026-11-23T01:12:00.000Z"),
        reward("ghost", 1.0, "2026-11-23T01:20:00.000Z"),
        reward("malformed-only", "abc", "2026-11-23T01:41:00.000Z"),
        reward(None, 1.0, "2026-11-23T01:42:00.000Z"),
        reward("outside-partition", 1.0, "2026-11-23T01:21:00.000Z"),
    ],
    "2026/11/23/02": [
        reward("nan-then-valid", "NaN", "2026-11-23T02:01:00.000Z"),
        reward("nan-then-valid", 0.5, "2026-11-23T02:02:00.000Z"),
        reward("no-time", 1.0, None),
        reward("late", 1.0, "2026-11-23T02:40:00.000Z"),
        reward("null-reward", None, "2026-11-23T02:41:00.000Z"),
        reward("late", 1.0, "yesterday"),  # not ISO-8601 (Trino's from_iso8601_timestamp would fail on it)
        reward("late", 1.0, "2026-02-30T02:41:00.000Z"),  # the contract's format, but no such day
        reward("quoted", "0.5", "2026-11-23T02:42:00.000Z"),  # a number as a JSON string is a number
    ],
    "2026/11/23/03": [
        reward("edge", 0.75, "2026-11-23T03:04:00.000Z"),
        reward("after", 1.0, "2026-11-23T03:01:00.000Z"),
    ],
}


@pytest.fixture
def lake(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """The Glue tables (infra/data_lake.py: producer-set fields are strings) loaded from JSON-lines files, one file
    per hour partition; every field is read as its text, as the JSON SerDe reads a string column."""
    connection = duckdb.connect()
    for shim in SHIMS:
        connection.execute(shim)
    connection.execute("CREATE SCHEMA bandit_demo")
    for table, partitions in (("decisions", DECISIONS), ("rewards", REWARDS)):
        glue = dict(DECISION_COLUMNS if table == "decisions" else REWARD_COLUMNS)
        assert set(glue.values()) == {"string"}, glue
        columns = ", ".join(f"{name} VARCHAR" for name in glue)
        connection.execute(f"CREATE TABLE bandit_demo.{table} ({columns}, dt VARCHAR)")
        spec_text = "{" + ", ".join(f"{name}: 'VARCHAR'" for name in glue) + "}"
        for dt, rows in partitions.items():
            path = tmp_path / table / dt.replace("/", "-") / "part.json"
            path.parent.mkdir(parents=True)
            path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
            connection.execute(
                f"INSERT INTO bandit_demo.{table} SELECT *, '{dt}' FROM read_json('{path}', "
                f"format='newline_delimited', columns={spec_text}, ignore_errors=true)"
            )
    return connection


def joined(connection: duckdb.DuckDBPyConnection, sql: str) -> dict[str, tuple[float, str | None]]:
    cursor = connection.execute(sql)
    names = [column[0] for column in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert names[-2:] == ["reward", "reward_time"] and names[:10] == list(join_sql.DECISION_COLUMNS)
    return {row["event_id"]: (row["reward"], row["reward_time"]) for row in rows}


def test_default_policy_keeps_every_window_decision(lake: duckdb.DuckDBPyConnection) -> None:
    rows = joined(lake, join_sql.joined_select(spec("default")))
    assert rows == {
        "first-wins": (1.0, "2026-11-23T01:12:00.000Z"),  # the first reward by reward_time, not by file order
        "no-reward": (0.0, None),
        "malformed-only": (0.0, None),  # a malformed reward is no reward
        "nan-then-valid": (0.5, "2026-11-23T02:02:00.000Z"),  # NaN is malformed, the valid one counts
        "late": (0.0, None),  # 10 minutes after the decision: beyond the 300 s wait
        "edge": (0.75, "2026-11-23T03:04:00.000Z"),  # in the window's last ms, reward in the next hour folder
        "at-end": (0.0, None),
    }


def test_drop_policy_keeps_only_rewarded_decisions(lake: duckdb.DuckDBPyConnection) -> None:
    rows = joined(lake, join_sql.joined_select(spec("drop")))
    assert set(rows) == {"first-wins", "nan-then-valid", "edge"}


def test_a_longer_wait_accepts_the_late_reward(lake: duckdb.DuckDBPyConnection) -> None:
    rows = joined(lake, join_sql.joined_select(spec("default", wait=900)))
    assert rows["late"] == (1.0, "2026-11-23T02:40:00.000Z")


def test_counts(lake: duckdb.DuckDBPyConnection) -> None:
    cursor = lake.execute(join_sql.counts_select(spec("default")))
    names = [column[0] for column in cursor.description]
    counts = dict(zip(names, cursor.fetchone(), strict=True))
    assert tuple(names) == join_sql.COUNT_COLUMNS
    assert counts == {
        "joined_rows": 7,
        "defaulted_rows": 4,
        # 'ghost' and 'quoted' have no decision; 'outside-partition' has none in the hours read either.
        "unmatched_rewards": 3,
        # 'abc', missing event_id, 'NaN', missing reward_time, null reward, 'yesterday', February 30th.
        "malformed_rewards": 7,
        "late_rewards": 1,
        # 'bad-prob', 'bad-index', 'bad-time', the line that is not JSON.
        "malformed_decisions": 4,
    }


def test_a_decision_field_of_the_wrong_type_leaves_the_others_joined(lake: duckdb.DuckDBPyConnection) -> None:
    rows = joined(lake, join_sql.joined_select(spec("default")))
    assert not {"bad-prob", "bad-index", "bad-time"} & set(rows)
    cursor = lake.execute(join_sql.joined_select(spec("default")))
    types = {column[0]: str(column[1]) for column in cursor.description}
    assert (types["action_index"], types["action_prob"], types["reward"]) == ("INTEGER", "DOUBLE", "DOUBLE")
