"""The local Athena engine: the project's join SQL over Firehose-layout JSON lines in (moto's) S3 via Glue tables,
partition pruning, malformed lines, result shapes through boto3, failures, UNLOAD semantics."""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from botocore.exceptions import ClientError

from local.aws import client
from local.engines.athena import AthenaEngine, local_table, run_query
from local.gateway import Gateway

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "lambdas"))

from pipeline_common import join_sql  # noqa: E402
from pipeline_common.window import Window  # noqa: E402

from contract.records import decision_record  # noqa: E402
from infra.data_lake import DECISION_COLUMNS, REWARD_COLUMNS, SERDE_PARAMETERS, glue_table_input  # noqa: E402

_TYPED = {"action_index": "int", "action_prob": "double", "reward": "double"}
OLD_DECISION_COLUMNS = [(name, _TYPED.get(name, kind)) for name, kind in DECISION_COLUMNS]
OLD_REWARD_COLUMNS = [(name, _TYPED.get(name, kind)) for name, kind in REWARD_COLUMNS]
"""The schema before issue 12: typed columns the OpenX JSON SerDe fails the whole query on."""


def _decision(event_id: str, when: str) -> dict[str, Any]:
    """A valid decision (the contract's record) for a two-action policy that chose `b`."""
    choice = {"action": "b", "action_index": 1, "action_prob": 0.5, "probabilities": [0.5, 0.5]}
    policy = {"experiment_id": "exp", "model_id": "m0", "actions": [{"id": "a"}, {"id": "b"}]}
    return decision_record(event_id=event_id, event_time=when, context={"x": 1}, **policy, **choice)


def _lines(records: list[Any]) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode()


class Lake:
    """A bucket with the Firehose layout and the two Glue tables with partition projection."""

    def __init__(
        self,
        gateway: Gateway,
        decision_columns: Any = DECISION_COLUMNS,
        reward_columns: Any = REWARD_COLUMNS,
        serde: dict[str, str] = SERDE_PARAMETERS,
    ) -> None:
        self.url = gateway.url
        self.bucket = f"lake-{uuid.uuid4().hex[:8]}"
        self.database = f"db_{uuid.uuid4().hex[:8]}"
        self.s3 = client("s3", endpoint_url=self.url)
        self.s3.create_bucket(Bucket=self.bucket)
        glue = client("glue", endpoint_url=self.url)
        glue.create_database(DatabaseInput={"Name": self.database})
        for table, columns in (("decisions", decision_columns), ("rewards", reward_columns)):
            location = f"s3://{self.bucket}/{table}/"
            glue.create_table(DatabaseName=self.database, TableInput=glue_table_input(table, location, columns, serde))

    def put(self, key: str, records: list[Any], compress: bool = True) -> None:
        body = _lines(records)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=gzip.compress(body) if compress else body)

    def keys(self, prefix: str) -> list[str]:
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix).get("Contents", [])]

    def read_lines(self, key: str) -> list[dict[str, Any]]:
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


@pytest.fixture
def lake(gateway: Gateway) -> Lake:
    return Lake(gateway)


@pytest.fixture
def engine(gateway: Gateway, tmp_path: Path) -> Iterator[AthenaEngine]:
    eng = AthenaEngine(state_dir=tmp_path / "athena", endpoint_url=gateway.url)
    yield eng
    eng.close()


@pytest.fixture
def athena(gateway: Gateway, engine: AthenaEngine) -> Iterator[Any]:
    """boto3's Athena client through the gateway, answered by this engine."""
    previous = gateway.athena
    gateway.athena = engine
    yield client("athena", endpoint_url=gateway.url)
    gateway.athena = previous


