"""The front: Athena's query-execution API (`dispatch(operation, params)`), composed of the register of executions,
the Glue catalog, the S3 object cache and the query runner; it validates requests and answers from them."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from local.aws import client as aws_client
from local.engines.athena.catalog import GlueCatalog
from local.engines.athena.dialect import statement_types
from local.engines.athena.executions import TERMINAL, Execution, Executions, idempotent_request
from local.engines.athena.objects import CACHE_BYTES, ObjectCache
from local.engines.athena.operations import OPERATIONS
from local.engines.athena.results import describe, results_page, runtime_statistics
from local.engines.athena.runner import QueryRunner
from local.errors import AwsError

MAX_QUERY_LENGTH = 262144


class AthenaEngine:
    """Athena's query-execution API on DuckDB (`dispatch(operation, params)`); work groups stay moto's."""

    operations = OPERATIONS

    def __init__(self, state_dir: Path, endpoint_url: str, workers: int = 2) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir = self.state_dir / "cache"
        self.endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}
        self._client_lock = threading.Lock()
        self._executions = Executions()
        self._cache = ObjectCache(self.cache_dir, lambda: self._client("s3"))
        self._runner = QueryRunner(
            self.state_dir / "queries",
            GlueCatalog(lambda: self._client("glue")),
            self._cache,
            lambda: self._client("s3"),
            self._executions.lock,
        )
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="athena-query")
        self.prune_cache()
        self._closed = False

    def _client(self, service: str) -> Any:
        with self._client_lock:
            if service not in self._clients:
                self._clients[service] = aws_client(service, self.endpoint_url)
            return self._clients[service]

    def close(self) -> None:
        self._closed = True
        for execution in self._executions.running():
            self._cancel(execution)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.prune_cache()

    def prune_cache(self, limit: int = CACHE_BYTES) -> None:
        """Drop the least recently used cached objects beyond `limit` bytes (`LOCAL_ATHENA_CACHE_MB`)."""
        self._cache.prune(limit)

    def dispatch(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, "_op_" + operation, None)
        if handler is None or operation not in self.operations:
            raise AwsError(
                "InvalidRequestException", f"operation {operation} is not supported by the local Athena engine"
            )
        result: dict[str, Any] = handler(params or {})
        return result

    def files_read(self, query_id: str) -> list[str]:
        """The S3 URIs of the objects the query read (after partition pruning)."""
        return list(self._executions.get({"QueryExecutionId": query_id}).files_read)

    def wait(self, query_id: str, timeout: float = 60.0) -> str:
        """Until the query is done; its final state (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self._executions.get({"QueryExecutionId": query_id}).state
            if state in TERMINAL:
                return state
            time.sleep(0.02)
        return self._executions.get({"QueryExecutionId": query_id}).state

    # Operations -----------------------------------------------------------------------------------------------

    def _op_StartQueryExecution(self, params: dict[str, Any]) -> dict[str, Any]:
        query = params.get("QueryString")
        if not isinstance(query, str) or not query.strip():
            raise AwsError("InvalidRequestException", "QueryString is required")
        if len(query) > MAX_QUERY_LENGTH:
            raise AwsError("InvalidRequestException", f"QueryString exceeds {MAX_QUERY_LENGTH} characters")
        workgroup = params.get("WorkGroup") or "primary"
        context = params.get("QueryExecutionContext") or {}
        enforced, workgroup_output = self._workgroup_output(workgroup)
        requested = (params.get("ResultConfiguration") or {}).get("OutputLocation")
        output = workgroup_output if enforced and workgroup_output else requested or workgroup_output
        if not output:
            raise AwsError(
                "InvalidRequestException",
                "No output location provided. An output location is required either through the Workgroup result "
                "configuration setting or as an API input.",
            )
        token = params.get("ClientRequestToken")
        request = idempotent_request(params)
        if token:
            earlier = self._executions.by_token(token, request)
            if earlier is not None:
                return {"QueryExecutionId": earlier.query_id}
        statement_type, substatement_type = statement_types(query)
        execution = Execution(
            query_id=str(uuid.uuid4()),
            query=query,
            database=context.get("Database"),
            catalog=context.get("Catalog") or "AwsDataCatalog",
            workgroup=workgroup,
            output_location=output if output.endswith("/") else output + "/",
            submitted=time.time(),
            statement_type=statement_type,
            substatement_type=substatement_type,
            token=token,
            request=request,
        )
        self._executions.add(execution)
        self._pool.submit(self._runner.run, execution)
        return {"QueryExecutionId": execution.query_id}

    def _workgroup_output(self, workgroup: str) -> tuple[bool, str | None]:
        """(EnforceWorkGroupConfiguration, the work group's result location) from moto's work group."""
        try:
            answer = self._client("athena").get_work_group(WorkGroup=workgroup)
        except Exception as err:
            code = getattr(err, "response", {}).get("Error", {}).get("Code")
            if code in ("InvalidRequestException", "ResourceNotFoundException"):
                raise AwsError("InvalidRequestException", f"WorkGroup {workgroup} is not found.") from None
            return False, None
        config = (answer.get("WorkGroup") or {}).get("Configuration") or {}
        location = (config.get("ResultConfiguration") or {}).get("OutputLocation")
        return bool(config.get("EnforceWorkGroupConfiguration")), location

    def _op_GetQueryExecution(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"QueryExecution": describe(self._executions.get(params))}

    def _op_BatchGetQueryExecution(self, params: dict[str, Any]) -> dict[str, Any]:
        found, missing = [], []
        for query_id in params.get("QueryExecutionIds") or []:
            execution = self._executions.find(query_id)
            if execution is None:
                missing.append(
                    {"QueryExecutionId": query_id, "ErrorCode": "INVALID_INPUT", "ErrorMessage": "not found"}
                )
            else:
                found.append(describe(execution))
        return {"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing}

    def _op_GetQueryResults(self, params: dict[str, Any]) -> dict[str, Any]:
        return results_page(self._executions.get(params), params)

    def _op_StopQueryExecution(self, params: dict[str, Any]) -> dict[str, Any]:
        self._cancel(self._executions.get(params))
        return {}

    def _cancel(self, e: Execution) -> None:
        with self._executions.lock:
            if e.state in TERMINAL:
                return
            e.cancelled = True
            if e.state == "QUEUED":
                e.state, e.completed, e.reason = "CANCELLED", time.time(), "Query was cancelled by the user"
            connection = e.connection
        if connection is not None:
            with contextlib.suppress(Exception):  # the connection may be closing already
                connection.interrupt()

    def _op_ListQueryExecutions(self, params: dict[str, Any]) -> dict[str, Any]:
        workgroup = params.get("WorkGroup") or "primary"
        limit = int(params.get("MaxResults") or 50)
        ids = self._executions.ids(workgroup)
        offset = int(params.get("NextToken") or 0)
        page = ids[offset : offset + limit]
        answer: dict[str, Any] = {"QueryExecutionIds": page}
        if offset + limit < len(ids):
            answer["NextToken"] = str(offset + limit)
        return answer

    def _op_GetQueryRuntimeStatistics(self, params: dict[str, Any]) -> dict[str, Any]:
        return runtime_statistics(self._executions.get(params))
