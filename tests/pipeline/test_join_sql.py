"""The join SQL: its text (partition pruning, quoting) and its semantics, run by the local Athena engine."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pipeline_common import join_sql
from pipeline_common.window import Window

from container.core.layout import Layout
from container.core.policy import Policy
from container.training import train
from contract.records import decision_record
from infra.data_lake import DECISION_COLUMNS, REWARD_COLUMNS, SERDE_PARAMETERS
from local.engines.athena import TableSource, local_table, run_query

WINDOW = Window(datetime(2026, 11, 23, 1, 0, tzinfo=UTC), datetime(2026, 11, 23, 3, 0, tzinfo=UTC))


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


@pytest.mark.parametrize(
    "build", [join_sql.joined_select, join_sql.counts_select, join_sql.unload, join_sql.quarantine_select]
)
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
        {"reward_range": (1.0, 1.0)},
        {"reward_range": (0.0, float("inf"))},
        {"quarantine_prefix": "s3://bandit-lake/quarantine/run-1"},
    ],
)
def test_unsafe_or_invalid_inputs_are_refused(changes: dict[str, Any]) -> None:
    values = {**spec().__dict__, **changes}
    with pytest.raises(join_sql.SqlBuildError):
        join_sql.joined_select(join_sql.JoinSpec(**values))


# --- semantics in DuckDB --------------------------------------------------------------------------------------


def decision(event_id: str, event_time: str) -> dict[str, Any]:
    """A valid decision (the contract's record) for a two-action policy that chose `a`."""
    choice = {"action": "a", "action_index": 0, "action_prob": 0.5, "probabilities": [0.5, 0.5]}
    policy = {"experiment_id": "bandit-demo", "model_id": "m-0", "actions": [{"id": "a"}, {"id": "b"}]}
    return decision_record(event_id=event_id, event_time=event_time, context={"x": 1}, **policy, **choice)


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


def write_lines(root: Path, table: str, dt: str, name: str, rows: list[Any]) -> None:
    path = root / table / dt / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))


def firehose_name(table: str, dt: str, minute: int = 59, tag: str = "a") -> str:
    """A Firehose object name: `<stream>-<version>-YYYY-MM-dd-HH-mm-ss-<uuid>` (the object's arrival time)."""
    return f"{table}-1-{dt.replace('/', '-')}-{minute:02d}-00-{tag}"


def tables_at(root: Path) -> dict[tuple[str, str], TableSource]:
    """The Glue tables (infra/data_lake.py: producer-set fields are strings, the stack's SerDe parameters) over the
    Firehose hour folders under `root`, as the local Athena engine reads them."""
    tables = {}
    for table, columns in (("decisions", DECISION_COLUMNS), ("rewards", REWARD_COLUMNS)):
        assert {kind for _, kind in columns} == {"string"}, columns
        source = local_table("bandit_demo", table, list(columns), root / table, serde_parameters=dict(SERDE_PARAMETERS))
        tables[("bandit_demo", table)] = source
    return tables


@pytest.fixture
def lake(tmp_path: Path) -> dict[tuple[str, str], TableSource]:
    """DECISIONS and REWARDS, one Firehose-named object per hour partition."""
    for table, partitions in (("decisions", DECISIONS), ("rewards", REWARDS)):
        for dt, rows in partitions.items():
            write_lines(tmp_path, table, dt, firehose_name(table, dt), rows)
    return tables_at(tmp_path)


def select(tables: dict[tuple[str, str], TableSource], sql: str) -> list[dict[str, Any]]:
    answer = run_query(sql, tables)
    names = [name for name, _ in answer["columns"]]
    return [dict(zip(names, row, strict=True)) for row in answer["rows"]]


def joined(tables: dict[tuple[str, str], TableSource], sql: str) -> dict[str, tuple[float, str | None]]:
    answer = run_query(sql, tables)
    names = [name for name, _ in answer["columns"]]
    assert names[-2:] == ["reward", "reward_time"] and names[:-2] == list(join_sql.DECISION_COLUMNS)
    rows = [dict(zip(names, row, strict=True)) for row in answer["rows"]]
    assert len({row["event_id"] for row in rows}) == len(rows), "an event joined twice"
    return {row["event_id"]: (row["reward"], row["reward_time"]) for row in rows}