def _spec(lake: Lake, run_id: str, missing: str = "default") -> join_sql.JoinSpec:
    window = Window(start=datetime(2026, 11, 23, 1, 0, tzinfo=UTC), end=datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    return join_sql.JoinSpec(
        database=lake.database,
        decisions_table="decisions",
        rewards_table="rewards",
        window=window,
        reward_wait_seconds=600,
        missing_reward=missing,
        default_reward=0.0,
        output_prefix=f"s3://{lake.bucket}/joined/{run_id}/",
    )


def _fill(lake: Lake) -> None:
    """Decisions in hours 00 (before the window), 01 (inside), 05 (far after); rewards, a duplicate, bad lines."""
    lake.put(
        "decisions/2026/11/23/00/d-0.gz",
        [_decision("old", "2026-11-23T00:30:00.000Z")],
    )
    lake.put(
        "decisions/2026/11/23/01/d-1.gz",
        [_decision("e1", "2026-11-23T01:10:00.000Z"), _decision("e2", "2026-11-23T01:20:00.000Z")],
    )
    lake.put(
        "decisions/2026/11/23/01/d-2",  # plain, no extension (Firehose without compression)
        [
            _decision("e3", "2026-11-23T01:50:00.000Z"),
            {**_decision("e4", "2026-11-23T01:51:00.000Z"), "action_prob": "high"},  # malformed decision
        ],
        compress=False,
    )
    lake.put("decisions/2026/11/23/05/d-5.gz", [_decision("far", "2026-11-23T05:00:00.000Z")])
    lake.put(
        "rewards/2026/11/23/01/r-1.gz",
        [
            {"event_id": "e1", "reward": 1.0, "reward_time": "2026-11-23T01:10:05.000Z"},
            {"event_id": "e1", "reward": 0.0, "reward_time": "2026-11-23T01:11:00.000Z"},  # duplicate: first wins
            {"event_id": "e2", "reward": 0.5, "reward_time": "2026-11-23T01:45:00.000Z"},  # after the 600 s wait
            {"event_id": "ghost", "reward": 1.0, "reward_time": "2026-11-23T01:30:00.000Z"},  # unknown event
            "this is not json",
            {"event_id": "e3", "reward": "not a number", "reward_time": "2026-11-23T01:55:00.000Z"},
            [1, 2, 3],
        ],
    )
    lake.put("rewards/2026/11/23/09/r-9.gz", [{"event_id": "e3", "reward": 1.0, "reward_time": "x"}])


def _run(athena: Any, engine: AthenaEngine, sql: str, lake: Lake, database: str | None = None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "QueryString": sql,
        "ResultConfiguration": {"OutputLocation": f"s3://{lake.bucket}/athena-results/"},
        "WorkGroup": "primary",
    }
    if database:
        kwargs["QueryExecutionContext"] = {"Database": database}
    query_id = athena.start_query_execution(**kwargs)["QueryExecutionId"]
    engine.wait(query_id, timeout=60)
    return athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]


def test_unload_of_the_join_writes_json_lines_and_reads_only_the_window(
    athena: Any, engine: AthenaEngine, lake: Lake
) -> None:
    _fill(lake)
    spec = _spec(lake, "run-1")
    execution = _run(athena, engine, join_sql.unload(spec), lake)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    assert execution["SubstatementType"] == "UNLOAD"
    files = engine.files_read(execution["QueryExecutionId"])
    assert sorted(files) == sorted(
        [
            f"s3://{lake.bucket}/decisions/2026/11/23/01/d-1.gz",
            f"s3://{lake.bucket}/decisions/2026/11/23/01/d-2",
            f"s3://{lake.bucket}/rewards/2026/11/23/01/r-1.gz",
        ]
    )
    assert execution["Statistics"]["DataScannedInBytes"] > 0
    written = lake.keys("joined/run-1/")
    assert written and all(key.endswith(".gz") for key in written)
    rows = {row["event_id"]: row for key in written for row in lake.read_lines(key)}
    assert set(rows) == {"e1", "e2", "e3"}
    assert rows["e1"]["reward"] == 1.0 and rows["e1"]["reward_time"] == "2026-11-23T01:10:05.000Z"
    assert rows["e2"]["reward"] == 0.0 and rows["e2"]["reward_time"] is None  # late: default reward
    assert rows["e3"]["reward"] == 0.0  # its only reward was malformed
    assert rows["e1"]["action_index"] == 1 and rows["e1"]["action_prob"] == 0.5
    assert rows["e1"]["context"] == _decision("e1", "")["context"]  # the decision's text, passed through as logged
    manifest = execution["ResultConfiguration"]["OutputLocation"]
    assert manifest.endswith("-manifest.csv")
    body = lake.s3.get_object(Bucket=lake.bucket, Key=manifest.split(lake.bucket + "/", 1)[1])["Body"].read()
    assert sorted(body.decode().split()) == sorted(f"s3://{lake.bucket}/{key}" for key in written)

    again = _run(athena, engine, join_sql.unload(spec), lake)
    assert again["Status"]["State"] == "FAILED"
    assert "HIVE_PATH_ALREADY_EXISTS" in again["Status"]["StateChangeReason"]


