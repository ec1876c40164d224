"""DuckDB over the lake: one view per table, Parquet files and the log's unrolled tail.

    from storage.catalog import connect
    con = connect("data")
    con.execute("SELECT count(*) FROM guard_locations").fetchone()

A view is a snapshot: the log tail is read first, then the Parquet files are listed,
leaving out files from segments already read from the log and files a compaction
has superseded, so a row is counted once however rolls and compactions interleave.
`Catalog.query` takes a fresh snapshot per query and retries when a compaction
deleted a file between listing and reading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from core.retry import retry
from core.schemas import SCHEMAS, TIME_COLUMN, conform
from storage.lake import Lake, dedup
from storage.log import read_frames, segment_number, segment_paths

#: A compaction may delete a file a snapshot just listed: that many tries in all.
ATTEMPTS = 5
_DUCK_TYPES = {
    "string": "VARCHAR",
    "double": "DOUBLE",
    "int64": "BIGINT",
    "bool": "BOOLEAN",
    "timestamp[us, tz=UTC]": "TIMESTAMPTZ",
}


def read_tail(data_dir: Path) -> tuple[dict[str, pa.Table], set[tuple[str, int]]]:
    """Rows still in the writers' logs, per table, and the (writer, segment) pairs read."""
    batches: dict[str, list[pa.RecordBatch]] = {}
    seen: set[tuple[str, int]] = set()
    for log_dir in sorted((data_dir / "_log").glob("*")):
        for path in segment_paths(log_dir):
            try:
                frames = list(read_frames(path))
            except FileNotFoundError:  # rolled meanwhile: its Parquet file is listed later
                continue
            seen.add((log_dir.name, segment_number(path)))
            for table, batch in frames:
                batches.setdefault(table, []).append(conform(table, batch))
    tail = {
        table: dedup(table, pa.Table.from_batches(parts, schema=SCHEMAS[table]))
        for table, parts in batches.items()
    }
    return tail, seen


class Catalog:
    """A DuckDB connection whose views cover the lake and the log tail."""

    def __init__(self, data_dir: str | Path, lake_uri: str = "") -> None:
        self.data_dir = Path(data_dir)
        self.lake = Lake(lake_uri or str(self.data_dir.resolve()))
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")

    def refresh(self) -> None:
        """New views over the lake as it is now (a compaction racing the listing: again)."""
        retry(self._build_views, on=duckdb.IOException, attempts=ATTEMPTS)

    def _build_views(self) -> None:
        tail, seen = read_tail(self.data_dir)
        for table, schema in SCHEMAS.items():
            files = [self.lake.reader_path(f) for f in self.lake.live_files(table, seen)]
            parts = []
            if files:
                listed = ", ".join(f"'{f}'" for f in files)
                parts.append(
                    f"SELECT * FROM read_parquet([{listed}], hive_partitioning = true, "
                    "union_by_name = true)"
                )
            if table in tail and tail[table].num_rows:
                data = tail[table]
                dates = pc.cast(data[TIME_COLUMN[table]], pa.date32())
                self.con.register(f"_tail_{table}", data.append_column("date", dates))
                parts.append(f"SELECT * FROM _tail_{table}")
            # No rows, but every column of the schema: a view over no files, or over files
            # written before a column was added, still has it (null).
            columns = ", ".join(f"NULL::{_DUCK_TYPES[str(f.type)]} AS {f.name}" for f in schema)
            parts.append(f"SELECT {columns}, NULL::DATE AS date WHERE false")
            self.con.execute(
                f"CREATE OR REPLACE VIEW {table} AS " + " UNION ALL BY NAME ".join(parts)
            )

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run `sql` on a fresh snapshot; a file compacted away meanwhile means one more try
        (only that: a wrong query fails the first time)."""

        def run() -> list[tuple[Any, ...]]:
            self._build_views()
            return self.con.execute(sql, params or []).fetchall()

        return retry(run, on=duckdb.IOException, attempts=ATTEMPTS)

    def close(self) -> None:
        self.con.close()


def connect(data_dir: str | Path, lake_uri: str = "") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a view per lake table (the notebooks' one-line helper)."""
    catalog = Catalog(data_dir, lake_uri)
    catalog.refresh()
    return catalog.con


def count(
    data_dir: str | Path, table: str, where: str = "true", params: list[Any] | None = None
) -> int:
    """Rows of `table` matching `where` (a convenience for tests and the CLI)."""
    catalog = Catalog(data_dir)
    try:
        rows = catalog.query(f"SELECT count(*) FROM {table} WHERE {where}", params)
        return int(rows[0][0])
    finally:
        catalog.close()
