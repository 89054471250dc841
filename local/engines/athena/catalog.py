"""The Glue side of a query: which tables it reads, where their objects are (location or partition projection), and
which partitions of each it asks for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.engines.athena.dialect import partition_ranges, table_references
from local.engines.athena.failures import QueryFailed
from local.engines.athena.serde import TableSource, glue_column_type


@dataclass(frozen=True)
class TableLocation:
    """Where a table's objects are: the S3 prefix up to the partition value, how many path segments the value has,
    the projection's `range` (None: any value) and the partitions the query wants (None: all)."""

    prefix: str
    depth: int = 1
    projection_range: tuple[str, str] | None = None
    wanted: tuple[tuple[str, str], ...] | None = None

    def holds(self, value: str) -> bool:
        """Whether a partition value is one the query reads."""
        if self.wanted is not None and not any(low <= value <= high for low, high in self.wanted):
            return False
        return self.projection_range is None or self.projection_range[0] <= value <= self.projection_range[1]


def _projection_depth(fmt: str) -> int:
    return fmt.count("/") + 1


def projection_range(parameters: dict[str, str], key: str | None) -> tuple[str, str] | None:
    """A date projection's `projection.<key>.range` as string bounds (`NOW` as open-ended)."""
    if key is None or parameters.get(f"projection.{key}.type") != "date":
        return None
    bounds = parameters.get(f"projection.{key}.range", "").split(",")
    if len(bounds) != 2:
        return None
    low, high = (b.strip() for b in bounds)
    return ("" if low.upper().startswith("NOW") else low, "\uffff" if high.upper().startswith("NOW") else high)


class GlueCatalog:
    """Reads table definitions from (moto's) Glue through a boto3 client."""

    def __init__(self, glue: Callable[[], Any]) -> None:
        self._glue = glue

    def table(self, database: str, table: str) -> tuple[TableSource, TableLocation]:
        """The table's columns and SerDe properties, and its storage location (TABLE_NOT_FOUND when Glue has none)."""
        glue = self._glue()
        try:
            described = glue.get_table(DatabaseName=database, Name=table)["Table"]
        except glue.exceptions.EntityNotFoundException:
            raise QueryFailed(
                f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{database}.{table}' does not exist", error_type=1301
            ) from None
        descriptor = described.get("StorageDescriptor") or {}
        parameters = described.get("Parameters") or {}
        columns = [(c["Name"], glue_column_type(c.get("Type", "string"))) for c in descriptor.get("Columns", [])]
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
        serde = (descriptor.get("SerdeInfo") or {}).get("Parameters")
        source = TableSource.of(database, table, columns, key, serde)
        return source, TableLocation(location, depth, projection_range(parameters, key))

    def tables_read(self, sql: str, database: str | None) -> list[tuple[TableSource, TableLocation]]:
        """Each Glue table the SQL reads, with the partitions its references restrict it to.

        A table referenced once without a partition predicate, or by any reference without one, is read whole. An
        unqualified name Glue does not know is a CTE or `extract(... FROM x)`: DuckDB resolves (or rejects) it.
        """
        refs = table_references(sql, database)
        by_table: dict[tuple[str, str], list[str]] = {}
        qualified: dict[tuple[str, str], bool] = {}
        for db, table, alias, is_qualified in refs:
            by_table.setdefault((db, table), []).append(alias)
            qualified[(db, table)] = qualified.get((db, table), False) or is_qualified
        found = []
        for (db, table), aliases in by_table.items():
            try:
                source, location = self.table(db, table)
            except QueryFailed:
                if qualified[(db, table)]:
                    raise
                continue
            wanted: list[tuple[str, str]] | None = []
            for alias in aliases:
                ranges = (
                    partition_ranges(sql, alias, source.partition_key, only_reference=len(refs) == 1)
                    if source.partition_key is not None
                    else None
                )
                if ranges is None or wanted is None:
                    wanted = None
                    break
                wanted.extend(ranges)
            found.append(
                (source, TableLocation(location.prefix, location.depth, location.projection_range, _frozen(wanted)))
            )
        return found


def _frozen(wanted: list[tuple[str, str]] | None) -> tuple[tuple[str, str], ...] | None:
    return None if wanted is None else tuple(wanted)