def test_count_query_results_shape_and_malformed_lines(athena: Any, engine: AthenaEngine, lake: Lake) -> None:
    _fill(lake)
    execution = _run(athena, engine, join_sql.counts_select(_spec(lake, "run-2")), lake)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    query_id = execution["QueryExecutionId"]
    results = athena.get_query_results(QueryExecutionId=query_id)
    rows = results["ResultSet"]["Rows"]
    header = [cell["VarCharValue"] for cell in rows[0]["Data"]]
    assert header == list(join_sql.COUNT_COLUMNS)
    values = dict(zip(header, (int(cell["VarCharValue"]) for cell in rows[1]["Data"]), strict=True))
    assert values == {
        "joined_rows": 3,
        "defaulted_rows": 2,
        "malformed_rewards": 3,
        "out_of_range_rewards": 0,
        "unmatched_rewards": 1,
        "backdated_rewards": 0,
        "duplicate_rewards": 1,
        "late_rewards": 1,
        "malformed_decisions": 1,
        "duplicate_decisions": 0,
        "quarantined_lines": 7,
    }
    info = results["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [c["Name"] for c in info] == header and all(c["Type"] == "bigint" for c in info)
    assert execution["ResultConfiguration"]["OutputLocation"].endswith(f"{query_id}.csv")
    csv_key = execution["ResultConfiguration"]["OutputLocation"].split(lake.bucket + "/", 1)[1]
    text = lake.s3.get_object(Bucket=lake.bucket, Key=csv_key)["Body"].read().decode()
    assert text.splitlines()[0] == ",".join(f'"{c}"' for c in header)
    assert query_id in athena.list_query_executions(WorkGroup="primary")["QueryExecutionIds"]


def test_path_pseudo_column_is_the_s3_uri_of_the_rows_object(athena: Any, engine: AthenaEngine, lake: Lake) -> None:
    _fill(lake)
    sql = (
        f'SELECT r."$path" AS source, count(*) AS n FROM "{lake.database}"."rewards" r '
        "WHERE r.dt BETWEEN '2026/11/23/00' AND '2026/11/23/23' GROUP BY 1 ORDER BY 1"
    )
    execution = _run(athena, engine, sql, lake)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    rows = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])["ResultSet"]["Rows"][1:]
    assert [[cell.get("VarCharValue") for cell in row["Data"]] for row in rows] == [
        [f"s3://{lake.bucket}/rewards/2026/11/23/01/r-1.gz", "7"],
        [f"s3://{lake.bucket}/rewards/2026/11/23/09/r-9.gz", "1"],
    ]


def test_the_quarantine_unload_writes_each_rejected_line_with_its_reason(
    athena: Any, engine: AthenaEngine, lake: Lake
) -> None:
    _fill(lake)
    spec = join_sql.JoinSpec(
        **{**_spec(lake, "run-q").__dict__, "quarantine_prefix": f"s3://{lake.bucket}/quarantine/run-q/"}
    )
    execution = _run(athena, engine, join_sql.quarantine_unload(spec), lake)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    lines = [line for key in lake.keys("quarantine/run-q/") for line in lake.read_lines(key)]
    assert sorted((q["kind"], q["reason"], q["event_id"] or "-") for q in lines) == [
        ("decision", "malformed", "e4"),
        ("reward", "duplicate", "e1"),
        ("reward", "late", "e2"),
        ("reward", "malformed", "-"),  # 'this is not json'
        ("reward", "malformed", "-"),  # the JSON array line
        ("reward", "malformed", "e3"),
        ("reward", "unknown_event", "ghost"),
    ]
    assert {q["source"] for q in lines if q["kind"] == "reward"} == {f"s3://{lake.bucket}/rewards/2026/11/23/01/r-1.gz"}
    assert execution["Statistics"]["DataScannedInBytes"] > 0


