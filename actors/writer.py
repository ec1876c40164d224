"""StorageWriter: the Ray actor that makes batches durable and keeps the lake in shape.

`append` returns only once the batches are synced to the log, so ingest may then
acknowledge the messages to the broker. Background threads roll closed segments
into Parquet and run maintenance (compaction, retention). On start, segments left
by a previous incarnation are rolled first, each up to its last whole append: nothing
acknowledged is lost, and nothing is written twice (file names follow segment numbers).

A failed append is raised to its caller (ingest sends the batch again). A failed fsync
ends the process instead: the writer must never acknowledge over a file whose pages the
kernel may have dropped, and Ray restarts it on a fresh segment.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import ray

from core import heap
from core.loops import Threads, die
from core.metrics import Histogram
from core.schemas import SCHEMAS
from core.settings import Settings
from storage.compaction import CompactionPolicy, compact, plan
from storage.lake import Lake
from storage.log import (
    Segment,
    SyncFailed,
    encode_append,
    next_number,
    read_frames,
    segment_number,
    segment_path,
    segment_paths,
)
from storage.retention import apply_retention

log = logging.getLogger("vigil.writer")
Frames = list[tuple[str, pa.RecordBatch]]


@ray.remote(concurrency_groups={"critical": 1, "bulk": 1})  # type: ignore[call-overload]
class StorageWriter:
    def __init__(self, settings: Settings, name: str = "writer") -> None:
        self.name = name
        self.lake = Lake(settings.lake)
        self.log_dir = Path(settings.data_dir) / "_log" / name
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.policy = CompactionPolicy(
            settings.compact_min_files, settings.compact_after_s, settings.compact_seal_mb << 20
        )
        self.append_latency = Histogram()  # encode, write and fsync one call's batches
        self.roll_latency = Histogram()  # one segment into Parquet
        self._lock = threading.Lock()  # guards the open segment and the closed ones
        self._roll_lock = threading.Lock()  # one roll or compaction at a time; before _lock
        self.stats = {
            "appends": 0,
            "rows": 0,
            "bytes": 0,
            "rolled_rows": 0,
            "segments": 0,
            "compactions": 0,
            "compacted_rows": 0,
            "dropped_partitions": 0,
            "maintenance_failures": 0,
        }
        leftovers = segment_paths(self.log_dir)  # a previous incarnation's, torn tails and all
        self._closed = list(leftovers)  # closed segments not rolled yet, oldest first
        self._roll_closed()
        last = segment_number(leftovers[-1]) if leftovers else 0
        self._segment = Segment(segment_path(self.log_dir, next_number(last)))
        self._opened = time.monotonic()
        self._maintain_at = time.monotonic() + settings.maintenance_s
        self.threads = Threads(f"vigil-{name}")
        self.threads.forever("roll", self._roll_step, pause=min(0.1, settings.roll_seconds / 4))
        # Beats every second however long maintenance_s is, so health can tell it is alive.
        self.threads.forever(
            "maintenance", self._maintenance_step, pause=min(1.0, settings.maintenance_s)
        )
        heap.settle()

    def append(self, frames: Frames) -> int:
        return self._append(frames)

    @ray.method(concurrency_group="critical")
    def append_critical(self, frames: Frames) -> int:
        return self._append(frames)

    @ray.method(concurrency_group="critical")
    def flush(self) -> int:
        """Roll the open segment now (tests, `vigil down`); returns rows rolled."""
        return self._rotate_and_roll()

    @ray.method(concurrency_group="critical")
    def maintain(self) -> dict[str, int]:
        """Run compaction and retention now; returns the stats."""
        self._maintain()
        return dict(self.stats)

    @ray.method(concurrency_group="critical")
    def get_stats(self) -> dict[str, Any]:
        return {
            **self.stats,
            "log_rows": self._segment.rows,
            "append_latency": self.append_latency.to_dict(),
            "roll_latency": self.roll_latency.to_dict(),
            "threads": self.threads.report(),
            "problems": self.threads.problems(),  # what `vigil health` reports for the writer
        }

    @ray.method(concurrency_group="critical")
    def pid(self) -> int:
        return os.getpid()

    def _append(self, frames: Frames) -> int:
        frames = [(table, batch) for table, batch in frames if batch.num_rows]
        if not frames:
            return 0
        started = time.perf_counter()
        data = encode_append(frames)  # outside the lock: the other lane writes meanwhile
        rows = sum(batch.num_rows for _, batch in frames)
        with self._lock:
            if self._segment.broken:  # a failed truncation left torn bytes at its end
                self._swap()
            segment = self._segment
            end = segment.write(data, rows)
        try:
            segment.sync(end)  # outside the lock: appends that meet share one fsync
        except SyncFailed as exc:
            die(f"{self.name}: {exc}; the call was not acknowledged")
        self.append_latency.observe(time.perf_counter() - started)
        self.stats["appends"] += 1
        self.stats["rows"] += rows
        self.stats["bytes"] += len(data)
        return rows

    def _swap(self) -> None:
        """Close the open segment for rolling and open the next one (holding _lock)."""
        closed = self._segment
        # Opened first: if that fails, appends go on into the segment still open.
        self._segment = Segment(
            segment_path(self.log_dir, next_number(segment_number(closed.path)))
        )
        self._opened = time.monotonic()
        self._closed.append(closed.path)
        try:
            closed.close()  # syncs what a caller between its write and its sync still needs
        except SyncFailed as exc:
            die(f"{self.name}: {exc}; the calls it held were not acknowledged")

    def _roll_step(self) -> None:
        with self._lock:
            age = time.monotonic() - self._opened
            rows = self._segment.rows
            if rows and (age >= self.settings.roll_seconds or rows >= self.settings.roll_rows):
                self._swap()
        self._roll_closed()

    def _rotate_and_roll(self) -> int:
        with self._lock:
            if self._segment.rows:
                self._swap()
        return self._roll_closed()

    def _roll_closed(self) -> int:
        """Roll every closed segment into Parquet, oldest first; one that fails stays
        in the list (and on disk) and is tried again on the next round."""
        rows = 0
        with self._roll_lock:
            with self._lock:
                pending = list(self._closed)
            for path in pending:
                rows += self._roll(path)
                with self._lock:
                    self._closed.remove(path)
        return rows

    def _roll(self, path: Path) -> int:
        started = time.perf_counter()
        rows = self.lake.write_segment(self.name, segment_number(path), read_frames(path))
        path.unlink()
        self.roll_latency.observe(time.perf_counter() - started)
        self.stats["rolled_rows"] += rows
        self.stats["segments"] += 1
        return rows

    def _maintenance_step(self) -> None:
        if time.monotonic() < self._maintain_at:
            return
        self._maintain_at = time.monotonic() + self.settings.maintenance_s
        try:
            self._maintain()
        except Exception:  # appends and rolls go on; the next round tries again
            self.stats["maintenance_failures"] += 1
            raise  # Threads logs it and counts it

    def _maintain(self) -> None:
        for table in SCHEMAS:
            with self._roll_lock:
                self._compact(table)
            self._expire(table)

    def _compact(self, table: str) -> None:
        pending = [segment_number(p) for p in segment_paths(self.log_dir)]
        below = min(pending) if pending else next_number(0)
        mine = [f for f in self.lake.files(table) if f.writer == self.name]
        for group in plan(mine, below, time.time(), self.policy):
            self.stats["compacted_rows"] += compact(self.lake, group)
            self.stats["compactions"] += 1

    def _expire(self, table: str) -> None:
        days = self.settings.retention_days.get(table, 0)
        for day in apply_retention(self.lake, table, days, datetime.now(UTC).date()):
            self.stats["dropped_partitions"] += 1
            log.info("retention: dropped %s/date=%s (older than %d days)", table, day, days)
