"""The storage log: Arrow batches appended to segment files and synced before ingest acks.

A segment is a sequence of frames, each one table's record batch in Arrow IPC stream
form behind a small header (magic, table name, length, CRC32). The frames of one append
are read as a whole or not at all: every frame but the last of an append says that more
follow. A frame cut short by a crash was never synced, so never acknowledged: reading
stops at the first bad frame.

That rule is only safe if a bad frame can be nothing but the tail. So a failed append
takes its torn bytes off again before anything else is appended, and a segment where
that fails (or whose fsync failed) takes no more frames: its writer opens a new one.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from core.errors import VigilError

log = logging.getLogger("vigil.log")

_HEADER = struct.Struct("<4sHII")  # magic, name length, body length, crc32 of body
_LAST = b"VGL1"  # the last (or only) frame of an append; all frames of older segments
_MORE = b"VGL+"  # more frames of the same append follow


class LogError(VigilError):
    """The storage log could not take a batch; the message names the segment."""


class SegmentBroken(LogError):
    """An append to a segment that may end in torn bytes: open a new segment."""


class SyncFailed(LogError):
    """fsync of a segment failed: what it held may be lost, and asking again could lie."""


def encode_frame(table: str, batch: pa.RecordBatch, more: bool = False) -> bytes:
    """One frame; `more`: the append it belongs to goes on after it."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as stream:
        stream.write_batch(batch)
    body = sink.getvalue().to_pybytes()
    name = table.encode()
    magic = _MORE if more else _LAST
    return _HEADER.pack(magic, len(name), len(body), zlib.crc32(body)) + name + body


def encode_append(frames: list[tuple[str, pa.RecordBatch]]) -> bytes:
    """The frames of one append, read back all together or not at all."""
    last = len(frames) - 1
    return b"".join(encode_frame(t, b, more=i < last) for i, (t, b) in enumerate(frames))


def _whole_appends(data: bytes) -> Iterator[tuple[int, list[tuple[str, bytes]]]]:
    """(end offset, [(table, body)]) of every whole append, in order, up to the first
    bad frame; the frames of an append cut short there are left out with it."""
    offset = 0
    frames: list[tuple[str, bytes]] = []
    while offset + _HEADER.size <= len(data):
        magic, name_len, body_len, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        end = start + name_len + body_len
        if magic not in (_LAST, _MORE) or end > len(data):
            return
        body = data[start + name_len : end]
        if zlib.crc32(body) != crc:
            return
        frames.append((data[start : start + name_len].decode(), body))
        offset = end
        if magic == _LAST:
            yield end, frames
            frames = []


def read_frames(path: Path) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Every frame of every whole append of a segment, in order; a torn tail is ignored."""
    for _, frames in _whole_appends(path.read_bytes()):
        for table, body in frames:
            with pa.ipc.open_stream(body) as reader:
                for batch in reader:
                    yield table, batch


def good_length(path: Path) -> int:
    """Bytes from the start of a segment to the end of its last whole append."""
    return max((end for end, _ in _whole_appends(path.read_bytes())), default=0)


class LogFile(Protocol):
    """What a segment needs of its file (tests put a failing one in its place)."""

    def write(self, data: memoryview) -> int: ...
    def sync(self) -> None: ...
    def truncate(self, size: int) -> None: ...
    def close(self) -> None: ...


class DiskFile:
    """A segment file opened for appending, unbuffered: a failed write must not leave
    bytes in a user-space buffer that a later flush would put behind the truncation."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)

    def write(self, data: memoryview) -> int:
        return os.write(self._fd, data)

    def sync(self) -> None:
        os.fsync(self._fd)

    def truncate(self, size: int) -> None:
        os.ftruncate(self._fd, size)  # O_APPEND: the next write lands at the new end

    def close(self) -> None:
        os.close(self._fd)


class Segment:
    """One open segment file, appended to and fsynced by its writer.

    Appends are written under the writer's lock and synced outside it, so appends that
    meet share one fsync (group commit) and a small critical append never waits for a
    large one's fsync to start. `size` is the length of its whole appends, `synced` how
    much of it is known to be on disk; `broken` says that the file may hold more than
    `size` (a truncation or an fsync failed), so nothing may follow.
    """

    def __init__(self, path: Path, opener: Callable[[Path], LogFile] = DiskFile) -> None:
        self.path = path
        self.rows = 0
        self.broken = False
        existed = path.exists()
        self.size = good_length(path) if existed else 0
        self.synced = self.size
        self.file = opener(path)
        self._sync_lock = threading.Lock()
        self._closed = False
        if not existed:
            _sync_dir(path.parent)  # the new name must survive a crash with the frames
        elif path.stat().st_size > self.size:
            self.file.truncate(self.size)  # a torn tail left by a crash

    def append(self, frames: list[tuple[str, pa.RecordBatch]]) -> int:
        """Write the frames and sync them to disk; returns the bytes written."""
        data = encode_append(frames)
        self.sync(self.write(data, sum(batch.num_rows for _, batch in frames)))
        return len(data)

    def write(self, data: bytes, rows: int) -> int:
        """Write one encoded append (`encode_append`), not synced yet; returns the offset
        its `sync` must reach. If the write fails the file is cut back to its last whole
        append and the error is raised. One writer at a time (the caller's lock)."""
        if self.broken:
            raise SegmentBroken(f"segment {self.path} may end in torn bytes; open a new one")
        view = memoryview(data)
        try:
            written = 0
            while written < len(view):  # os.write may write less than it was given
                written += self.file.write(view[written:])
        except BaseException:  # whatever stopped the write, its bytes must go
            self._cut_back()
            raise
        self.size += len(view)
        self.rows += rows
        return self.size

    def sync(self, upto: int) -> None:
        """Return once the first `upto` bytes are on disk: at most one fsync, none when
        another caller's fsync already covered them. SyncFailed if the fsync fails."""
        with self._sync_lock:
            if self.synced >= upto:
                return
            if self._closed:
                raise SyncFailed(f"segment {self.path} was closed before {upto} was synced")
            target = self.size  # whole appends written so far; later ones may not be in
            try:
                self.file.sync()
            except OSError as exc:
                # Linux may drop the dirty pages of a failed fsync and report the error once
                # only, so a second fsync could succeed over lost data ("fsyncgate",
                # https://lwn.net/Articles/752063/): this descriptor is never synced again.
                self.broken = True
                self.synced = -1  # nothing after the failure may count as synced
                raise SyncFailed(f"fsync of segment {self.path} failed: {exc}") from exc
            self.synced = target

    def close(self) -> None:
        """Sync what was written (a caller between its write and its sync finds it done),
        then close; an fsync that fails here is raised, as in `sync`."""
        try:
            if self.synced >= 0:
                self.sync(self.size)
        finally:
            with self._sync_lock:
                self._closed = True
                self.file.close()

    def _cut_back(self) -> None:
        try:
            self.file.truncate(self.size)
        except OSError:
            self.broken = True  # reading still stops at the torn frame, the last one
            log.exception("cutting segment %s back to %d bytes failed", self.path, self.size)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