def test_select_with_default_database_nulls_and_paging(athena: Any, engine: AthenaEngine, lake: Lake) -> None:
    lake.put("rewards/2026/11/23/03/r.gz", [{"event_id": f"e{i}", "reward": i} for i in range(5)] + ["{broken"])
    sql = (
        "SELECT r.event_id, r.reward, r.reward_time, r.dt, to_iso8601(from_iso8601_timestamp('2026-11-23T01:00:00Z'))"
        " AS t FROM rewards r WHERE r.dt BETWEEN '2026/11/23/03' AND '2026/11/23/03' ORDER BY r.event_id NULLS LAST"
    )
    execution = _run(athena, engine, sql, lake, database=lake.database)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    first = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"], MaxResults=3)
    assert [c.get("VarCharValue") for c in first["ResultSet"]["Rows"][0]["Data"]] == [
        "event_id",
        "reward",
        "reward_time",
        "dt",
        "t",
    ]
    assert first["ResultSet"]["Rows"][1]["Data"][2] == {}  # NULL has no VarCharValue
    assert first["ResultSet"]["Rows"][1]["Data"][3]["VarCharValue"] == "2026/11/23/03"
    assert first["ResultSet"]["Rows"][1]["Data"][4]["VarCharValue"] == "2026-11-23T01:00:00.000Z"
    rest = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"], NextToken=first["NextToken"])
    total = len(first["ResultSet"]["Rows"]) - 1 + len(rest["ResultSet"]["Rows"])
    assert total == 6 and "NextToken" not in rest  # 5 rewards + the broken line as a row of NULLs


def test_bad_sql_fails_with_a_reason(athena: Any, engine: AthenaEngine, lake: Lake) -> None:
    execution = _run(athena, engine, "SELEC nonsense FROM", lake)
    assert execution["Status"]["State"] == "FAILED"
    assert execution["Status"]["StateChangeReason"]
    assert execution["Status"]["AthenaError"]["ErrorMessage"]
    with pytest.raises(ClientError) as raised:
        athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    assert raised.value.response["Error"]["Code"] == "InvalidRequestException"

    missing = _run(athena, engine, f"SELECT count(*) FROM {lake.database}.nosuch", lake)
    assert missing["Status"]["State"] == "FAILED"
    assert "TABLE_NOT_FOUND" in missing["Status"]["StateChangeReason"]

    with pytest.raises(ClientError) as unknown:
        athena.get_query_execution(QueryExecutionId="no-such-id")
    assert unknown.value.response["Error"]["Code"] == "InvalidRequestException"


def test_trino_shims() -> None:
    answer = run_query(
        "SELECT to_iso8601(date_add('second', 90, from_iso8601_timestamp('2026-11-23T23:59:00.123Z'))) AS a,"
        " to_iso8601(from_iso8601_timestamp('2026-11-23T02:00:00.000+02:00')) AS b,"
        " is_nan(CAST('NaN' AS DOUBLE)) AS c, CAST('NaN' AS DOUBLE) BETWEEN -1.0E308 AND 1.0E308 AS d,"
        " try(from_iso8601_timestamp('garbage')) AS e,"
        " date_diff('second', from_iso8601_timestamp('2026-11-23T00:00:00.000Z'),"
        " from_iso8601_timestamp('2026-11-23T00:01:00.000Z')) AS f,"
        " regexp_like('abc', 'b') AS g, (SELECT count_if(x > 1) FROM range(5) t(x)) AS h",
        {},
    )
    assert answer["rows"] == [("2026-11-24T00:00:30.123Z", "2026-11-23T00:00:00.000Z", True, False, None, 60, True, 3)]


