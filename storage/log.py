"""The storage log: Arrow batches appended to segment files and synced before ingest acks.

A segment is a sequence of frames, each one table's record batch in Arrow IPC stream
form behind a small header (table name, length, CRC32). A frame cut short by a crash
was never synced, so never acknowledged: reading stops at the first bad frame.
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

_HEADER = struct.Struct("<4sHII")  # magic, name length, body length, crc32 of body
_MAGIC = b"VGL1"


def encode_frame(table: str, batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as stream:
        stream.write_batch(batch)
    body = sink.getvalue().to_pybytes()
    name = table.encode()
    return _HEADER.pack(_MAGIC, len(name), len(body), zlib.crc32(body)) + name + body


def read_frames(path: Path) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Every whole frame of a segment, in order; a torn tail is ignored."""
    data = path.read_bytes()
    offset = 0
    while offset + _HEADER.size <= len(data):
        magic, name_len, body_len, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        end = start + name_len + body_len
        if magic != _MAGIC or end > len(data):
            return
        body = data[start + name_len : end]
        if zlib.crc32(body) != crc:
            return
        with pa.ipc.open_stream(body) as reader:
            for batch in reader:
                yield data[start : start + name_len].decode(), batch
        offset = end


class Segment:
    """One open segment file, appended to and fsynced by its writer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._file = open(path, "ab")  # noqa: SIM115 - lives as long as the segment

    def append(self, frames: list[tuple[str, pa.RecordBatch]]) -> int:
        """Write the frames and sync them to disk; returns the bytes written."""
        data = b"".join(encode_frame(table, batch) for table, batch in frames)
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())
        self.rows += sum(batch.num_rows for _, batch in frames)
        return len(data)

    def close(self) -> None:
        self._file.close()


def segment_paths(log_dir: Path) -> list[Path]:
    return sorted(log_dir.glob("seg-*.log"))


def segment_number(path: Path) -> int:
    return int(path.stem.split("-")[1])


def segment_path(log_dir: Path, number: int) -> Path:
    return log_dir / f"seg-{number:016d}.log"


def next_number(previous: int) -> int:
    """Segment numbers follow the clock (ms) and always grow, so a restarted writer
    whose old segments are all rolled never reuses a number, nor a Parquet file name."""
    return max(previous + 1, time.time_ns() // 1_000_000)