def counts(tables: dict[tuple[str, str], TableSource], spec: join_sql.JoinSpec) -> dict[str, int]:
    answer = run_query(join_sql.counts_select(spec), tables)
    assert tuple(name for name, _ in answer["columns"]) == join_sql.COUNT_COLUMNS
    return dict(zip(join_sql.COUNT_COLUMNS, answer["rows"][0], strict=True))


def test_default_policy_keeps_every_window_decision(lake: dict[tuple[str, str], TableSource]) -> None:
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


def test_drop_policy_keeps_only_rewarded_decisions(lake: dict[tuple[str, str], TableSource]) -> None:
    rows = joined(lake, join_sql.joined_select(spec("drop")))
    assert set(rows) == {"first-wins", "nan-then-valid", "edge"}


def test_a_longer_wait_accepts_the_late_reward(lake: dict[tuple[str, str], TableSource]) -> None:
    rows = joined(lake, join_sql.joined_select(spec("default", wait=900)))
    assert rows["late"] == (1.0, "2026-11-23T02:40:00.000Z")


def test_counts(lake: dict[tuple[str, str], TableSource]) -> None:
    assert counts(lake, spec("default")) == {
        "joined_rows": 7,
        "defaulted_rows": 4,
        # 'abc', missing event_id, 'NaN', missing reward_time, null reward, 'yesterday', February 30th.
        "malformed_rewards": 7,
        "out_of_range_rewards": 0,
        # 'ghost' and 'quoted' have no decision; 'outside-partition' has none in the hours read either.
        "unmatched_rewards": 3,
        "backdated_rewards": 0,
        "duplicate_rewards": 1,  # first-wins' second reward
        "late_rewards": 1,
        # 'bad-prob', 'bad-index', 'bad-time', the line that is not JSON.
        "malformed_decisions": 4,
        "duplicate_decisions": 0,
        "quarantined_lines": 16,
    }


def test_a_decision_field_of_the_wrong_type_leaves_the_others_joined(
    lake: dict[tuple[str, str], TableSource],
) -> None:
    rows = joined(lake, join_sql.joined_select(spec("default")))
    assert not {"bad-prob", "bad-index", "bad-time"} & set(rows)
    types = dict(run_query(join_sql.joined_select(spec("default")), lake)["columns"])
    assert (types["action_index"], types["action_prob"], types["reward"]) == ("INTEGER", "DOUBLE", "DOUBLE")


# --- integrity: one row per event, rewards by arrival, range, quarantine ----------------------------------------


