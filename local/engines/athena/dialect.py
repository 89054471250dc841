"""Pure SQL text work: Trino's functions as DuckDB macros, and what the engine reads out of a statement (its
table references, their partition predicates, an UNLOAD's parts, its statement type). No I/O."""

from __future__ import annotations

import re

ISO8601_LENIENT = (
    "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)?"
)
"""The ISO-8601 forms both Trino's `from_iso8601_timestamp` and DuckDB's timestamp cast read (a space for `T`,
which DuckDB reads and Trino does not, is refused; reduced forms such as `2026-11` that Trino reads are refused)."""


def fail_with(message_sql: str, duck_type: str) -> str:
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
    + fail_with("'INVALID_FUNCTION_ARGUMENT: Invalid format: \"' || s || '\"'", "TIMESTAMP")
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


def _unquote(name: str) -> str:
    name = name.strip()
    return name[1:-1] if name.startswith('"') and name.endswith('"') else name.lower()


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


def parse_unload(sql: str) -> tuple[str, str, dict[str, str]] | None:
    """`(select, target, options)` of an UNLOAD statement, or None."""
    match = _UNLOAD.match(sql)
    if not match:
        return None
    options = {}
    for opt in _OPTION.finditer(match.group("opts")):
        options[opt.group(1).lower()] = next(g for g in opt.groups()[1:] if g is not None)
    return match.group("select"), match.group("target"), options


def statement_types(query: str) -> tuple[str, str]:
    """`(StatementType, SubstatementType)` as Athena reports them: DML SELECT or UNLOAD, else DDL and the keyword."""
    if parse_unload(query) is not None:
        return "DML", "UNLOAD"
    match = _STATEMENT.match(query)
    keyword = match.group(1).upper() if match else ""
    if keyword in ("SELECT", "WITH", "VALUES", "TABLE", "("):
        return "DML", "SELECT"
    return "DDL", keyword or "UNKNOWN"
