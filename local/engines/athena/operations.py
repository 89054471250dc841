"""The Athena operations the local engine answers (the gateway sends it these; work groups, data catalogs and named
queries stay moto's, and the engine reads a work group's result location from moto)."""

from __future__ import annotations

OPERATIONS = frozenset(
    {
        "StartQueryExecution",
        "GetQueryExecution",
        "GetQueryResults",
        "StopQueryExecution",
        "ListQueryExecutions",
        "BatchGetQueryExecution",
        "GetQueryRuntimeStatistics",
    }
)