def test_run_query_over_a_local_directory(tmp_path: Path) -> None:
    hour = tmp_path / "rewards" / "2026" / "11" / "23" / "04"
    hour.mkdir(parents=True)
    (hour / "r.gz").write_bytes(gzip.compress(_lines([{"event_id": "a", "reward": 2.5}, "bad"])))
    table = local_table("db", "rewards", OLD_REWARD_COLUMNS, tmp_path / "rewards", serde_parameters=SERDE_PARAMETERS)
    answer = run_query(
        "SELECT count(*), sum(reward), min(dt) FROM db.rewards WHERE dt BETWEEN '2026/11/23/00' AND '2026/11/23/23'",
        {("db", "rewards"): table},
    )
    assert answer["rows"] == [(2, 2.5, "2026/11/23/04")]


def test_stop_query_execution_cancels(athena: Any, engine: AthenaEngine, lake: Lake) -> None:
    query_id = athena.start_query_execution(
        QueryString="SELECT count(*) FROM range(100000000000) a, range(1000) b WHERE a.range * b.range = 7",
        ResultConfiguration={"OutputLocation": f"s3://{lake.bucket}/athena-results/"},
    )["QueryExecutionId"]
    deadline = time.monotonic() + 10
    while athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    athena.stop_query_execution(QueryExecutionId=query_id)
    assert engine.wait(query_id, timeout=20) == "CANCELLED"


def test_ctes_and_from_inside_functions_are_not_tables(athena: Any, engine: AthenaEngine, lake: Lake) -> None:
    lake.put("rewards/2026/11/23/06/r.gz", [{"event_id": "z", "reward": 1, "reward_time": "2026-11-23T06:07:00.000Z"}])
    sql = (
        "WITH firsts AS (SELECT r.event_id, r.reward_time FROM rewards r"
        " WHERE r.dt BETWEEN '2026/11/23/06' AND '2026/11/23/06')"
        " SELECT event_id, extract(hour FROM from_iso8601_timestamp(reward_time)) AS h, 'FROM nowhere' AS s"
        " FROM firsts"
    )
    execution = _run(athena, engine, sql, lake, database=lake.database)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    rows = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])["ResultSet"]["Rows"]
    assert [c["VarCharValue"] for c in rows[1]["Data"]] == ["z", "6", "FROM nowhere"]
    assert engine.files_read(execution["QueryExecutionId"]) == [f"s3://{lake.bucket}/rewards/2026/11/23/06/r.gz"]


def test_cache_is_pruned_least_recently_used_first(tmp_path: Path) -> None:
    eng = AthenaEngine(state_dir=tmp_path, endpoint_url="http://127.0.0.1:9")
    try:
        eng.cache_dir.mkdir(parents=True, exist_ok=True)
        for index in range(4):
            path = eng.cache_dir / f"{index}.json"
            path.write_bytes(b"x" * 100)
            os.utime(path, (1000 + index, 1000 + index))
        eng.prune_cache(limit=250)
        assert sorted(p.name for p in eng.cache_dir.iterdir()) == ["2.json", "3.json"]
    finally:
        eng.close()


# --- Athena's rules: the OpenX JSON SerDe, Trino's functions, idempotency tokens -------------------------------

BAD_REWARD = {"event_id": "e3", "reward": "not a number", "reward_time": "2026-11-23T01:55:00.000Z"}


def _one_bad_reward(lake: Lake) -> None:
    lake.put("decisions/2026/11/23/01/d-1.gz", [_decision("e1", "2026-11-23T01:10:00.000Z")])
    lake.put(
        "rewards/2026/11/23/01/r-1.gz",
        [{"event_id": "e1", "reward": 1.0, "reward_time": "2026-11-23T01:10:05.000Z"}, BAD_REWARD],
    )


