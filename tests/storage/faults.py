"""Real failing filesystems for the log's tests: a small tmpfs filled until ENOSPC, and a
file wrapper that fails chosen writes, fsyncs and truncations the way a sick disk does."""

from __future__ import annotations

import errno
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from storage.log import DiskFile, LogFile


def _error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


@dataclass
class Faults:
    """The next failures of a FailingFile; each one happens once."""

    tear_at: int | None = None  # the next write lets this many bytes through, then ENOSPC
    sync_error: int | None = None  # the next fsync fails with this errno
    truncate_error: int | None = None  # the next truncation fails with this errno


class FailingFile:
    """A segment file that does what a full or failing disk does when `faults` says so:
    the bytes of a torn write really are in the file when the error comes."""

    def __init__(self, inner: LogFile, faults: Faults) -> None:
        self.inner = inner
        self.faults = faults

    @classmethod
    def opener(cls, faults: Faults) -> Any:
        return lambda path: cls(DiskFile(path), faults)

    def write(self, data: memoryview) -> int:
        if self.faults.tear_at is None:
            return self.inner.write(data)
        keep, self.faults.tear_at = min(self.faults.tear_at, len(data)), None
        done = 0
        while done < keep:
            done += self.inner.write(data[done:keep])
        raise _error(errno.ENOSPC)

    def sync(self) -> None:
        code, self.faults.sync_error = self.faults.sync_error, None
        if code is not None:
            raise _error(code)
        self.inner.sync()

    def truncate(self, size: int) -> None:
        code, self.faults.truncate_error = self.faults.truncate_error, None
        if code is not None:
            raise _error(code)
        self.inner.truncate(size)

    def close(self) -> None:
        self.inner.close()


def fail_next_fsync(writer: Any) -> None:
    """Run inside a StorageWriter (`actor.__ray_call__`): its next fsync fails with EIO."""
    with writer._lock:  # the open segment changes only under it
        segment = writer._segment
        segment.file = FailingFile(segment.file, Faults(sync_error=errno.EIO))


@contextmanager
def tmpfs(where: Path, size: str = "1m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `where` (skips the test where mounting is not allowed)."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); FailingFile covers it")
    try:
        yield where
    finally:
        # Lazy: a writer process may still hold a segment open; it goes when that closes.
        subprocess.run(["umount", "--lazy", str(where)], check=True)


def fill(directory: Path, leave: int = 0) -> Path:
    """Fill the filesystem of `directory` until ENOSPC, then free `leave` bytes again."""
    filler = directory / f"filler-{uuid.uuid4().hex}"
    with filler.open("wb", buffering=0) as file:
        chunk = b"\0" * 65536
        try:
            while True:
                file.write(chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        if leave:
            file.truncate(max(0, os.fstat(file.fileno()).st_size - leave))
    return filler
