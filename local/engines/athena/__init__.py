"""Athena on DuckDB: query executions over the S3 objects of Glue tables, run in worker threads.

What a query does (`QueryRunner.run`; the package splits it by job: `dialect` reads the SQL text, `catalog` the
Glue tables, `objects` the S3 objects and their cache, `serde` the views, `unload` the UNLOAD files, `results`
the answers, `executions` the register, `engine` the API front):

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
   a row of NULLs with `ignore.malformed.json`, else fails the query. The partition key is a column, and so is
   `"$path"` (the object's S3 URI) when the query names it. Trino
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

from local.engines.athena.dialect import TRINO_MACROS
from local.engines.athena.engine import AthenaEngine
from local.engines.athena.failures import QueryFailed
from local.engines.athena.operations import OPERATIONS
from local.engines.athena.serde import TableSource, local_table, prepare_connection
from local.engines.athena.unload import gzip_lines, run_query

__all__ = [
    "OPERATIONS",
    "TRINO_MACROS",
    "AthenaEngine",
    "QueryFailed",
    "TableSource",
    "gzip_lines",
    "local_table",
    "prepare_connection",
    "run_query",
]