def test_the_old_typed_schema_fails_on_one_bad_reward_as_athena_does(
    athena: Any, engine: AthenaEngine, gateway: Gateway
) -> None:
    """Defect 4 reproduced: a `double` reward column and one non-numeric reward fail the whole query."""
    lake = Lake(gateway, OLD_DECISION_COLUMNS, OLD_REWARD_COLUMNS)
    _one_bad_reward(lake)
    for sql in (join_sql.counts_select(_spec(lake, "old")), join_sql.unload(_spec(lake, "old"))):
        execution = _run(athena, engine, sql, lake)
        assert execution["Status"]["State"] == "FAILED"
        assert execution["Status"]["StateChangeReason"] == (
            "HIVE_BAD_DATA: Error parsing field value 'not a number' for field 1: For input string: \"not a number\""
        )


def test_the_string_schema_counts_the_bad_reward_and_succeeds(athena: Any, engine: AthenaEngine, lake: Lake) -> None:
    _one_bad_reward(lake)
    execution = _run(athena, engine, join_sql.counts_select(_spec(lake, "new")), lake)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    rows = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])["ResultSet"]["Rows"]
    counts = dict(zip(join_sql.COUNT_COLUMNS, (int(c["VarCharValue"]) for c in rows[1]["Data"]), strict=True))
    assert counts["joined_rows"] == 1 and counts["malformed_rewards"] == 1 and counts["malformed_decisions"] == 0


def test_from_iso8601_timestamp_fails_the_query_on_a_bad_string(athena: Any, engine: AthenaEngine, lake: Lake) -> None:
    """The old SQL parsed every reward_time: Trino's from_iso8601_timestamp fails on one that is not ISO-8601."""
    lake.put("rewards/2026/11/23/01/r.gz", [{"event_id": "e1", "reward": 1, "reward_time": "yesterday"}])
    sql = (
        f"SELECT count(*) FROM {lake.database}.rewards r WHERE r.dt BETWEEN '2026/11/23/01' AND '2026/11/23/01'"
        " AND from_iso8601_timestamp(r.reward_time) > from_iso8601_timestamp('2026-11-23T00:00:00.000Z')"
    )
    execution = _run(athena, engine, sql, lake)
    assert execution["Status"]["State"] == "FAILED"
    assert execution["Status"]["StateChangeReason"] == 'INVALID_FUNCTION_ARGUMENT: Invalid format: "yesterday"'
    guarded = sql.replace("from_iso8601_timestamp(r.reward_time)", "try(from_iso8601_timestamp(r.reward_time))")
    assert _run(athena, engine, guarded, lake)["Status"]["State"] == "SUCCEEDED"


def test_cast_of_a_bad_string_fails_and_try_cast_is_null(athena: Any, engine: AthenaEngine, lake: Lake) -> None:
    failed = _run(athena, engine, "SELECT CAST('abc' AS double)", lake)
    assert failed["Status"]["State"] == "FAILED"
    assert failed["Status"]["StateChangeReason"] == "INVALID_CAST_ARGUMENT: Cannot cast 'abc' to DOUBLE"
    answer = run_query("SELECT try_cast('abc' AS double), try_cast('0.5' AS double), try_cast('7' AS integer)", {})
    assert answer["rows"] == [(None, 0.5, 7)]


def _serde_table(tmp_path: Path, lines: list[str], columns: list[tuple[str, str]], **serde: str) -> dict[Any, Any]:
    hour = tmp_path / "t" / "2026" / "11" / "23" / "04"
    hour.mkdir(parents=True, exist_ok=True)
    (hour / "part").write_text("".join(line + "\n" for line in lines))
    return {("db", "t"): local_table("db", "t", columns, tmp_path / "t", serde_parameters=serde)}


