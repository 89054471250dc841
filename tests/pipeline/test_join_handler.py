"""The join handler's quarantine: a third query writes the rejected lines under `quarantine/<run>/`, its counts
reach the join's output, the joins table and the run's metrics."""

from __future__ import annotations

from typing import Any

import boto3
import join
import pytest
from moto.athena.models import QueryResults, athena_backends
from pipeline_common import join_sql, outcome, store
from pipeline_common.config import RunSettings
from pipeline_common.errors import JoinQueryFailed
from pipeline_common.payloads import Fields
from pipeline_common.steps import RunState
from pipeline_helpers import ACCOUNT, BUCKET, REGION, FakeContext, join_payload

from infra.settings import SettingsError, parse_settings

RUN = "bandit-demo-20261123T020000"
WINDOW = {"start": "2026-11-23T00:00:00.000Z", "end": "2026-11-23T02:00:00.000Z"}
COUNTS = {
    "joined_rows": 120,
    "defaulted_rows": 7,
    "malformed_rewards": 2,
    "out_of_range_rewards": 1,
    "unmatched_rewards": 3,
    "backdated_rewards": 4,
    "duplicate_rewards": 5,
    "late_rewards": 6,
    "malformed_decisions": 8,
    "duplicate_decisions": 9,
    "quarantined_lines": 38,
}


def _queue(values: dict[str, int]) -> None:
    """moto hands queued results to executions in start order: the UNLOAD, the count query, the quarantine."""
    rows = [
        {"Data": [{"VarCharValue": column} for column in values]},
        {"Data": [{"VarCharValue": str(value)} for value in values.values()]},
    ]
    backend = athena_backends[ACCOUNT][REGION]
    backend.query_results_queue.append(QueryResults(rows=[], column_info=[]))
    backend.query_results_queue.append(
        QueryResults(rows=rows, column_info=[{"Name": c, "Type": "bigint"} for c in values])
    )


def test_start_unloads_the_rejected_lines_to_the_run_quarantine_prefix(aws: None, context: FakeContext) -> None:
    started = join.handler({"action": "start", "run_id": RUN, "input": {"window": WINDOW}}, context)
    assert started["quarantine_prefix"] == f"s3://{BUCKET}/quarantine/{RUN}/"
    athena = boto3.client("athena", region_name=REGION)
    query = athena.get_query_execution(QueryExecutionId=started["quarantine_query_execution_id"])["QueryExecution"]
    assert query["Query"].startswith("UNLOAD (") and query["Query"].endswith(
        f"TO 's3://{BUCKET}/quarantine/{RUN}/' WITH (format = 'JSON')"
    )
    assert "BETWEEN 0.0 AND 1.0" in query["Query"]  # the configured reward_range


@pytest.mark.parametrize("settings_overrides", [{"reward_range": [-1.0, 5.0]}])
def test_the_reward_range_setting_reaches_the_sql(aws: None, context: FakeContext) -> None:
    started = join.handler({"action": "start", "run_id": RUN, "input": {"window": WINDOW}}, context)
    athena = boto3.client("athena", region_name=REGION)
    sql = athena.get_query_execution(QueryExecutionId=started["query_execution_id"])["QueryExecution"]["Query"]
    assert "BETWEEN -1.0 AND 5.0" in sql and "BETWEEN 0.0 AND 1.0" not in sql


def test_status_reports_every_count_and_stores_it(aws: None, context: FakeContext) -> None:
    _queue(COUNTS)
    started = join.handler({"action": "start", "run_id": RUN, "input": {"window": WINDOW}}, context)
    status = join.handler({"action": "status", "run_id": RUN, "join": started}, context)
    assert status["state"] == "SUCCEEDED" and status["rows"] == 120
    assert {name: status[name] for name in join_sql.COUNT_COLUMNS[1:]} == {
        name: value for name, value in COUNTS.items() if name != "joined_rows"
    }
    row = store.read_join(RUN)
    assert row is not None and row["quarantined_lines"] == 38 and row["duplicate_decisions"] == 9
    assert row["quarantine_prefix"] == f"s3://{BUCKET}/quarantine/{RUN}/"


def test_a_failed_quarantine_query_fails_the_join(
    aws: None, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = join.handler({"action": "start", "run_id": RUN, "input": {"window": WINDOW}}, context)
    athena = join.client("athena")
    real = athena.get_query_execution

    def quarantine_failed(QueryExecutionId: str) -> dict[str, Any]:
        answer = real(QueryExecutionId=QueryExecutionId)
        if QueryExecutionId == started["quarantine_query_execution_id"]:
            answer["QueryExecution"]["Status"] = {"State": "FAILED", "StateChangeReason": "HIVE_PATH_ALREADY_EXISTS"}
        return answer

    monkeypatch.setattr(athena, "get_query_execution", quarantine_failed)
    with pytest.raises(JoinQueryFailed, match="quarantine query FAILED: HIVE_PATH_ALREADY_EXISTS"):
        join.handler({"action": "status", "run_id": RUN, "join": started}, context)


def test_combine_states_waits_for_all_three_queries() -> None:
    assert join.combine_states("SUCCEEDED", "SUCCEEDED", "RUNNING").state == "RUNNING"
    assert join.combine_states("SUCCEEDED", "SUCCEEDED", "CANCELLED").reason == "quarantine query CANCELLED"
    assert join.combine_states("SUCCEEDED", "SUCCEEDED", "SUCCEEDED").state == "SUCCEEDED"


def test_the_run_metrics_carry_the_quarantine_counts() -> None:
    counts = {k: v for k, v in COUNTS.items() if k != "joined_rows"}
    joined = {**join_payload("run-q", rows=120, enough_rows=False), **counts}
    decision = outcome.decide(RunState.from_fields(Fields({"join": joined})))
    assert decision.metrics["LinesQuarantined"] == 38 and decision.metrics["DecisionsDuplicated"] == 9
    assert decision.metrics["RewardsOutOfRange"] == 1 and decision.metrics["RewardsBeforeDecision"] == 4


def test_settings_carry_the_reward_range() -> None:
    assert RunSettings.from_json(parse_settings({}).to_json()).reward_range == (0.0, 1.0)
    assert RunSettings.from_json(parse_settings({"reward_range": [-1, 2]}).to_json()).reward_range == (-1.0, 2.0)


@pytest.mark.parametrize("bad", [[1.0, 1.0], [2, 1], [0, float("inf")], [float("nan"), 1], [0], "0-1", [0, True]])
def test_an_invalid_reward_range_fails_naming_the_setting(bad: Any) -> None:
    with pytest.raises(SettingsError, match=r"bandit\.reward_range"):
        parse_settings({"reward_range": bad})
