"""The Parquet side of the lake: Hive-partitioned files, one dataset per table.

Layout: `<root>/<table>/date=YYYY-MM-DD/part-<writer>-<segment>.parquet`. A file's
name depends only on the log segment it came from, so rolling a segment twice
(after a crash between writing and deleting it) rewrites the same files.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.schemas import KEY_COLUMN, SCHEMAS, TIME_COLUMN


def dedup(table: str, data: pa.Table) -> pa.Table:
    """Keep the first row of each key (redeliveries and device retries repeat keys)."""
    key = KEY_COLUMN[table]
    if not key or data.num_rows == 0:
        return data
    indices = pa.table({"k": data[key], "i": pa.array(range(data.num_rows))})
    first = indices.group_by("k", use_threads=False).aggregate([("i", "min")])["i_min"]
    return data.take(first.take(pc.sort_indices(first)))


def partitions(table: str, data: pa.Table) -> Iterable[tuple[str, pa.Table]]:
    """Split rows by the UTC date of the table's time column."""
    dates = pc.strftime(data[TIME_COLUMN[table]], format="%Y-%m-%d", locale="C")
    for date in pc.unique(dates).to_pylist():
        yield date, data.filter(pc.equal(dates, date))


def write_segment(root: Path, name: str, batches: Iterable[tuple[str, pa.RecordBatch]]) -> int:
    """Write a log segment's batches as Parquet files named `name`; returns rows written."""
    by_table: dict[str, list[pa.RecordBatch]] = defaultdict(list)
    for table, batch in batches:
        by_table[table].append(batch)
    rows = 0
    for table, parts in by_table.items():
        data = dedup(table, pa.Table.from_batches(parts, schema=SCHEMAS[table]))
        for date, chunk in partitions(table, data):
            folder = root / table / f"date={date}"
            folder.mkdir(parents=True, exist_ok=True)
            final = folder / f"{name}.parquet"
            tmp = folder / f".{name}.parquet.tmp"
            pq.write_table(chunk, tmp, compression="zstd")
            os.replace(tmp, final)  # readers never see a half-written file
            rows += chunk.num_rows
    return rows


def dataset_glob(root: Path, table: str) -> str:
    return str(root / table / "**" / "*.parquet")
