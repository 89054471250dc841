"""Athena on DuckDB: query executions over the S3 objects of Glue tables, run in worker threads.

What a query does (`AthenaEngine._run`):

1. Find the table references (`FROM|JOIN <db>.<table> [AS] <alias>`) and, per alias, the partition predicates
   `<alias>.dt BETWEEN 'a' AND 'b'` / `<alias>.dt = 'a'` (docs/contracts.md). A table referenced once without a
   predicate is read whole.
2. Read each table from Glue: columns, partition keys, and the partition projection parameters
   (`projection.<key>.format`, `storage.location.template` with `${<key>}`), else `StorageDescriptor.Location`.
3. List the S3 keys under the location prefix starting at the lowest wanted partition, map each key to its
   partition value (the first path segments after the prefix, as many as the format has), keep only keys inside a
   wanted range, and download those objects (cached by ETag) to local files; gzip is recognised by its magic bytes.
4. Register each table as a DuckDB view that reads the files as the OpenX JSON SerDe does (`table_view_sql`,
   `serde_value`): each field's JSON text converted to the Glue column's type; a value that does not convert fails
   the query with Athena's `HIVE_BAD_DATA` (NULL only with `use.null.for.invalid.data`); a line that is not JSON is
   a row of NULLs with `ignore.malformed.json`, else fails the query. The partition key is a column. Trino
   functions the project's SQL uses are DuckDB macros (`TRINO_MACROS`), failing where Trino fails
   (`from_iso8601_timestamp` on a string that is not ISO-8601; a CAST of a bad string is INVALID_CAST_ARGUMENT).
5. `UNLOAD (SELECT ...) TO 's3://.../' WITH (format = 'JSON', compression = 'GZIP'|'NONE')`: fail with
   `HIVE_PATH_ALREADY_EXISTS` when the prefix holds objects; else write JSON lines (gzip by default, as Athena
   does; file `<query id>_00000.gz`), and a manifest `<OutputLocation>/<query id>-manifest.csv` listing the files.
   `format = 'PARQUET'` and `'TEXTFILE'` (CSV) are written too. A `SELECT` writes `<OutputLocation>/<query id>.csv`
   (Athena's quoting) and keeps the rows for `GetQueryResults`.

`AthenaEngine.files_read(query_id)` lists the S3 objects a query read (also `Statistics.FilesRead`, a local
extra field boto3 drops). `run_query(...)` runs one query synchronously over local files without S3 or Glue (the
benchmark and ad-hoc use, see docs/local-engines.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import duckdb

from local.aws import client as aws_client
from local.errors import AwsError

REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
ACCOUNT = "123456789012"
DUCKDB_THREADS = int(os.environ.get("LOCAL_ATHENA_THREADS", "2"))
MAX_RESULT_PAGE = 1000
CACHE_BYTES = int(float(os.environ.get("LOCAL_ATHENA_CACHE_MB", "2048")) * 1024 * 1024)
DOWNLOAD_THREADS = 4

ISO8601_LENIENT = (
    "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)?"
)
"""The ISO-8601 forms both Trino's `from_iso8601_timestamp` and DuckDB's timestamp cast read (a space for `T`,
which DuckDB reads and Trino does not, is refused; reduced forms such as `2026-11` that Trino reads are refused)."""
_FAILURE_MARK = re.compile(
    r"Could not convert string '(?P<reason>(?:HIVE_BAD_DATA|INVALID_FUNCTION_ARGUMENT|HIVE_CURSOR_ERROR): .*)' to \w+",
    re.S,
)
_CAST_FAILURE = re.compile(r"Could not convert string '(?P<value>.*)' to (?P<type>\w+)", re.S)
_DUCK_TYPE_NAMES = {"INT32": "INTEGER", "INT64": "BIGINT", "INT16": "SMALLINT", "INT8": "TINYINT", "FLOAT": "REAL"}


def _raise(message_sql: str, duck_type: str) -> str:
    """A SQL expression of `duck_type` that fails the query with `message_sql` when evaluated.

    It casts the message to a number, so DuckDB raises a conversion error carrying the message (which
    `_duckdb_reason` turns back into Athena's error text); unlike `error()` it is not volatile, so `try()` and the
    optimizer treat it like any other expression.
    """
    failing = f"CAST(({message_sql}) AS DOUBLE)"
    if duck_type in ("TIMESTAMP", "DATE"):
        return f"CAST(to_timestamp({failing}) AS {duck_type})"
    return f"CAST({failing} AS {duck_type})"


TRINO_MACROS = (
    # Trino's ISO-8601 parsing: offsets honoured, the result is a UTC timestamp; a string that is not ISO-8601
    # fails the query (INVALID_FUNCTION_ARGUMENT), as Trino does. The failure is a cast of the message, not
    # DuckDB's volatile error(), so `try(from_iso8601_timestamp(x))` still binds and returns NULL.
    "CREATE OR REPLACE MACRO _iso8601_parsed(s) AS CASE "
    "WHEN s LIKE '____-__-__T__:__:__.___Z' THEN TRY_CAST(s AS TIMESTAMP) "  # the contract's format: the fast path
    "WHEN NOT regexp_full_match(s, '" + ISO8601_LENIENT + "') THEN NULL "
    "WHEN s LIKE '%Z' THEN TRY_CAST(s AS TIMESTAMP) ELSE timezone('UTC', TRY_CAST(s AS TIMESTAMPTZ)) END",
    "CREATE OR REPLACE MACRO _iso8601_or_fail(s) AS CASE WHEN s IS NULL THEN NULL ELSE coalesce(_iso8601_parsed(s), "
    + _raise("'INVALID_FUNCTION_ARGUMENT: Invalid format: \"' || s || '\"'", "TIMESTAMP")
    + ") END",
    "CREATE OR REPLACE MACRO from_iso8601_timestamp(s) AS _iso8601_or_fail(CAST(s AS VARCHAR))",
    "CREATE OR REPLACE MACRO from_iso8601_date(s) AS CAST(s AS DATE)",
    # date_add(unit, n, ts) with Trino's argument order (DuckDB's own 2-argument date_add stays usable).
    "CREATE OR REPLACE MACRO date_add(unit, n, ts) AS ts + CASE lower(unit) "
    "WHEN 'millisecond' THEN to_milliseconds(CAST(n AS BIGINT)) WHEN 'second' THEN to_seconds(CAST(n AS BIGINT)) "
    "WHEN 'minute' THEN to_minutes(CAST(n AS BIGINT)) WHEN 'hour' THEN to_hours(CAST(n AS BIGINT)) "
    "WHEN 'day' THEN to_days(CAST(n AS INTEGER)) WHEN 'week' THEN to_weeks(CAST(n AS INTEGER)) "
    "WHEN 'month' THEN to_months(CAST(n AS INTEGER)) WHEN 'year' THEN to_years(CAST(n AS INTEGER)) END",
    # to_iso8601 of a timestamp: exactly 'YYYY-MM-DDTHH:MM:SS.mmmZ' (the records' format).
    "CREATE OR REPLACE MACRO to_iso8601(ts) AS strftime(CAST(ts AS TIMESTAMP), '%Y-%m-%dT%H:%M:%S.%gZ')",
    "CREATE OR REPLACE MACRO is_nan(x) AS isnan(x)",
    "CREATE OR REPLACE MACRO regexp_like(s, p) AS regexp_matches(s, p)",
    "CREATE OR REPLACE MACRO is_finite(x) AS isfinite(x)",
    "CREATE OR REPLACE MACRO is_infinite(x) AS isinf(x)",
    "CREATE OR REPLACE MACRO nan() AS CAST('NaN' AS DOUBLE)",
    "CREATE OR REPLACE MACRO infinity() AS CAST('Infinity' AS DOUBLE)",
    "CREATE OR REPLACE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)",
    "CREATE OR REPLACE MACRO json_format(j) AS CAST(j AS VARCHAR)",
    "CREATE OR REPLACE MACRO json_parse(s) AS CAST(s AS JSON)",
    "CREATE OR REPLACE MACRO from_unixtime(x) AS CAST(to_timestamp(x) AS TIMESTAMP)",
    "CREATE OR REPLACE MACRO to_unixtime(ts) AS epoch(ts)",
    "CREATE OR REPLACE MACRO at_timezone(ts, tz) AS timezone(tz, ts)",
    "CREATE OR REPLACE MACRO cardinality(x) AS len(x)",
    "CREATE OR REPLACE MACRO element_at(x, i) AS x[i]",
    "CREATE OR REPLACE MACRO from_hex(x) AS unhex(x)",
    "CREATE OR REPLACE MACRO to_hex(x) AS upper(hex(x))",
    "CREATE OR REPLACE MACRO xxhash64(x) AS hash(x)",
)
"""Trino functions as DuckDB macros (`CREATE MACRO` overloads by argument count, so DuckDB's own stay)."""

_GLUE_TYPES = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "char": "VARCHAR",
    "int": "INTEGER",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "real": "FLOAT",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
}
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
_UNLOAD = re.compile(
    r"^\s*UNLOAD\s*\((?P<select>.*)\)\s*TO\s*'(?P<target>[^']*)'\s*WITH\s*\((?P<opts>.*)\)\s*$", re.S | re.I
)
_OPTION = re.compile(r"(\w+)\s*=\s*(?:'([^']*)'|(ARRAY\s*\[[^\]]*\])|([\w.]+))", re.I)
_NAME = r'(?:"[^"]+"|[A-Za-z_][\w-]*)'
_TABLE_REF = re.compile(
    rf"\b(?:FROM|JOIN)\s+(?P<name>{_NAME}(?:\s*\.\s*{_NAME}){{0,2}})"
    r"(?:\s+(?:AS\s+)?(?P<alias>(?!(?:ON|WHERE|JOIN|LEFT|RIGHT|INNER|OUTER|CROSS|FULL|GROUP|ORDER|LIMIT|UNION|"
    r"HAVING|WINDOW|USING|NATURAL|EXCEPT|INTERSECT|OFFSET|FETCH|TABLESAMPLE)\b)[A-Za-z_]\w*))?",
    re.I,
)
_STATEMENT = re.compile(r"^\s*(?:--[^\n]*\n\s*)*(\w+)", re.I)
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


class QueryFailed(Exception):
    """A query failed for a reason Athena would report as `StateChangeReason`."""

    def __init__(self, message: str, error_type: int = 1006, category: int = 2) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.category = category


@dataclass
class TableSource:
    """One Glue table as the engine reads it: typed columns, partition key, and the local files per partition."""

    database: str
    name: str
    columns: list[tuple[str, str]]  # (name, DuckDB type)
    partition_key: str | None = None
    files: dict[str, list[Path]] = field(default_factory=dict)  # partition value -> local files
    uris: dict[Path, str] = field(default_factory=dict)  # local file -> the S3 URI it is a copy of (`"$path"`)
    ignore_malformed_json: bool = False  # SerDe `ignore.malformed.json` (Athena's default: FALSE)
    null_for_invalid_data: bool = False  # SerDe `use.null.for.invalid.data` (Athena's default: FALSE)

    @staticmethod
    def serde(parameters: dict[str, str] | None) -> dict[str, bool]:
        """The OpenX JSON SerDe properties the engine applies, from a table's `SerdeInfo.Parameters`."""
        given = {key.lower(): str(value).strip().lower() for key, value in (parameters or {}).items()}
        return {
            "ignore_malformed_json": given.get("ignore.malformed.json") == "true",
            "null_for_invalid_data": given.get("use.null.for.invalid.data") == "true",
        }


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


def _unquote(name: str) -> str:
    name = name.strip()
    return name[1:-1] if name.startswith('"') and name.endswith('"') else name.lower()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _split_s3(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise QueryFailed(f"not an S3 location: {uri}")
    return parsed.netloc, parsed.path.lstrip("/")


def table_references(sql: str, default_database: str | None) -> list[tuple[str, str, str, bool]]:
    """`(database, table, alias, qualified)` per `FROM|JOIN` of a named table (string literals, subqueries and
    table functions are skipped; an unqualified name may be a CTE or `extract(x FROM y)`: the caller checks Glue)."""
    text = re.sub(r"'(?:[^']|'')*'", "''", sql)
    refs = []
    for match in _TABLE_REF.finditer(text):
        after = text[match.end("name") :].lstrip()
        if after.startswith("("):  # a table function such as read_json(...)
            continue
        parts = [_unquote(p) for p in re.split(r"\s*\.\s*(?=(?:\"|[A-Za-z_]))", match.group("name"))]
        if len(parts) == 3:
            parts = parts[1:]
        qualified = len(parts) == 2
        if not qualified:
            if default_database is None:
                continue
            parts = [default_database, parts[0]]
        alias = match.group("alias") or parts[1]
        refs.append((parts[0], parts[1], alias, qualified))
    return refs


def partition_ranges(sql: str, alias: str, key: str, only_reference: bool) -> list[tuple[str, str]] | None:
    """The ranges `<alias>.<key>` is restricted to in the SQL, or None when there is no such predicate."""
    target = rf"(?:\b{re.escape(alias)}\.)" + ("?" if only_reference else "") + rf"\b{re.escape(key)}\b"
    ranges = [
        (m.group(1), m.group(2)) for m in re.finditer(rf"{target}\s+BETWEEN\s+'([^']*)'\s+AND\s+'([^']*)'", sql, re.I)
    ]
    ranges += [(m.group(1), m.group(1)) for m in re.finditer(rf"{target}\s*=\s*'([^']*)'", sql, re.I)]
    return ranges or None


def _projection_depth(fmt: str) -> int:
    return fmt.count("/") + 1


def _sql_list(files: Iterable[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in files) + "]"


_JAVA_DOUBLE = r"\s*[+-]?(NaN|Infinity|(([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?[fFdD]?))\s*"
"""What Java's `Double.parseDouble` reads (the OpenX SerDe's double/float parsing), hex floats aside."""
_JAVA_LONG = r"[+-]?[0-9]+"
"""What Java's `Long.parseLong`/`Integer.parseInt` read: no fraction, no exponent (`0.54` fails an int column)."""


def serde_value(name: str, duck_type: str, field_index: int, null_for_invalid: bool = False) -> str:
    """The OpenX JSON SerDe's conversion of one JSON value (read as its text) into a column of `duck_type`.

    A string column takes any value (numbers and booleans as their text, objects and arrays as JSON text). A
    typed column takes a value whose text parses as that type, quoted or not (`"0.5"` is a double); any other
    value (`"abc"`, `true` or an object in a double column, `0.54` in an int column, an int out of range) fails
    the query with Athena's `HIVE_BAD_DATA: Error parsing field value ...`, even with `ignore.malformed.json`,
    unless the table sets `use.null.for.invalid.data`, which reads it as NULL. Booleans: `true` (any case) is
    true, everything else false.
    """
    column = _quote(name)
    if duck_type == "VARCHAR":
        return column
    if duck_type == "BOOLEAN":
        return f"(lower({column}) = 'true')"
    if duck_type in ("DOUBLE", "FLOAT"):
        valid = f"regexp_full_match({column}, '{_JAVA_DOUBLE}')"
        value = f"CAST(rtrim(trim({column}), 'fFdD') AS {duck_type})"
    elif duck_type in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT"):
        valid = f"(regexp_full_match({column}, '{_JAVA_LONG}') AND TRY_CAST({column} AS {duck_type}) IS NOT NULL)"
        value = f"CAST({column} AS {duck_type})"
    else:
        valid = f"TRY_CAST({column} AS {duck_type}) IS NOT NULL"
        value = f"TRY_CAST({column} AS {duck_type})"
    if null_for_invalid:
        return f"CASE WHEN {valid} THEN {value} END"
    message = (
        f"'HIVE_BAD_DATA: Error parsing field value ''' || {column} || ''' for field {field_index}: "
        f"For input string: \"' || {column} || '\"'"
    )
    return f"CASE WHEN {column} IS NULL THEN NULL WHEN {valid} THEN {value} ELSE {_raise(message, duck_type)} END"


PSEUDO_COLUMNS = ("$path",)
"""Athena's hidden columns the engine provides: `"$path"`, the S3 URI of the object a row was read from."""


def uses_pseudo_columns(sql: str) -> bool:
    """Whether the SQL names a pseudo-column (the views carry them only then: they cost a join per file group)."""
    return any(f'"{name}"' in sql for name in PSEUDO_COLUMNS)


def _file_uris(source: TableSource, files: list[Path]) -> str:
    rows = ", ".join(f"({_sql_text(str(f))}, {_sql_text(source.uris.get(f, str(f)))})" for f in files)
    return f"(VALUES {rows}) AS _athena_files(_athena_local, _athena_uri)"


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def table_view_sql(source: TableSource, pseudo_columns: bool = False) -> str:
    """The SELECT of a table view: the JSON lines of its files read as the OpenX JSON SerDe reads them.

    Every field is read as its JSON text and converted by `serde_value` into the Glue column's type. With
    `ignore.malformed.json` a line that is not JSON becomes a row of NULLs (`read_json(..., ignore_errors=true)`),
    so the SQL can count it; without it such a line fails the query (`HIVE_CURSOR_ERROR`). Blank lines are skipped.
    With `pseudo_columns`, each row also carries `"$path"`, the S3 URI of its object (`TableSource.uris`).
    """
    columns = "{" + ", ".join(f"{_quote(name)}: 'VARCHAR'" for name, _ in source.columns) + "}"
    names = ", ".join(
        f"{serde_value(name, kind, index, source.null_for_invalid_data)} AS {_quote(name)}"
        for index, (name, kind) in enumerate(source.columns)
    )
    ignore = "true" if source.ignore_malformed_json else "false"
    parts = []
    for partition, files in sorted(source.files.items()):
        for compression in ("gzip", "none"):
            group = [f for f in files if (f.suffix == ".gz") == (compression == "gzip")]
            if not group:
                continue
            key = f", '{partition}' AS {_quote(source.partition_key)}" if source.partition_key else ""
            path = ', _athena_uri AS "$path"' if pseudo_columns else ""
            read = (
                f"read_json({_sql_list(group)}, format='newline_delimited', "
                f"columns={columns}, ignore_errors={ignore}, compression='{compression}', "
                "maximum_object_size=67108864" + (", filename='_athena_file')" if pseudo_columns else ")")
            )
            joined = f" JOIN {_file_uris(source, group)} ON _athena_local = _athena_file" if pseudo_columns else ""
            parts.append(f"SELECT {names}{key}{path} FROM {read}{joined}")
    if not parts:
        empty = [f"CAST(NULL AS {kind}) AS {_quote(name)}" for name, kind in source.columns]
        if source.partition_key:
            empty.append(f"CAST(NULL AS VARCHAR) AS {_quote(source.partition_key)}")
        if pseudo_columns:
            empty.append('CAST(NULL AS VARCHAR) AS "$path"')
        return f"SELECT {', '.join(empty)} WHERE false"
    return "\nUNION ALL\n".join(parts)


def prepare_connection(
    sources: Iterable[TableSource],
    threads: int = DUCKDB_THREADS,
    database: str | None = None,
    pseudo_columns: bool = False,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the Trino macros and one view per table (`"<database>"."<table>"`)."""
    con = duckdb.connect(":memory:", config={"threads": max(1, threads)})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    for macro in TRINO_MACROS:
        con.execute(macro)
    for source in sources:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(source.database)}")
        con.execute(
            f"CREATE OR REPLACE VIEW {_quote(source.database)}.{_quote(source.name)} AS "
            + table_view_sql(source, pseudo_columns)
        )
    if database:  # the query's QueryExecutionContext.Database: unqualified names resolve there
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(database)}")
        con.execute(f"SET schema = '{database.replace(chr(39), chr(39) * 2)}'")
    return con


def parse_unload(sql: str) -> tuple[str, str, dict[str, str]] | None:
    """`(select, target, options)` of an UNLOAD statement, or None."""
    match = _UNLOAD.match(sql)
    if not match:
        return None
    options = {}
    for opt in _OPTION.finditer(match.group("opts")):
        options[opt.group(1).lower()] = next(g for g in opt.groups()[1:] if g is not None)
    return match.group("select"), match.group("target"), options


def write_unload(
    con: duckdb.DuckDBPyConnection, select: str, options: dict[str, str], out_dir: Path, stem: str
) -> tuple[list[Path], int]:
    """Run the UNLOAD's SELECT into local files in the requested format; returns (files, rows).

    JSON and TEXTFILE are gzip-compressed by default, as Athena does (`compression = 'NONE'` writes plain text).
    DuckDB writes one plain file per thread and Python compresses them in parallel at level 1 (zlib releases the
    GIL; several times faster than DuckDB's own gzip). Empty files are dropped (no rows: no data file, as Athena).
    """
    fmt = options.get("format", "PARQUET").upper()
    compression = options.get("compression", "GZIP" if fmt in ("JSON", "TEXTFILE") else "SNAPPY").upper()
    out_dir.mkdir(parents=True, exist_ok=True)
    if fmt == "PARQUET":
        codec = compression if compression in ("SNAPPY", "GZIP", "ZSTD") else "SNAPPY"
        path = out_dir / f"{stem}_00000.parquet"
        rows = con.execute(f"COPY ({select}) TO '{path}' (FORMAT PARQUET, COMPRESSION {codec})").fetchone()
        return [path], int(rows[0]) if rows else 0
    if fmt == "JSON":
        copy = "FORMAT JSON"
    elif fmt == "TEXTFILE":
        delimiter = options.get("field_delimiter", ",").replace("'", "''")
        copy = f"FORMAT CSV, HEADER false, DELIMITER '{delimiter}'"
    else:
        raise QueryFailed(f"UNLOAD format {fmt} is not supported by the local engine (JSON, TEXTFILE, PARQUET)")
    if compression not in ("GZIP", "NONE", "UNCOMPRESSED"):
        raise QueryFailed(f"UNLOAD compression {compression} is not supported by the local engine (GZIP, NONE)")
    plain_dir = out_dir / f"{stem}_parts"
    rows = con.execute(
        f"COPY ({select}) TO '{plain_dir}' ({copy}, COMPRESSION NONE, PER_THREAD_OUTPUT true, OVERWRITE true)"
    ).fetchone()
    parts = sorted(p for p in plain_dir.iterdir() if p.is_file() and p.stat().st_size > 0)
    gzip_parts = compression == "GZIP"
    targets = [out_dir / f"{stem}_{index:05d}{'.gz' if gzip_parts else ''}" for index in range(len(parts))]

    def finish(pair: tuple[Path, Path]) -> Path:
        source, target = pair
        if not gzip_parts:
            return source.rename(target)
        with open(source, "rb") as raw, gzip.open(target, "wb", compresslevel=1) as packed:
            shutil.copyfileobj(raw, packed, 1 << 20)
        source.unlink()
        return target

    with ThreadPoolExecutor(max_workers=max(1, min(len(parts), os.cpu_count() or 1))) as pool:
        files = list(pool.map(finish, zip(parts, targets, strict=True)))
    shutil.rmtree(plain_dir, ignore_errors=True)
    return files, int(rows[0]) if rows else 0


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


def _csv_bytes(columns: list[tuple[str, str]], rows: list[tuple[Any, ...]]) -> bytes:
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


def run_query(sql: str, tables: dict[tuple[str, str], TableSource], out_dir: Path | None = None) -> dict[str, Any]:
    """Run one statement over local files, synchronously (benchmarks, ad-hoc use; no S3, no Glue).

    `tables` maps `(database, table)` to its `TableSource` (partition value -> local files). A SELECT returns
    `{"columns", "rows"}`; an UNLOAD writes its files under `out_dir` and returns `{"files", "rows"}`.
    """
    con = prepare_connection(tables.values(), pseudo_columns=uses_pseudo_columns(sql))
    try:
        unload = parse_unload(sql)
        if unload is None:
            relation = con.execute(sql)
            columns = [(d[0], str(d[1])) for d in relation.description]
            return {"columns": columns, "rows": relation.fetchall()}
        select, _target, options = unload
        files, rows = write_unload(con, select, options, Path(out_dir or "."), uuid.uuid4().hex)
        return {"files": files, "rows": rows}
    finally:
        con.close()


def local_table(
    database: str,
    name: str,
    columns: list[tuple[str, str]],
    directory: Path,
    depth: int = 4,
    partition_key: str = "dt",
    serde_parameters: dict[str, str] | None = None,
) -> TableSource:
    """A `TableSource` over a local directory in the Firehose layout (`<dir>/YYYY/MM/DD/HH/<files>`).

    `serde_parameters` are the Glue table's `SerdeInfo.Parameters` (Athena's defaults when omitted).
    """
    source = TableSource(
        database,
        name,
        [(c, _GLUE_TYPES.get(t.lower(), t)) for c, t in columns],
        partition_key,
        **TableSource.serde(serde_parameters),
    )
    for path in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
        parts = path.relative_to(directory).parts
        if len(parts) > depth:
            source.files.setdefault("/".join(parts[:depth]), []).append(path)
    return source


def idempotent_request(params: dict[str, Any]) -> str:
    """The parameters a `ClientRequestToken` binds: a retry with the token must repeat them all exactly."""
    bound = {key: value for key, value in params.items() if key != "ClientRequestToken"}
    return json.dumps(bound, sort_keys=True, default=str)


class AthenaEngine:
    """Athena's query-execution API on DuckDB (`dispatch(operation, params)`); work groups stay moto's."""

    operations = frozenset(
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

    def __init__(self, state_dir: Path, endpoint_url: str, workers: int = 2) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir = self.state_dir / "cache"
        self.endpoint_url = endpoint_url
        self._executions: dict[str, Execution] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="athena-query")
        self.prune_cache()
        self._clients: dict[str, Any] = {}
        self._client_lock = threading.Lock()
        self._closed = False

    # Plumbing -------------------------------------------------------------------------------------------------

    def _client(self, service: str) -> Any:
        with self._client_lock:
            if service not in self._clients:
                self._clients[service] = aws_client(service, self.endpoint_url)
            return self._clients[service]

    def close(self) -> None:
        self._closed = True
        with self._lock:
            running = [e for e in self._executions.values() if e.state not in TERMINAL]
        for execution in running:
            self._cancel(execution)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.prune_cache()

    def prune_cache(self, limit: int = CACHE_BYTES) -> None:
        """Drop the least recently used cached objects beyond `limit` bytes (`LOCAL_ATHENA_CACHE_MB`)."""
        if not self.cache_dir.is_dir():
            return
        entries = []
        for path in self.cache_dir.iterdir():
            with contextlib.suppress(OSError):
                stat = path.stat()
                entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= limit:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size

    def dispatch(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, "_op_" + operation, None)
        if handler is None or operation not in self.operations:
            raise AwsError(
                "InvalidRequestException", f"operation {operation} is not supported by the local Athena engine"
            )
        return handler(params or {})

    def _get(self, params: dict[str, Any]) -> Execution:
        query_id = params.get("QueryExecutionId")
        if not query_id:
            raise AwsError("InvalidRequestException", "QueryExecutionId is required")
        with self._lock:
            execution = self._executions.get(query_id)
        if execution is None:
            raise AwsError("InvalidRequestException", f"QueryExecution {query_id} was not found")
        return execution

    # Operations -----------------------------------------------------------------------------------------------

    def _op_StartQueryExecution(self, params: dict[str, Any]) -> dict[str, Any]:
        query = params.get("QueryString")
        if not isinstance(query, str) or not query.strip():
            raise AwsError("InvalidRequestException", "QueryString is required")
        if len(query) > 262144:
            raise AwsError("InvalidRequestException", "QueryString exceeds 262144 characters")
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
            with self._lock:
                for execution in self._executions.values():
                    if getattr(execution, "token", None) != token:
                        continue
                    if getattr(execution, "request", None) != request:
                        # StartQueryExecution: "An error is returned if a parameter, such as QueryString, has changed."
                        raise AwsError("InvalidRequestException", "Idempotent parameters do not match")
                    return {"QueryExecutionId": execution.query_id}
        execution = Execution(
            query_id=str(uuid.uuid4()),
            query=query,
            database=context.get("Database"),
            catalog=context.get("Catalog") or "AwsDataCatalog",
            workgroup=workgroup,
            output_location=output if output.endswith("/") else output + "/",
            submitted=time.time(),
        )
        execution.token = token  # type: ignore[attr-defined]
        execution.request = request  # type: ignore[attr-defined]
        unload = parse_unload(query)
        keyword = (_STATEMENT.match(query) or re.match(r"(.*)", "")).group(1).upper()
        if unload is not None:
            execution.substatement_type = "UNLOAD"
        elif keyword in ("SELECT", "WITH", "VALUES", "TABLE", "("):
            execution.substatement_type = "SELECT"
        else:
            execution.statement_type, execution.substatement_type = "DDL", keyword or "UNKNOWN"
        with self._lock:
            self._executions[execution.query_id] = execution
            self._order.append(execution.query_id)
        self._pool.submit(self._run, execution)
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
        return {"QueryExecution": self._describe(self._get(params))}

    def _op_BatchGetQueryExecution(self, params: dict[str, Any]) -> dict[str, Any]:
        found, missing = [], []
        for query_id in params.get("QueryExecutionIds") or []:
            with self._lock:
                execution = self._executions.get(query_id)
            if execution is None:
                missing.append(
                    {"QueryExecutionId": query_id, "ErrorCode": "INVALID_INPUT", "ErrorMessage": "not found"}
                )
            else:
                found.append(self._describe(execution))
        return {"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing}

    def _describe(self, e: Execution) -> dict[str, Any]:
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

    def _op_GetQueryResults(self, params: dict[str, Any]) -> dict[str, Any]:
        e = self._get(params)
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

    def _op_StopQueryExecution(self, params: dict[str, Any]) -> dict[str, Any]:
        self._cancel(self._get(params))
        return {}

    def _cancel(self, e: Execution) -> None:
        with self._lock:
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
        with self._lock:
            ids = [q for q in reversed(self._order) if self._executions[q].workgroup == workgroup]
        offset = int(params.get("NextToken") or 0)
        page = ids[offset : offset + limit]
        answer: dict[str, Any] = {"QueryExecutionIds": page}
        if offset + limit < len(ids):
            answer["NextToken"] = str(offset + limit)
        return answer

    def _op_GetQueryRuntimeStatistics(self, params: dict[str, Any]) -> dict[str, Any]:
        e = self._get(params)
        described = self._describe(e)["Statistics"]
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

    def files_read(self, query_id: str) -> list[str]:
        """The S3 URIs of the objects the query read (after partition pruning)."""
        return list(self._get({"QueryExecutionId": query_id}).files_read)

    def wait(self, query_id: str, timeout: float = 60.0) -> str:
        """Until the query is done; its final state (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self._get({"QueryExecutionId": query_id}).state
            if state in TERMINAL:
                return state
            time.sleep(0.02)
        return self._get({"QueryExecutionId": query_id}).state

    # Running a query ------------------------------------------------------------------------------------------

    def _run(self, e: Execution) -> None:
        with self._lock:
            if e.state != "QUEUED":
                return
            e.state, e.started = "RUNNING", time.time()
        work = self.state_dir / "queries" / e.query_id
        try:
            self._execute(e, work)
            final, reason, error_type, category = "SUCCEEDED", None, None, None
        except QueryFailed as err:
            final, reason, error_type, category = "FAILED", str(err), err.error_type, err.category
        except duckdb.InterruptException:
            final, reason, error_type, category = "CANCELLED", "Query was cancelled by the user", None, None
        except duckdb.Error as err:
            final, reason, error_type, category = "FAILED", _duckdb_reason(err), 1006, 2
        except Exception as err:  # S3/Glue trouble or an engine bug: the query fails, the engine keeps going
            final, reason, error_type, category = "FAILED", f"{type(err).__name__}: {err}", 401, 1
        finally:
            shutil.rmtree(work, ignore_errors=True)
        with self._lock:
            if e.cancelled and final != "FAILED":
                final, reason = "CANCELLED", "Query was cancelled by the user"
            e.state, e.reason, e.error_type, e.error_category = final, reason, error_type, category
            e.completed = time.time()
            e.connection = None

    def _execute(self, e: Execution, work: Path) -> None:
        sql = e.query.strip().rstrip(";").strip()
        if e.statement_type != "DML":
            raise QueryFailed(
                f"{e.substatement_type} statements are not supported by the local Athena engine "
                "(tables come from Glue; run SELECT or UNLOAD)"
            )
        unload = parse_unload(sql)
        started = time.perf_counter()
        sources = self._sources(sql, e)
        e.timings["read_seconds"] = round(time.perf_counter() - started, 3)
        con = prepare_connection(sources, database=e.database, pseudo_columns=uses_pseudo_columns(sql))
        with self._lock:
            e.connection = con
            if e.cancelled:
                raise duckdb.InterruptException("cancelled")
        try:
            if unload is not None:
                self._unload(e, con, unload, work)
            else:
                started = time.perf_counter()
                relation = con.execute(sql)
                e.columns = [(d[0], str(d[1])) for d in relation.description]
                e.rows = relation.fetchall()
                e.row_count = len(e.rows)
                e.timings["query_seconds"] = round(time.perf_counter() - started, 3)
                bucket, key = _split_s3(f"{e.output_location}{e.query_id}.csv")
                self._client("s3").put_object(Bucket=bucket, Key=key, Body=_csv_bytes(e.columns, e.rows))
                e.result_location = f"s3://{bucket}/{key}"
        finally:
            con.close()

    def _unload(self, e: Execution, con: Any, unload: tuple[str, str, dict[str, str]], work: Path) -> None:
        select, target, options = unload
        if not target.endswith("/"):
            target += "/"
        bucket, prefix = _split_s3(target)
        s3 = self._client("s3")
        existing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        if existing.get("KeyCount", 0):
            raise QueryFailed(
                f"HIVE_PATH_ALREADY_EXISTS: Target directory for table '{e.query_id}' already exists: {target}. "
                "You may need to manually clean the data at location before retrying.",
                error_type=1001,
            )
        started = time.perf_counter()
        files, rows = write_unload(con, select, options, work, e.query_id)
        e.timings["query_seconds"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()

        def upload(path: Path) -> str:
            s3.upload_file(str(path), bucket, prefix + path.name)
            return f"s3://{bucket}/{prefix}{path.name}"

        with ThreadPoolExecutor(max_workers=max(1, min(len(files), DOWNLOAD_THREADS))) as pool:
            e.unload_files = list(pool.map(upload, files))
        e.timings["upload_seconds"] = round(time.perf_counter() - started, 3)
        e.row_count = rows
        manifest_bucket, manifest_key = _split_s3(f"{e.output_location}{e.query_id}-manifest.csv")
        s3.put_object(Bucket=manifest_bucket, Key=manifest_key, Body=("\n".join(e.unload_files) + "\n").encode())
        e.result_location = f"s3://{manifest_bucket}/{manifest_key}"

    def _sources(self, sql: str, e: Execution) -> list[TableSource]:
        refs = table_references(sql, e.database)
        by_table: dict[tuple[str, str], list[str]] = {}
        qualified: dict[tuple[str, str], bool] = {}
        for database, table, alias, is_qualified in refs:
            by_table.setdefault((database, table), []).append(alias)
            qualified[(database, table)] = qualified.get((database, table), False) or is_qualified
        sources = []
        for (database, table), aliases in by_table.items():
            try:
                source, prefix_template, depth = self._glue_table(database, table)
            except QueryFailed:
                if qualified[(database, table)]:
                    raise
                continue  # a CTE name or `extract(... FROM x)`: not a table; DuckDB resolves (or rejects) it
            wanted: list[tuple[str, str]] | None = []
            for alias in aliases:
                if source.partition_key is None:
                    wanted = None
                    break
                found = partition_ranges(sql, alias, source.partition_key, only_reference=len(refs) == 1)
                if found is None:
                    wanted = None
                    break
                wanted.extend(found)
            self._collect_files(e, source, prefix_template, depth, wanted)
            sources.append(source)
        return sources

    def _glue_table(self, database: str, table: str) -> tuple[TableSource, str, int]:
        glue = self._client("glue")
        try:
            described = glue.get_table(DatabaseName=database, Name=table)["Table"]
        except glue.exceptions.EntityNotFoundException:
            raise QueryFailed(
                f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{database}.{table}' does not exist", error_type=1301
            ) from None
        descriptor = described.get("StorageDescriptor") or {}
        parameters = described.get("Parameters") or {}
        columns = [
            (c["Name"], _GLUE_TYPES.get(c.get("Type", "string").lower(), "VARCHAR"))
            for c in descriptor.get("Columns", [])
        ]
        keys = [k["Name"] for k in described.get("PartitionKeys") or []]
        key = keys[0] if keys else None
        location = descriptor.get("Location") or ""
        template = parameters.get("storage.location.template")
        depth = 1
        if key is not None:
            fmt = parameters.get(f"projection.{key}.format", "")
            depth = _projection_depth(fmt) if fmt else 1
            if template and "${" + key + "}" in template:
                location = template.split("${" + key + "}")[0]
            elif not template:
                location = location.rstrip("/") + "/" + key + "="  # Hive layout: <location>/<key>=<value>/
        if not location:
            raise QueryFailed(f"table {database}.{table} has no location")
        serde = TableSource.serde((descriptor.get("SerdeInfo") or {}).get("Parameters"))
        source = TableSource(database, table, columns, key, **serde)
        source.range = self._projection_range(parameters, key)  # type: ignore[attr-defined]
        return source, location, depth

    @staticmethod
    def _projection_range(parameters: dict[str, str], key: str | None) -> tuple[str, str] | None:
        if key is None or parameters.get(f"projection.{key}.type") != "date":
            return None
        bounds = parameters.get(f"projection.{key}.range", "").split(",")
        if len(bounds) != 2:
            return None
        low, high = (b.strip() for b in bounds)
        return ("" if low.upper().startswith("NOW") else low, "\uffff" if high.upper().startswith("NOW") else high)

    def _collect_files(
        self, e: Execution, source: TableSource, location: str, depth: int, wanted: list[tuple[str, str]] | None
    ) -> None:
        bucket, prefix = _split_s3(location)
        s3 = self._client("s3")
        paginator = s3.get_paginator("list_objects_v2")
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if wanted:
            low = min(a for a, _ in wanted)
            kwargs["StartAfter"] = prefix + low[:-1] if low else prefix
        high = max(b for _, b in wanted) if wanted else None
        projection_range = getattr(source, "range", None)
        picked: list[tuple[str, str, str, int]] = []
        done = False
        for page in paginator.paginate(**kwargs):
            for obj in page.get("Contents", []):
                rest = obj["Key"][len(prefix) :]
                segments = rest.split("/")
                if len(segments) <= depth or not segments[-1]:
                    continue  # not inside a partition folder, or a folder marker
                value = "/".join(segments[:depth])
                if high is not None and value > high:
                    done = True
                    break
                if wanted is not None and not any(a <= value <= b for a, b in wanted):
                    continue
                if projection_range is not None and not projection_range[0] <= value <= projection_range[1]:
                    continue
                picked.append((value, obj["Key"], obj.get("ETag", ""), int(obj.get("Size", 0))))
            if done:
                break
        local_paths = self._download(bucket, picked)
        for (value, key, _etag, size), path in zip(picked, local_paths, strict=True):
            source.files.setdefault(value, []).append(path)
            source.uris[path] = f"s3://{bucket}/{key}"
            e.files_read.append(f"s3://{bucket}/{key}")
            e.bytes_scanned += size

    def _download(self, bucket: str, picked: list[tuple[str, str, str, int]]) -> list[Path]:
        """Local copies of the objects (cached by bucket, key and ETag); gzip objects get a `.gz` name."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        s3 = self._client("s3")

        def fetch(item: tuple[str, str, str, int]) -> Path:
            _value, key, etag, _size = item
            digest = hashlib.sha256(f"{bucket}/{key}/{etag}".encode()).hexdigest()[:32]
            for candidate in (self.cache_dir / f"{digest}.json", self.cache_dir / f"{digest}.json.gz"):
                if candidate.exists():
                    with contextlib.suppress(OSError):
                        os.utime(candidate)  # recently used: pruned last
                    return candidate
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            target = self.cache_dir / (f"{digest}.json.gz" if body[:2] == b"\x1f\x8b" else f"{digest}.json")
            tmp = target.with_name(target.name + f".{uuid.uuid4().hex}.part")
            tmp.write_bytes(body)
            os.replace(tmp, target)
            return target

        if len(picked) <= 1:
            return [fetch(item) for item in picked]
        with ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS) as pool:
            return list(pool.map(fetch, picked))


def _duckdb_reason(err: Exception) -> str:
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


def gzip_lines(lines: Iterable[str]) -> bytes:
    """JSON lines as Firehose writes them with GZIP compression (test and benchmark helper)."""
    return gzip.compress("".join(line if line.endswith("\n") else line + "\n" for line in lines).encode())


__all__ = [
    "TRINO_MACROS",
    "AthenaEngine",
    "QueryFailed",
    "TableSource",
    "gzip_lines",
    "local_table",
    "prepare_connection",
    "run_query",
]
