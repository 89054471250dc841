"""What Athena answers about an execution: `GetQueryExecution`'s description, `GetQueryResults`' pages and the
result CSV, from an `Execution` (pure: no I/O, no locks)."""

from __future__ import annotations

import datetime as dt
import io
import re
import time
from typing import Any

from local.engines.athena.executions import Execution
from local.errors import AwsError

MAX_RESULT_PAGE = 1000
_ATHENA_TYPES = {
    "VARCHAR": ("varchar", 2147483647),
    "BIGINT": ("bigint", 19),
    "HUGEINT": ("bigint", 19),
    "UBIGINT": ("bigint", 19),
    "INTEGER": ("integer", 10),
    "UINTEGER": ("bigint", 19),
    "SMALLINT": ("smallint", 5),
    "TINYINT": ("tinyint", 3),
    "DOUBLE": ("double", 17),
    "FLOAT": ("real", 17),
    "BOOLEAN": ("boolean", 0),
    "TIMESTAMP": ("timestamp", 3),
    "TIMESTAMP WITH TIME ZONE": ("timestamp with time zone", 3),
    "DATE": ("date", 0),
    "JSON": ("json", 0),
}


def _cell(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"VarCharValue": "true" if value else "false"}
    if isinstance(value, float):
        return {
            "VarCharValue": repr(value)
            if value == value and abs(value) != float("inf")
            else str(value).replace("inf", "Infinity").replace("nan", "NaN")
        }
    if isinstance(value, dt.datetime):
        return {"VarCharValue": value.isoformat(sep=" ", timespec="milliseconds")}
    return {"VarCharValue": str(value)}


def _athena_type(duck_type: str) -> tuple[str, int, int]:
    base = duck_type.upper()
    if base.startswith("DECIMAL"):
        digits = re.findall(r"\d+", base)
        return "decimal", int(digits[0]) if digits else 38, int(digits[1]) if len(digits) > 1 else 0
    if base.endswith("[]") or base.startswith(("STRUCT", "MAP", "LIST")):
        return ("array" if base.endswith("[]") else "row" if base.startswith("STRUCT") else "map"), 0, 0
    name, precision = _ATHENA_TYPES.get(base, ("varchar", 2147483647))
    return name, precision, 0


def csv_bytes(columns: list[tuple[str, str]], rows: list[tuple[Any, ...]]) -> bytes:
    """Athena's result CSV: every value quoted, NULL as an empty unquoted field."""
    out = io.StringIO()
    out.write(",".join('"' + c.replace('"', '""') + '"' for c, _ in columns) + "\n")
    for row in rows:
        cells = []
        for value in row:
            text = _cell(value).get("VarCharValue")
            cells.append("" if text is None else '"' + text.replace('"', '""') + '"')
        out.write(",".join(cells) + "\n")
    return out.getvalue().encode()


def describe(e: Execution) -> dict[str, Any]:
    """`GetQueryExecution`'s `QueryExecution` of an execution."""
    status: dict[str, Any] = {"State": e.state, "SubmissionDateTime": e.submitted}
    if e.completed is not None:
        status["CompletionDateTime"] = e.completed
    if e.reason:
        status["StateChangeReason"] = e.reason
    if e.state == "FAILED":
        status["AthenaError"] = {
            "ErrorCategory": e.error_category or 2,
            "ErrorType": e.error_type or 1006,
            "Retryable": False,
            "ErrorMessage": e.reason or "",
        }
    now = e.completed or time.time()
    queued = ((e.started or now) - e.submitted) * 1000
    engine_ms = (now - (e.started or now)) * 1000
    statistics = {
        "EngineExecutionTimeInMillis": int(engine_ms),
        "DataScannedInBytes": e.bytes_scanned,
        "TotalExecutionTimeInMillis": int((now - e.submitted) * 1000),
        "QueryQueueTimeInMillis": int(queued),
        "ServicePreProcessingTimeInMillis": 0,
        "QueryPlanningTimeInMillis": 0,
        "ServiceProcessingTimeInMillis": 0,
        "ResultReuseInformation": {"ReusedPreviousResult": False},
        "FilesRead": list(e.files_read),
        "LocalTimings": dict(e.timings),
    }
    result_location = e.result_location or (
        f"{e.output_location}{e.query_id}-manifest.csv"
        if e.substatement_type == "UNLOAD"
        else f"{e.output_location}{e.query_id}.csv"
    )
    described: dict[str, Any] = {
        "QueryExecutionId": e.query_id,
        "Query": e.query,
        "StatementType": e.statement_type,
        "SubstatementType": e.substatement_type,
        "ResultConfiguration": {"OutputLocation": result_location},
        "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": False}},
        "QueryExecutionContext": {"Catalog": e.catalog, **({"Database": e.database} if e.database else {})},
        "Status": status,
        "Statistics": statistics,
        "WorkGroup": e.workgroup,
        "EngineVersion": {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"},
    }
    return described


