"""Writing an UNLOAD's rows to local files in Athena's formats, and running one statement over local files."""

from __future__ import annotations

import gzip
import os
import shutil
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb

from local.engines.athena.dialect import parse_unload
from local.engines.athena.failures import QueryFailed
from local.engines.athena.serde import TableSource, prepare_connection, uses_pseudo_columns


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


def gzip_lines(lines: Iterable[str]) -> bytes:
    """JSON lines as Firehose writes them with GZIP compression (test and benchmark helper)."""
    return gzip.compress("".join(line if line.endswith("\n") else line + "\n" for line in lines).encode())
