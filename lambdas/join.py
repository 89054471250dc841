"""Join: start the Athena UNLOADs that join the window's decisions with their rewards and quarantine the rejected
lines, and report how it went.

`start` runs three queries over the same partitions: the UNLOAD writing `joined/<run_id>/`, the UNLOAD writing every
rejected decision and reward line with its reason to `quarantine/<run_id>/`, and a count query (joined rows,
default-reward rows, quarantined lines per reason). `status` polls all three; the counts come from the count query,
which is built from the very same two selects.

A retried `start` (a Lambda retry of the state, or a redrive) must send Athena the very same SQL: the queries'
`ClientRequestToken` is derived from the run, and Athena refuses a token it has seen with a different query string
("Idempotent parameters do not match"). A bootstrap run plans its window from the clock, so the window is stored in
the joins table before the first query starts and read back by every retry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pipeline_common import deadline, join_sql, store
from pipeline_common.aws import client
from pipeline_common.config import RunSettings, env, settings
from pipeline_common.errors import JoinQueryFailed
from pipeline_common.observability import logger, step_handler
from pipeline_common.payloads import Payload, Request
from pipeline_common.steps import JoinCounts, JoinResult, JoinState, RunInput
from pipeline_common.timefmt import now
from pipeline_common.window import Window, plan_window

RUNNING_STATES = ("QUEUED", "RUNNING")
FAILED_STATES = ("FAILED", "CANCELLED")


@dataclass(frozen=True)
class JoinStatus:
    """What `status` concluded from the two query executions."""

    state: str
    reason: str = ""


def combine_states(unload_state: str, count_state: str, quarantine_state: str = "SUCCEEDED") -> JoinStatus:
    """The join's state from its queries: failed if any failed, succeeded when all did."""
    states = (("UNLOAD", unload_state), ("count", count_state), ("quarantine", quarantine_state))
    for name, state in states:
        if state in FAILED_STATES:
            return JoinStatus("FAILED", f"{name} query {state}")
    if all(state == "SUCCEEDED" for _, state in states):
        return JoinStatus("SUCCEEDED")
    return JoinStatus("RUNNING")


def parse_counts(result_set: dict[str, Any]) -> dict[str, int]:
    """The count query's one row (Athena's first row is the header); absent values count as 0."""
    rows = result_set.get("Rows", [])
    if len(rows) < 2:
        return dict.fromkeys(join_sql.COUNT_COLUMNS, 0)
    header = [cell.get("VarCharValue", "") for cell in rows[0].get("Data", [])]
    values = [cell.get("VarCharValue") for cell in rows[1].get("Data", [])]
    named = dict(zip(header, values, strict=False))
    return {column: int(float(named.get(column) or 0)) for column in join_sql.COUNT_COLUMNS}


def enough_rows(rows: int, config: RunSettings, bootstrap: bool) -> bool:
    """Train when the join has `min_training_rows`; a bootstrap trains on any data at all."""
    return rows > 0 if bootstrap else rows >= config.min_training_rows


def build_spec(run_id: str, window: Window, config: RunSettings) -> join_sql.JoinSpec:
    bucket = env("BUCKET_NAME")
    return join_sql.JoinSpec(
        database=env("GLUE_DATABASE"),
        decisions_table=env("GLUE_DECISIONS_TABLE"),
        rewards_table=env("GLUE_REWARDS_TABLE"),
        window=window,
        reward_wait_seconds=config.reward_wait_seconds,
        missing_reward=config.missing_reward,
        default_reward=config.default_reward,
        output_prefix=f"s3://{bucket}/joined/{run_id}/",
        reward_range=config.reward_range,
        quarantine_prefix=f"s3://{bucket}/quarantine/{run_id}/",
    )


def _run_query(sql: str, run_id: str, kind: str) -> str:
    response = client("athena").start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": env("GLUE_DATABASE")},
        WorkGroup=env("ATHENA_WORKGROUP"),
        ClientRequestToken=f"{run_id}-{kind}"[:128].ljust(32, "0"),
    )
    return str(response["QueryExecutionId"])


def start(run_id: str, run_input: RunInput) -> JoinResult:
    """Start both queries for the run's window (planned from the watermark when the input has none: bootstrap)."""
    bootstrap = run_input.bootstrap
    config = settings()
    existing = store.read_join(run_id)
    if existing and existing.get("query_execution_id"):
        logger.info("join already started", extra={"query_execution_id": existing["query_execution_id"]})
        return _started(existing, bootstrap)
    window = run_window(run_id, run_input, existing, config)
    spec = build_spec(run_id, window, config)
    row = {
        "run_id": run_id,
        "window_start": window.to_dict()["start"],
        "window_end": window.to_dict()["end"],
        "output_prefix": spec.output_prefix,
        "query_execution_id": _run_query(join_sql.unload(spec), run_id, "unload"),
        "count_query_execution_id": _run_query(join_sql.counts_select(spec), run_id, "counts"),
        "quarantine_prefix": spec.quarantine_prefix,
        "quarantine_query_execution_id": _run_query(join_sql.quarantine_unload(spec), run_id, "quarantine"),
        "state": "RUNNING",
        "decision_partitions": list(spec.decision_hours),
        "reward_partitions": list(spec.reward_hours),
    }
    store.put_join(row)
    logger.info("join started", extra=row)
    return _started(row, bootstrap)


