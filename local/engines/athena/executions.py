"""Query executions and the engine's register of them (thread-safe: worker threads update them as they run)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from local.errors import AwsError

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


@dataclass
class Execution:
    """One query execution: the request, its state and, when done, its result."""

    query_id: str
    query: str
    database: str | None
    catalog: str
    workgroup: str
    output_location: str | None
    submitted: float
    state: str = "QUEUED"
    reason: str | None = None
    error_type: int | None = None
    error_category: int | None = None
    started: float | None = None
    completed: float | None = None
    statement_type: str = "DML"
    substatement_type: str = "SELECT"
    bytes_scanned: int = 0
    files_read: list[str] = field(default_factory=list)
    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    row_count: int = 0
    unload_files: list[str] = field(default_factory=list)
    result_location: str | None = None
    connection: Any = None
    cancelled: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    token: str | None = None  # the request's ClientRequestToken
    request: str = ""  # the parameters the token binds (`idempotent_request`)


def idempotent_request(params: dict[str, Any]) -> str:
    """The parameters a `ClientRequestToken` binds: a retry with the token must repeat them all exactly."""
    bound = {key: value for key, value in params.items() if key != "ClientRequestToken"}
    return json.dumps(bound, sort_keys=True, default=str)


class Executions:
    """Every execution the engine started, in order; `lock` guards the register and each execution's state."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._by_id: dict[str, Execution] = {}
        self._order: list[str] = []

    def add(self, execution: Execution) -> None:
        with self.lock:
            self._by_id[execution.query_id] = execution
            self._order.append(execution.query_id)

    def find(self, query_id: str) -> Execution | None:
        with self.lock:
            return self._by_id.get(query_id)

    def get(self, params: dict[str, Any]) -> Execution:
        """The execution a request's `QueryExecutionId` names, or Athena's InvalidRequestException."""
        query_id = params.get("QueryExecutionId")
        if not query_id:
            raise AwsError("InvalidRequestException", "QueryExecutionId is required")
        execution = self.find(query_id)
        if execution is None:
            raise AwsError("InvalidRequestException", f"QueryExecution {query_id} was not found")
        return execution

    def by_token(self, token: str, request: str) -> Execution | None:
        """The execution started with this ClientRequestToken; a different request under it is refused."""
        with self.lock:
            for execution in self._by_id.values():
                if execution.token != token:
                    continue
                if execution.request != request:
                    # StartQueryExecution: "An error is returned if a parameter, such as QueryString, has changed."
                    raise AwsError("InvalidRequestException", "Idempotent parameters do not match")
                return execution
        return None

    def ids(self, workgroup: str) -> list[str]:
        """The work group's execution ids, newest first (ListQueryExecutions)."""
        with self.lock:
            return [q for q in reversed(self._order) if self._by_id[q].workgroup == workgroup]

    def running(self) -> list[Execution]:
        with self.lock:
            return [e for e in self._by_id.values() if e.state not in TERMINAL]
