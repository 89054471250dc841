"""Running one query execution: read the tables' objects, register the views, run the SELECT (result CSV) or the
UNLOAD (files, manifest), and record the outcome as Athena reports it."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb

from local.engines.athena.catalog import GlueCatalog
from local.engines.athena.dialect import parse_unload
from local.engines.athena.executions import Execution
from local.engines.athena.failures import QueryFailed, duckdb_reason, split_s3
from local.engines.athena.objects import DOWNLOAD_THREADS, ObjectCache
from local.engines.athena.results import csv_bytes
from local.engines.athena.serde import TableSource, prepare_connection, uses_pseudo_columns
from local.engines.athena.unload import write_unload


class QueryRunner:
    """Runs executions with a catalog, an object cache and an S3 client; `lock` is the register's."""

    def __init__(
        self,
        work_dir: Path,
        catalog: GlueCatalog,
        cache: ObjectCache,
        s3: Callable[[], Any],
        lock: threading.Lock,
    ) -> None:
        self.work_dir = work_dir
        self._catalog = catalog
        self._cache = cache
        self._s3 = s3
        self._lock = lock

    def run(self, e: Execution) -> None:
        """Run one queued execution to its final state (in a worker thread); never raises."""
        with self._lock:
            if e.state != "QUEUED":
                return
            e.state, e.started = "RUNNING", time.time()
        work = self.work_dir / e.query_id
        try:
            self._execute(e, work)
            final, reason, error_type, category = "SUCCEEDED", None, None, None
        except QueryFailed as err:
            final, reason, error_type, category = "FAILED", str(err), err.error_type, err.category
        except duckdb.InterruptException:
            final, reason, error_type, category = "CANCELLED", "Query was cancelled by the user", None, None
        except duckdb.Error as err:
            final, reason, error_type, category = "FAILED", duckdb_reason(err), 1006, 2
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
        sources = self._read_tables(sql, e)
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
                bucket, key = split_s3(f"{e.output_location}{e.query_id}.csv")
                self._s3().put_object(Bucket=bucket, Key=key, Body=csv_bytes(e.columns, e.rows))
                e.result_location = f"s3://{bucket}/{key}"
        finally:
            con.close()

    def _unload(
        self, e: Execution, con: duckdb.DuckDBPyConnection, unload: tuple[str, str, dict[str, str]], work: Path
    ) -> None:
        select, target, options = unload
        if not target.endswith("/"):
            target += "/"
        bucket, prefix = split_s3(target)
        s3 = self._s3()
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
        manifest_bucket, manifest_key = split_s3(f"{e.output_location}{e.query_id}-manifest.csv")
        s3.put_object(Bucket=manifest_bucket, Key=manifest_key, Body=("\n".join(e.unload_files) + "\n").encode())
        e.result_location = f"s3://{manifest_bucket}/{manifest_key}"

    def _read_tables(self, sql: str, e: Execution) -> list[TableSource]:
        """The tables the SQL reads, their wanted objects fetched; the execution counts what it read."""
        sources = []
        for source, location in self._catalog.tables_read(sql, e.database):
            for obj, uri in self._cache.load(source, location):
                e.files_read.append(uri)
                e.bytes_scanned += obj.size
            sources.append(source)
        return sources
