"""How a query fails: Athena's `StateChangeReason` text for the engine's own failures and for DuckDB's errors."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import duckdb

_FAILURE_MARK = re.compile(
    r"Could not convert string '(?P<reason>(?:HIVE_BAD_DATA|INVALID_FUNCTION_ARGUMENT|HIVE_CURSOR_ERROR): .*)' to \w+",
    re.S,
)
_CAST_FAILURE = re.compile(r"Could not convert string '(?P<value>.*)' to (?P<type>\w+)", re.S)
_DUCK_TYPE_NAMES = {"INT32": "INTEGER", "INT64": "BIGINT", "INT16": "SMALLINT", "INT8": "TINYINT", "FLOAT": "REAL"}


class QueryFailed(Exception):
    """A query failed for a reason Athena would report as `StateChangeReason`."""

    def __init__(self, message: str, error_type: int = 1006, category: int = 2) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.category = category


def split_s3(uri: str) -> tuple[str, str]:
    """`(bucket, key)` of an `s3://` URI; anything else fails the query."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise QueryFailed(f"not an S3 location: {uri}")
    return parsed.netloc, parsed.path.lstrip("/")


def duckdb_reason(err: Exception) -> str:
    """A DuckDB error as Athena words its class of failure (the DuckDB text follows)."""
    text = str(err).strip()
    if isinstance(err, duckdb.ConversionException):
        marked = _FAILURE_MARK.search(text)
        if marked:  # a failure the engine raised on purpose (`_raise`): Athena's own message
            return marked.group("reason")
        cast = _CAST_FAILURE.search(text)
        if cast:  # CAST of a bad value: Trino's INVALID_CAST_ARGUMENT
            kind = _DUCK_TYPE_NAMES.get(cast.group("type"), cast.group("type"))
            return f"INVALID_CAST_ARGUMENT: Cannot cast '{cast.group('value')}' to {kind}"
    if isinstance(err, duckdb.InvalidInputException) and "JSON" in text:
        return f"HIVE_CURSOR_ERROR: Row is not a valid JSON Object - {text.splitlines()[0]}"
    if isinstance(err, (duckdb.ParserException,)):
        return f"SYNTAX_ERROR: {text}"
    if isinstance(err, (duckdb.CatalogException, duckdb.BinderException)):
        return f"SEMANTIC_ERROR: {text}"
    return f"GENERIC_INTERNAL_ERROR: {text}"