def one_hour_spec(wait: int = 300) -> join_sql.JoinSpec:
    window = Window(datetime(2026, 11, 23, 1, 0, tzinfo=UTC), datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    return spec(wait=wait, window=window)


HOUR = "2026/11/23/01"


def test_a_decision_delivered_twice_or_a_reused_event_id_joins_once(tmp_path: Path) -> None:
    """Firehose redelivers a batch (the same line in a second object, or twice in one); a client reuses an id."""
    first = decision("twice", "2026-11-23T01:10:00.000Z")
    reused = {**decision("reused", "2026-11-23T01:20:00.000Z"), "action": "a"}
    write_lines(tmp_path, "decisions", HOUR, firehose_name("decisions", HOUR, 15, "a"), [first, first, reused])
    later = {**decision("reused", "2026-11-23T01:25:00.000Z"), "action": "b", "action_index": 1}
    write_lines(tmp_path, "decisions", HOUR, firehose_name("decisions", HOUR, 30, "b"), [first, later])
    write_lines(
        tmp_path,
        "rewards",
        HOUR,
        firehose_name("rewards", HOUR),
        [reward("twice", 1.0, "2026-11-23T01:11:00.000Z"), reward("reused", 0.5, "2026-11-23T01:22:00.000Z")],
    )
    tables = tables_at(tmp_path)
    rows = select(tables, join_sql.joined_select(one_hour_spec()))
    assert sorted((row["event_id"], row["action"], row["reward"]) for row in rows) == [
        ("reused", "a", 0.5),  # the first decision of the id is kept, the later one is a duplicate
        ("twice", "a", 1.0),
    ]
    numbers = counts(tables, one_hour_spec())
    assert numbers["joined_rows"] == 2 and numbers["duplicate_decisions"] == 3
    quarantined = select(tables, join_sql.quarantine_select(one_hour_spec()))
    assert sorted((q["reason"], q["kind"], q["event_id"], q["event_time"]) for q in quarantined) == [
        ("duplicate", "decision", "reused", "2026-11-23T01:25:00.000Z"),
        ("duplicate", "decision", "twice", "2026-11-23T01:10:00.000Z"),
        ("duplicate", "decision", "twice", "2026-11-23T01:10:00.000Z"),
    ]


def one_decision_lake(root: Path, *reward_objects: tuple[int, str, list[Any]]) -> dict[tuple[str, str], TableSource]:
    """Decision `e` at 01:10 and each `(minute, tag, rewards)` as one reward object arriving at that minute."""
    write_lines(root, "decisions", HOUR, firehose_name("decisions", HOUR), [decision("e", "2026-11-23T01:10:00.000Z")])
    for minute, tag, rows in reward_objects:
        write_lines(root, "rewards", HOUR, firehose_name("rewards", HOUR, minute, tag), rows)
    return tables_at(root)


def test_rewards_rank_by_arrival_not_by_the_clients_reward_time(tmp_path: Path) -> None:
    """A forged duplicate dated just after the decision, sent after the genuine reward, does not replace it."""
    genuine = reward("e", 1.0, "2026-11-23T01:12:00.000Z")
    forged = reward("e", 0.0, "2026-11-23T01:10:00.001Z")
    tables = one_decision_lake(tmp_path, (12, "genuine", [genuine]), (40, "forged", [forged]))
    assert joined(tables, join_sql.joined_select(one_hour_spec())) == {"e": (1.0, "2026-11-23T01:12:00.000Z")}
    quarantined = select(tables, join_sql.quarantine_select(one_hour_spec()))
    assert [(q["reason"], q["reward"], q["source"].rsplit("-", 1)[1]) for q in quarantined] == [
        ("duplicate", "0.0", "forged")
    ]


def test_a_reward_dated_before_its_decision_is_rejected(tmp_path: Path) -> None:
    backdated = [reward("e", 1.0, "1970-01-01T00:00:00.000Z"), reward("e", 1.0, "2026-11-23T01:09:59.999Z")]
    tables = one_decision_lake(tmp_path, (59, "a", backdated))
    assert joined(tables, join_sql.joined_select(one_hour_spec())) == {"e": (0.0, None)}
    numbers = counts(tables, one_hour_spec())
    assert numbers["backdated_rewards"] == 2 and numbers["defaulted_rows"] == 1 and numbers["quarantined_lines"] == 2


def test_a_reward_outside_the_range_is_quarantined_and_the_next_one_counts(tmp_path: Path) -> None:
    huge, fair = reward("e", 1e6, "2026-11-23T01:11:00.000Z"), reward("e", 0.5, "2026-11-23T01:12:00.000Z")
    tables = one_decision_lake(tmp_path, (11, "a", [huge]), (12, "b", [fair]))
    assert joined(tables, join_sql.joined_select(one_hour_spec())) == {"e": (0.5, "2026-11-23T01:12:00.000Z")}
    quarantined = select(tables, join_sql.quarantine_select(one_hour_spec()))
    assert [(q["reason"], q["kind"], q["event_id"], q["reward"]) for q in quarantined] == [
        ("out_of_range", "reward", "e", "1000000.0")
    ]
    wide = join_sql.JoinSpec(**{**one_hour_spec().__dict__, "reward_range": (-1.0, 2e6)})
    assert joined(tables, join_sql.joined_select(wide)) == {"e": (1e6, "2026-11-23T01:11:00.000Z")}


def _policy_after(rows: list[dict[str, Any]], root: Path) -> list[list[float]]:
    """The `train` job on these joined rows (sorted, so the order is the same); its distribution per context."""
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps({"model_id": "m-1", "seed": "7"}))
    (root / "input" / "data" / "training").mkdir(parents=True)
    lines = "".join(json.dumps(row) + "\n" for row in sorted(rows, key=lambda r: r["event_id"]))
    (root / "input" / "data" / "training" / "part-0.json").write_text(lines)
    train.run(Layout(root))
    policy = Policy.load(root / "model", seed=11)
    return [policy.distribution({"x": x}) for x in range(10)]


