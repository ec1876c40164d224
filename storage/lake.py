"""The Parquet side of the lake: Hive-partitioned files, one dataset per table.

Layout under the lake root (a local folder or any `pyarrow.fs` URI):

    <table>/date=YYYY-MM-DD/part-<writer>-<segment>.parquet        one rolled log segment
    <table>/date=YYYY-MM-DD/compact-<writer>-<lo>-<hi>.parquet     segments lo..hi, merged

A file's name depends only on the log segments it holds, so rolling or compacting
twice (after a crash between writing and deleting) rewrites the same file. A file
whose segment range lies inside another's (same writer, same partition) is
superseded: readers that go through `live_files` never count a row twice, even in
the instant between a compaction's write and its deletes.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date as Date
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from core.schemas import KEY_COLUMN, SCHEMAS, SORT_COLUMNS, TIME_COLUMN, conform

DAY_US = 86_400_000_000
EPOCH = Date(1970, 1, 1)
_NAME = re.compile(r"(?P<kind>part|compact)-(?P<writer>[A-Za-z0-9_]+)-(?P<lo>\d+)(?:-(?P<hi>\d+))?")


@dataclass(frozen=True, slots=True)
class LakeFile:
    table: str
    date: str
    path: str
    writer: str
    lo: int
    hi: int
    compacted: bool
    size: int
    mtime: float  # seconds since the epoch

    def covers(self, other: LakeFile) -> bool:
        """True when this file holds every segment of `other` (and is not `other`)."""
        if self.path == other.path or self.writer != other.writer or self.date != other.date:
            return False
        inside = self.lo <= other.lo and other.hi <= self.hi
        wider = (self.hi - self.lo, self.compacted) > (other.hi - other.lo, other.compacted)
        return inside and wider


def dedup(table: str, data: pa.Table) -> pa.Table:
    """Keep the first row of each key (redeliveries and device retries repeat keys)."""
    key = KEY_COLUMN.get(table)
    if not key or data.num_rows == 0:
        return data
    if len(pc.unique(data[key])) == data.num_rows:  # the usual case: no repeats
        return data
    indices = pa.table({"k": data[key], "i": np.arange(data.num_rows)})
    first = indices.group_by("k", use_threads=False).aggregate([("i", "min")])["i_min"]
    return data.take(first.take(pc.sort_indices(first)))


def partitions(table: str, data: pa.Table) -> Iterable[tuple[str, pa.Table]]:
    """Split rows by the UTC date of the table's time column."""
    micros = data[TIME_COLUMN[table]].cast(pa.int64())
    days = pc.divide(micros, DAY_US)  # integer division: whole days since the epoch
    for day in pc.unique(days).to_pylist():
        date = (EPOCH + timedelta(days=day)).isoformat()
        yield date, data.filter(pc.equal(days, day))


class Lake:
    """The lake's files, through `pyarrow.fs` (a local folder by default)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.fs, self.root = pafs.FileSystem.from_uri(uri)
        self.local = isinstance(self.fs, pafs.LocalFileSystem)

    def _dir(self, table: str, date: str) -> str:
        return f"{self.root}/{table}/date={date}"

    def write(self, table: str, date: str, name: str, data: pa.Table) -> None:
        """Write one file so that readers see all of it or none of it."""
        folder = self._dir(table, date)
        self.fs.create_dir(folder, recursive=True)
        tmp = f"{folder}/.{name}.parquet.tmp"
        pq.write_table(data, tmp, filesystem=self.fs, compression="zstd", row_group_size=100_000)
        self.fs.move(tmp, f"{folder}/{name}.parquet")

    def write_segment(
        self, writer: str, segment: int, frames: Iterable[tuple[str, pa.RecordBatch]]
    ) -> int:
        """A log segment's batches as one de-duplicated file per table and date."""
        by_table: dict[str, list[pa.RecordBatch]] = defaultdict(list)
        for table, batch in frames:
            by_table[table].append(conform(table, batch))
        rows = 0
        for table, batches in by_table.items():
            data = dedup(table, pa.Table.from_batches(batches, schema=SCHEMAS[table]))
            for date, chunk in partitions(table, data):
                self.write(table, date, f"part-{writer}-{segment}", chunk)
                rows += chunk.num_rows
        return rows

    def files(self, table: str) -> list[LakeFile]:
        selector = pafs.FileSelector(f"{self.root}/{table}", allow_not_found=True, recursive=True)
        found = []
        for info in self.fs.get_file_info(selector):
            name = info.base_name
            match = _NAME.fullmatch(name.removesuffix(".parquet"))
            if info.type != pafs.FileType.File or not name.endswith(".parquet") or not match:
                continue
            date = info.path.rsplit("/", 2)[-2].removeprefix("date=")
            lo = int(match["lo"])
            found.append(
                LakeFile(
                    table=table,
                    date=date,
                    path=info.path,
                    writer=match["writer"],
                    lo=lo,
                    hi=int(match["hi"] or lo),
                    compacted=match["kind"] == "compact",
                    size=info.size or 0,
                    mtime=info.mtime.timestamp() if info.mtime else 0.0,
                )
            )
        return sorted(found, key=lambda f: (f.date, f.writer, f.lo, f.hi))

    def live_files(
        self, table: str, skip_segments: Collection[tuple[str, int]] = ()
    ) -> list[LakeFile]:
        """Files whose rows count: not superseded by a compaction, and not from a segment
        the reader takes from the log instead."""
        files = self.files(table)
        return [
            f
            for f in files
            if not any(g.covers(f) for g in files)
            and not (not f.compacted and (f.writer, f.lo) in skip_segments)
        ]

    def read(self, files: list[LakeFile]) -> pa.Table:
        tables = [pq.read_table(f.path, filesystem=self.fs) for f in files]
        return pa.concat_tables(tables, promote_options="default")

    def delete(self, files: Iterable[LakeFile]) -> None:
        for f in files:
            with contextlib.suppress(FileNotFoundError):  # deleted by an earlier try
                self.fs.delete_file(f.path)

    def dates(self, table: str) -> list[str]:
        selector = pafs.FileSelector(f"{self.root}/{table}", allow_not_found=True)
        return sorted(
            info.base_name.removeprefix("date=")
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.Directory and info.base_name.startswith("date=")
        )

    def drop_partition(self, table: str, date: str) -> None:
        self.fs.delete_dir(self._dir(table, date))

    def reader_path(self, f: LakeFile) -> str:
        """The path DuckDB opens: plain for a local lake, a URI otherwise."""
        if self.local:
            return f.path
        scheme = self.uri.split("://", 1)[0]
        return f"{scheme}://{f.path}"


def sort_for_reads(table: str, data: pa.Table) -> pa.Table:
    """Rows ordered by entity then time, so one entity's history is a few row groups."""
    columns = [c for c in SORT_COLUMNS.get(table, []) if c in data.column_names]
    return data.sort_by([(c, "ascending") for c in columns]) if columns else data


def dataset_glob(root: str, table: str) -> str:
    return f"{root}/{table}/**/*.parquet"