def results_page(e: Execution, params: dict[str, Any]) -> dict[str, Any]:
    """One `GetQueryResults` page of a finished execution (the header row first on the first page of a SELECT)."""
    if e.state == "FAILED":
        raise AwsError("InvalidRequestException", e.reason or "Query failed")
    if e.state == "CANCELLED":
        raise AwsError("InvalidRequestException", "Query was cancelled")
    if e.state != "SUCCEEDED":
        raise AwsError("InvalidRequestException", f"Query has not yet finished. Current state: {e.state}")
    limit = int(params.get("MaxResults") or MAX_RESULT_PAGE)
    if not 1 <= limit <= MAX_RESULT_PAGE:
        raise AwsError("InvalidRequestException", f"MaxResults must be between 1 and {MAX_RESULT_PAGE}")
    token = params.get("NextToken")
    try:
        offset = int(token) if token else 0
    except ValueError as err:
        raise AwsError("InvalidRequestException", f"invalid NextToken {token!r}") from err
    rows: list[dict[str, Any]] = []
    if e.substatement_type == "SELECT":
        if offset == 0:
            rows.append({"Data": [{"VarCharValue": name} for name, _ in e.columns]})
            limit -= 1
        data_offset = max(0, offset - 1) if offset else 0
        for row in e.rows[data_offset : data_offset + limit]:
            rows.append({"Data": [_cell(v) for v in row]})
        consumed = (1 if offset == 0 else offset) + len(rows) - (1 if offset == 0 else 0)
        next_offset = consumed if (consumed - 1) < len(e.rows) else None
    else:
        next_offset = None
    column_info = []
    for name, kind in e.columns:
        athena_type, precision, scale = _athena_type(kind)
        column_info.append(
            {
                "CatalogName": "hive",
                "SchemaName": "",
                "TableName": "",
                "Name": name,
                "Label": name,
                "Type": athena_type,
                "Precision": precision,
                "Scale": scale,
                "Nullable": "UNKNOWN",
                "CaseSensitive": athena_type == "varchar",
            }
        )
    answer: dict[str, Any] = {
        "UpdateCount": e.row_count if e.substatement_type == "UNLOAD" else 0,
        "ResultSet": {"Rows": rows, "ResultSetMetadata": {"ColumnInfo": column_info}},
    }
    if next_offset is not None:
        answer["NextToken"] = str(next_offset)
    return answer


def runtime_statistics(e: Execution) -> dict[str, Any]:
    """`GetQueryRuntimeStatistics`: the timeline and the rows and bytes the query handled."""
    described = describe(e)["Statistics"]
    return {
        "QueryRuntimeStatistics": {
            "Timeline": {
                "QueryQueueTimeInMillis": described["QueryQueueTimeInMillis"],
                "EngineExecutionTimeInMillis": described["EngineExecutionTimeInMillis"],
                "TotalExecutionTimeInMillis": described["TotalExecutionTimeInMillis"],
            },
            "Rows": {"InputBytes": e.bytes_scanned, "OutputRows": e.row_count},
        }
    }
