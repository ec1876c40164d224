"""StorageWriter: the Ray actor that makes batches durable and keeps the lake in shape.

`append` returns only once the batches are synced to the log, so ingest may then
acknowledge the messages to the broker. Background threads roll closed segments
into Parquet and run maintenance (compaction, retention). On start, segments left
by a previous incarnation are rolled first: nothing acknowledged is lost, and
nothing is written twice (file names follow segment numbers).
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
from core.metrics import Histogram
from core.schemas import SCHEMAS
from core.settings import Settings
from storage.compaction import CompactionPolicy, compact, plan
from storage.lake import Lake
from storage.log import (
    Segment,
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
        self._lock = threading.Lock()  # guards the open segment
        self._roll_lock = threading.Lock()  # one roll or compaction at a time
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
        leftovers = segment_paths(self.log_dir)
        for path in leftovers:
            self._roll(path)
        last = segment_number(leftovers[-1]) if leftovers else 0
        self._segment = Segment(segment_path(self.log_dir, next_number(last)))
        self._opened = time.monotonic()
        for target, name_ in ((self._roll_loop, "roll"), (self._maintenance_loop, "maintenance")):
            threading.Thread(target=target, name=name_, daemon=True).start()
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
        }

    @ray.method(concurrency_group="critical")
    def pid(self) -> int:
        return os.getpid()

    def _append(self, frames: Frames) -> int:
        frames = [(table, batch) for table, batch in frames if batch.num_rows]
        if not frames:
            return 0
        started = time.perf_counter()
        with self._lock:
            written = self._segment.append(frames)
        self.append_latency.observe(time.perf_counter() - started)
        rows = sum(batch.num_rows for _, batch in frames)
        self.stats["appends"] += 1
        self.stats["rows"] += rows
        self.stats["bytes"] += written
        return rows

    def _roll_loop(self) -> None:
        while True:
            time.sleep(min(0.1, self.settings.roll_seconds / 4))
            age = time.monotonic() - self._opened
            rows = self._segment.rows
            if rows and (age >= self.settings.roll_seconds or rows >= self.settings.roll_rows):
                try:
                    self._rotate_and_roll()
                except Exception:  # the segment stays in the log and is rolled again later
                    log.exception("rolling the log into Parquet failed")

    def _rotate_and_roll(self) -> int:
        with self._lock:
            closed = self._segment
            if not closed.rows:
                return 0
            closed.close()
            number = next_number(segment_number(closed.path))
            self._segment = Segment(segment_path(self.log_dir, number))
            self._opened = time.monotonic()
        return self._roll(closed.path)

    def _roll(self, path: Path) -> int:
        started = time.perf_counter()
        with self._roll_lock:
            rows = self.lake.write_segment(self.name, segment_number(path), read_frames(path))
            path.unlink()
        self.roll_latency.observe(time.perf_counter() - started)
        self.stats["rolled_rows"] += rows
        self.stats["segments"] += 1
        return rows

    def _maintenance_loop(self) -> None:
        while True:
            time.sleep(self.settings.maintenance_s)
            try:
                self._maintain()
            except Exception:  # appends and rolls go on; the next round tries again
                self.stats["maintenance_failures"] += 1
                log.exception("lake maintenance failed")

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