def test_one_huge_reward_among_2000_rows_does_not_move_the_policy(tmp_path: Path) -> None:
    """The same policy trains from the lake with a 1e6 reward as from the lake without it; had the 1e6 been
    joined (the old rule: any finite reward), the policy would have moved. (`e8` is on the training side of the
    holdout split.)"""

    def logged(i: int) -> dict[str, Any]:
        return {
            **decision(f"e{i}", f"2026-11-23T01:{i // 60:02d}:{i % 60:02d}.001Z"),
            "context": json.dumps({"x": i % 10}),
            "action": "ab"[i % 2],
            "action_index": i % 2,
        }

    decisions = [logged(i) for i in range(2000)]
    rewards = [reward(f"e{i}", (i % 7) / 6, f"2026-11-23T02:00:00.{i % 1000:03d}Z") for i in range(2000)]
    clean, attacked = tmp_path / "clean", tmp_path / "attacked"
    for root, extra in ((clean, []), (attacked, [reward("e8", 1e6, "2026-11-23T01:30:00.000Z")])):
        write_lines(root, "decisions", HOUR, firehose_name("decisions", HOUR), decisions)
        write_lines(root, "rewards", HOUR, firehose_name("rewards", HOUR, 10, "attack"), extra)
        write_lines(root, "rewards", "2026/11/23/02", firehose_name("rewards", "2026/11/23/02", 5), rewards)
    the_spec = one_hour_spec(wait=3600)
    expected = select(tables_at(clean), join_sql.joined_select(the_spec))
    got = select(tables_at(attacked), join_sql.joined_select(the_spec))
    assert len(expected) == 2000 and max(row["reward"] for row in expected) == 1.0
    assert sorted(got, key=lambda r: r["event_id"]) == sorted(expected, key=lambda r: r["event_id"])
    assert counts(tables_at(attacked), the_spec)["out_of_range_rewards"] == 1
    served = _policy_after(expected, tmp_path / "train-clean")
    assert _policy_after(got, tmp_path / "train-attacked") == served
    forged = [{**row, "reward": 1e6} if row["event_id"] == "e8" else row for row in expected]
    assert _policy_after(forged, tmp_path / "train-forged") != served  # the test can tell a moved policy


def test_every_rejected_line_is_quarantined_with_its_reason(lake: dict[tuple[str, str], TableSource]) -> None:
    rows = select(lake, join_sql.quarantine_select(spec("default")))
    assert [name for name in rows[0]] == list(join_sql.QUARANTINE_COLUMNS)
    reasons = sorted((q["kind"], q["reason"], q["event_id"] or "-") for q in rows)
    assert reasons == sorted(
        [("decision", "malformed", e) for e in ("bad-prob", "bad-index", "bad-time", "-")]
        + [("reward", "malformed", e) for e in ("malformed-only", "-", "nan-then-valid", "no-time", "null-reward")]
        + [("reward", "malformed", "late"), ("reward", "malformed", "late")]  # 'yesterday', February 30th
        + [("reward", "unknown_event", e) for e in ("ghost", "quoted", "outside-partition")]
        + [("reward", "duplicate", "first-wins"), ("reward", "late", "late")]
    )
    assert all(
        q["source"].startswith(str(Path(q["source"]).parents[4])) and q["reason"] in join_sql.REASONS for q in rows
    )


def test_a_line_in_an_hour_two_windows_share_is_judged_by_one_run(tmp_path: Path) -> None:
    """Malformed and unknown lines belong to the run owning their hour folder: `[hour(start), hour(end))`."""
    write_lines(tmp_path, "rewards", "2026/11/23/02", firehose_name("rewards", "2026/11/23/02"), ["not json"])
    tables = tables_at(tmp_path)
    first = one_hour_spec()  # (01:00, 02:00]: reads hour 02 for rewards, does not own it
    second = spec(window=Window(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), datetime(2026, 11, 23, 3, 0, tzinfo=UTC)))
    assert counts(tables, first)["malformed_rewards"] == 0 and counts(tables, second)["malformed_rewards"] == 1


def test_the_quarantine_unload_writes_to_the_run_quarantine_prefix() -> None:
    the_spec = join_sql.JoinSpec(**{**spec().__dict__, "quarantine_prefix": "s3://bandit-lake/quarantine/run-1/"})
    sql = join_sql.quarantine_unload(the_spec)
    assert sql.endswith(") TO 's3://bandit-lake/quarantine/run-1/' WITH (format = 'JSON')")
    with pytest.raises(join_sql.SqlBuildError, match="no quarantine_prefix"):
        join_sql.quarantine_unload(spec())