def test_typed_columns_convert_as_the_openx_serde_does(tmp_path: Path) -> None:
    columns = [("s", "string"), ("d", "double"), ("i", "int"), ("b", "boolean")]
    lines = [
        '{"s": 0.5, "d": "0.5", "i": "7", "b": "TRUE"}',  # a number in a string column is its text; "0.5" a double
        '{"s": {"k": 1}, "d": 2, "i": -3, "b": 1}',  # an object in a string column is its JSON text
        '{"s": true, "d": "NaN", "i": null, "b": false}',
        "not json",  # a row of NULLs (ignore.malformed.json)
    ]
    tables = _serde_table(tmp_path, lines, columns, **{"ignore.malformed.json": "TRUE"})
    rows = run_query("SELECT s, d, i, b FROM db.t ORDER BY i NULLS LAST, s NULLS LAST", tables)["rows"]
    assert rows[0] == ('{"k":1}', 2.0, -3, False) and rows[1] == ("0.5", 0.5, 7, True)
    assert rows[2][0] == "true" and rows[2][1] != rows[2][1] and rows[2][2:] == (None, False)
    assert rows[3] == (None, None, None, None)


@pytest.mark.parametrize(
    ("line", "column_type", "value"),
    [
        ('{"v": "abc"}', "double", "abc"),
        ('{"v": true}', "double", "true"),
        ('{"v": {"x": 1}}', "double", '{"x":1}'),
        ('{"v": 0.54}', "int", "0.54"),  # the Athena knowledge-center example: a decimal in an int column
        ('{"v": 12312845691}', "int", "12312845691"),  # out of the int range
    ],
)
def test_a_value_that_does_not_fit_its_typed_column_fails_the_query(
    tmp_path: Path, line: str, column_type: str, value: str
) -> None:
    tables = _serde_table(tmp_path, [line], [("v", column_type)], **{"ignore.malformed.json": "true"})
    expected = f"HIVE_BAD_DATA: Error parsing field value '{value}' for field 0: For input string: \"{value}\""
    with pytest.raises(duckdb.ConversionException) as raised:
        run_query("SELECT v FROM db.t", tables)
    assert expected in str(raised.value)
    # Only the columns a query reads are converted (Trino's reader deserializes the projected columns).
    assert run_query("SELECT count(*) FROM db.t", tables)["rows"] == [(1,)]
    lenient = _serde_table(
        tmp_path, [line], [("v", column_type)], **{"ignore.malformed.json": "true", "use.null.for.invalid.data": "true"}
    )
    assert run_query("SELECT v FROM db.t", lenient)["rows"] == [(None,)]


def test_a_malformed_line_fails_the_query_without_ignore_malformed_json(
    athena: Any, engine: AthenaEngine, gateway: Gateway
) -> None:
    lake = Lake(gateway, serde={})
    lake.put("rewards/2026/11/23/03/r.gz", ['{"event_id": "a", "reward": 1}', "{broken"])
    sql = f"SELECT count(r.event_id) FROM {lake.database}.rewards r WHERE r.dt = '2026/11/23/03'"
    execution = _run(athena, engine, sql, lake)
    assert execution["Status"]["State"] == "FAILED"
    assert execution["Status"]["StateChangeReason"].startswith("HIVE_CURSOR_ERROR: Row is not a valid JSON Object")


def test_a_client_request_token_binds_its_request(athena: Any, engine: AthenaEngine, lake: Lake) -> None:
    """Same token, same request: the same execution. Same token, another query string: Athena's error."""
    request = {
        "QueryString": "SELECT 1",
        "ResultConfiguration": {"OutputLocation": f"s3://{lake.bucket}/athena-results/"},
        "WorkGroup": "primary",
        "ClientRequestToken": "run-7-counts".ljust(32, "0"),
    }
    first = athena.start_query_execution(**request)["QueryExecutionId"]
    assert athena.start_query_execution(**request)["QueryExecutionId"] == first
    with pytest.raises(ClientError) as raised:
        athena.start_query_execution(**{**request, "QueryString": "SELECT 2"})
    assert raised.value.response["Error"]["Code"] == "InvalidRequestException"
    assert raised.value.response["Error"]["Message"] == "Idempotent parameters do not match"
    other = athena.start_query_execution(**{**request, "ClientRequestToken": "run-8-counts".ljust(32, "0")})
    assert other["QueryExecutionId"] != first
