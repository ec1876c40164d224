"""StorageWriter: the Ray actor that makes batches durable and rolls them into Parquet.

`append` returns only once the batches are synced to the log, so ingest may then
acknowledge the messages to the broker. A background thread rolls closed segments
into Parquet; on start, segments left by a previous incarnation are rolled first.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pyarrow as pa
import ray

from core.settings import Settings
from storage.lake import write_segment
from storage.log import (
    Segment,
    next_number,
    read_frames,
    segment_number,
    segment_path,
    segment_paths,
)

log = logging.getLogger("vigil.writer")


@ray.remote(concurrency_groups={"critical": 1, "bulk": 1, "roll": 1})  # type: ignore[call-overload]
class StorageWriter:
    def __init__(self, settings: Settings, name: str = "writer") -> None:
        self.root = Path(settings.data_dir)
        self.name = name
        self.log_dir = self.root / "_log" / name
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.roll_seconds = settings.roll_seconds
        self.roll_rows = settings.roll_rows
        self._lock = threading.Lock()
        self.stats = {"appends": 0, "rows": 0, "bytes": 0, "rolled_rows": 0, "segments": 0}
        leftovers = segment_paths(self.log_dir)
        for path in leftovers:
            self._roll(path)
        last = segment_number(leftovers[-1]) if leftovers else 0
        self._segment = Segment(segment_path(self.log_dir, next_number(last)))
        self._opened = time.monotonic()
        threading.Thread(target=self._roll_loop, name="roll", daemon=True).start()

    def append(self, frames: list[tuple[str, pa.RecordBatch]]) -> int:
        return self._append(frames)

    @ray.method(concurrency_group="critical")
    def append_critical(self, frames: list[tuple[str, pa.RecordBatch]]) -> int:
        return self._append(frames)

    @ray.method(concurrency_group="critical")
    def flush(self) -> int:
        """Roll the open segment now (tests and `vigil down`); returns rows rolled."""
        return self._rotate_and_roll()

    @ray.method(concurrency_group="critical")
    def get_stats(self) -> dict[str, int]:
        return dict(self.stats)

    def _append(self, frames: list[tuple[str, pa.RecordBatch]]) -> int:
        frames = [(table, batch) for table, batch in frames if batch.num_rows]
        if not frames:
            return 0
        with self._lock:
            written = self._segment.append(frames)
        rows = sum(batch.num_rows for _, batch in frames)
        self.stats["appends"] += 1
        self.stats["rows"] += rows
        self.stats["bytes"] += written
        return rows

    def _roll_loop(self) -> None:
        while True:
            time.sleep(min(0.1, self.roll_seconds / 4))
            age = time.monotonic() - self._opened
            if self._segment.rows and (
                age >= self.roll_seconds or self._segment.rows >= self.roll_rows
            ):
                try:
                    self._rotate_and_roll()
                except Exception:  # a failed roll leaves the segment to retry; appends go on
                    log.exception("rolling the log into Parquet failed")

    def _rotate_and_roll(self) -> int:
        with self._lock:
            closed = self._segment
            if not closed.rows:
                return 0
            closed.close()
            self._segment = Segment(
                segment_path(self.log_dir, next_number(segment_number(closed.path)))
            )
            self._opened = time.monotonic()
        return self._roll(closed.path)

    def _roll(self, path: Path) -> int:
        rows = write_segment(
            self.root, f"part-{self.name}-{segment_number(path)}", read_frames(path)
        )
        path.unlink()
        self.stats["rolled_rows"] += rows
        self.stats["segments"] += 1
        return rows