def run_window(run_id: str, run_input: RunInput, existing: dict[str, Any] | None, config: RunSettings) -> Window:
    """The run's window, the same on every attempt of `start`.

    A triggered run carries it in its input. A bootstrap run plans it once, from the watermark (or the first-run
    lookback) and the clock, and stores it before any query starts; a retry reads the stored one back, so its SQL
    (and the queries' idempotency tokens) match the first attempt's.
    """
    if run_input.window is not None:
        return run_input.window
    if existing and existing.get("window_start") and existing.get("window_end"):
        return Window.from_dict({"start": existing["window_start"], "end": existing["window_end"]})
    # Bootstrap: whatever data exists after the watermark (or in the first-run lookback when that is empty).
    watermark = store.read_experiment(config.experiment_id).get("watermark")
    wait = config.reward_wait_seconds
    moment = now()
    window = plan_window(watermark, moment, wait) or plan_window(None, moment, wait)
    assert window is not None  # without a watermark the window is never empty
    planned = window.to_dict()
    store.put_join(
        {"run_id": run_id, "window_start": planned["start"], "window_end": planned["end"], "state": "PLANNED"}
    )
    return window


def _started(row: dict[str, Any], bootstrap: bool) -> JoinResult:
    return JoinResult(
        run_id=str(row["run_id"]),
        window=Window.from_dict({"start": row["window_start"], "end": row["window_end"]}),
        query_execution_id=str(row["query_execution_id"]),
        count_query_execution_id=str(row["count_query_execution_id"]),
        output_prefix=str(row["output_prefix"]),
        bootstrap=bootstrap,
        state=JoinState.RUNNING,
        deadline=deadline.stamp("join", settings()),
        quarantine_query_execution_id=row.get("quarantine_query_execution_id"),
        quarantine_prefix=row.get("quarantine_prefix"),
    )


def _execution(athena: Any, query_id: str | None) -> dict[str, Any] | None:
    return athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"] if query_id else None


def status(join: JoinResult) -> JoinResult:
    """Poll the queries; on success report the counts and whether there are enough rows to train.

    A join started before the quarantine existed has no quarantine query: it is judged on the other two.
    """
    run_id = join.run_id
    athena = client("athena")
    unload = athena.get_query_execution(QueryExecutionId=join.query_execution_id)["QueryExecution"]
    counts = athena.get_query_execution(QueryExecutionId=join.count_query_execution_id)["QueryExecution"]
    quarantine = _execution(athena, join.quarantine_query_execution_id)
    queries = [query for query in (unload, counts, quarantine) if query is not None]
    verdict = combine_states(
        unload["Status"]["State"],
        counts["Status"]["State"],
        quarantine["Status"]["State"] if quarantine else "SUCCEEDED",
    )
    if verdict.state == "FAILED":
        failed = next(query for query in queries if query["Status"]["State"] in FAILED_STATES)
        reason = failed["Status"].get("StateChangeReason", "no reason given")
        store.update_join(run_id, state="FAILED")
        raise JoinQueryFailed(f"{verdict.reason}: {reason} (query {failed['QueryExecutionId']})")
    if verdict.state == "RUNNING":
        deadline.enforce("join", join.deadline, verdict.state)
        return replace(join, state=JoinState.RUNNING)
    numbers = parse_counts(athena.get_query_results(QueryExecutionId=counts["QueryExecutionId"])["ResultSet"])
    scanned = sum(int(query.get("Statistics", {}).get("DataScannedInBytes", 0)) for query in queries)
    found = JoinCounts(
        rows=numbers["joined_rows"],
        **{name: numbers[name] for name in join_sql.COUNT_COLUMNS[1:]},
        data_scanned_bytes=scanned,
        enough_rows=enough_rows(numbers["joined_rows"], settings(), join.bootstrap),
    )
    # The joins table keeps the counts (docs/contracts.md); whether they suffice is the run's question, not the row's.
    recorded = {name: value for name, value in found.to_payload().items() if name != "enough_rows"}
    store.update_join(run_id, state=JoinState.SUCCEEDED, **recorded)
    result = replace(join, state=JoinState.SUCCEEDED, counts=found)
    logger.info("join finished", extra=result.to_payload())
    return result


@step_handler("start", "status")
def handler(request: Request) -> Payload:
    """`{"action": "start", "run_id", "input": <execution input>}` | `{"action": "status", "run_id", "join"}`."""
    if request.verb == "start":
        return start(request.run_id, RunInput.from_fields(request.child("input"))).to_payload()
    return status(JoinResult.from_fields(request.child("join"))).to_payload()
