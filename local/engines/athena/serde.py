"""Glue tables as DuckDB views that read JSON lines the way the OpenX JSON SerDe does (pure SQL text, plus the
connection that registers them)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from local.engines.athena.dialect import TRINO_MACROS, fail_with

DUCKDB_THREADS = int(os.environ.get("LOCAL_ATHENA_THREADS", "2"))
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


def glue_column_type(glue_type: str, unknown: str = "VARCHAR") -> str:
    """The DuckDB type of a Glue column type (`unknown` for one the engine does not map)."""
    return _GLUE_TYPES.get(glue_type.lower(), unknown)


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

    @classmethod
    def of(
        cls,
        database: str,
        name: str,
        columns: list[tuple[str, str]],
        partition_key: str | None,
        serde_parameters: dict[str, str] | None,
    ) -> TableSource:
        """A table with the OpenX JSON SerDe properties the engine applies, from its `SerdeInfo.Parameters`."""
        given = {key.lower(): str(value).strip().lower() for key, value in (serde_parameters or {}).items()}
        return cls(
            database,
            name,
            columns,
            partition_key,
            ignore_malformed_json=given.get("ignore.malformed.json") == "true",
            null_for_invalid_data=given.get("use.null.for.invalid.data") == "true",
        )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
    return f"CASE WHEN {column} IS NULL THEN NULL WHEN {valid} THEN {value} ELSE {fail_with(message, duck_type)} END"


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
    source = TableSource.of(
        database, name, [(c, glue_column_type(t, t)) for c, t in columns], partition_key, serde_parameters
    )
    for path in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
        parts = path.relative_to(directory).parts
        if len(parts) > depth:
            source.files.setdefault("/".join(parts[:depth]), []).append(path)
    return source
