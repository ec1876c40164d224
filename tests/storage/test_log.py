"""The storage log: frames appended to a segment read back whole; a torn tail is dropped,
and a failing disk (a full tmpfs, a FailingFile) never leaves torn bytes between frames."""

from __future__ import annotations

import errno
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.alerts import AlertKind, make_alert
from core.records import DeviceStatus, DeviceTelemetry, GuardLocation
from core.schemas import to_batch
from storage.log import (
    Segment,
    SegmentBroken,
    SyncFailed,
    encode_append,
    encode_frame,
    good_length,
    next_number,
    read_frames,
    segment_number,
    segment_path,
    segment_paths,
)
from tests.storage.faults import FailingFile, Faults, fill, tmpfs

T0 = 1_761_991_200_000_000  # 2025-11-01T10:00:00Z


def fixes(n: int, start: int = 0) -> pa.RecordBatch:
    records = [
        GuardLocation(
            ts=T0 + i,
            received_at=T0 + i,
            msg_key=f"guard-123#{i}",
            guard_id="guard-123",
            client_id=1,
            lat=12.9716,
            lon=77.5946,
            seq=i,
        )
        for i in range(start, start + n)
    ]
    return to_batch("guard_locations", records)


def telemetry(n: int) -> pa.RecordBatch:
    records = [
        DeviceTelemetry(
            ts=T0 + i,
            received_at=T0 + i,
            msg_key=f"dev-123#{i}",
            device_id="dev-123",
            client_id=1,
            battery=50.0 + i,
            extra='{"fw": "1.4"}',
        )
        for i in range(n)
    ]
    return to_batch("device_telemetry", records)


def statuses() -> pa.RecordBatch:
    record = DeviceStatus(ts=T0, received_at=T0, msg_key="s", device_id="dev-123", client_id=1,
                          online=False)  # fmt: skip
    return to_batch("device_status", [record])


def alerts() -> pa.RecordBatch:
    alert = make_alert(AlertKind.PANIC, entity_id="guard-123", client_id=1, site_id=None, ts=T0)
    return to_batch("device_alerts", [alert])


FRAMES = [
    ("guard_locations", fixes(3)),
    ("device_telemetry", telemetry(2)),
    ("device_status", statuses()),
    ("device_alerts", alerts()),
]


def write(path: Path, *appends: list[tuple[str, pa.RecordBatch]]) -> Segment:
    segment = Segment(path)
    for frames in appends:
        segment.append(frames)
    segment.close()
    return segment


Frames = list[tuple[str, pa.RecordBatch]]


def assert_same(read: Frames, written: Frames) -> None:
    assert [table for table, _ in read] == [table for table, _ in written]
    for (_, got), (_, want) in zip(read, written, strict=True):
        assert got.equals(want)


def test_frames_of_several_tables_read_back_in_order_and_equal(tmp_path: Path) -> None:
    path = segment_path(tmp_path, 1)
    more = [("guard_locations", fixes(2, start=3))]
    segment = write(path, FRAMES, more)
    assert segment.rows == 3 + 2 + 1 + 1 + 2
    assert_same(list(read_frames(path)), FRAMES + more)


def test_append_returns_the_bytes_written(tmp_path: Path) -> None:
    segment = Segment(tmp_path / "seg-1.log")
    written = segment.append(FRAMES)
    segment.close()
    assert written == (tmp_path / "seg-1.log").stat().st_size
    assert written == sum(len(encode_frame(t, b)) for t, b in FRAMES)


def test_reopened_segment_appends_after_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "seg-1.log"
    write(path, FRAMES[:2])
    write(path, FRAMES[2:])
    assert_same(list(read_frames(path)), FRAMES)


def test_empty_segment_has_no_frames(tmp_path: Path) -> None:
    path = tmp_path / "seg-1.log"
    write(path)
    assert list(read_frames(path)) == []


def one_per_append() -> list[Frames]:
    return [[frame] for frame in FRAMES]


@pytest.mark.parametrize("cut", [1, 3, 17, 100])
def test_torn_tail_loses_only_the_incomplete_last_frame(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "seg-1.log"
    write(path, *one_per_append())
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    assert_same(list(read_frames(path)), FRAMES[:-1])


def test_tail_cut_inside_the_last_frames_header_loses_only_that_frame(tmp_path: Path) -> None:
    path = tmp_path / "seg-1.log"
    write(path, *one_per_append())
    last = len(encode_frame(*FRAMES[-1]))
    path.write_bytes(path.read_bytes()[: -last + 5])
    assert_same(list(read_frames(path)), FRAMES[:-1])


@pytest.mark.parametrize(
    "garbage",
    [b"\x00", b"VGL", b"\xde\xad\xbe\xef" * 7, b"VGL1\x05\x00\xff\xff\xff\x7f\x00\x00\x00\x00"],
)
def test_garbage_after_the_last_frame_is_ignored(tmp_path: Path, garbage: bytes) -> None:
    path = tmp_path / "seg-1.log"
    write(path, FRAMES)
    with path.open("ab") as file:
        file.write(garbage)
    assert_same(list(read_frames(path)), FRAMES)


def test_a_frame_whose_body_does_not_match_its_checksum_ends_the_segment(tmp_path: Path) -> None:
    path = tmp_path / "seg-1.log"
    write(path, *one_per_append())
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # inside the last frame's body
    path.write_bytes(bytes(data))
    assert_same(list(read_frames(path)), FRAMES[:-1])


@pytest.mark.parametrize("cut", [1, 100])
def test_an_append_torn_in_its_last_frame_is_lost_whole(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "seg-1.log"
    write(path, FRAMES[:1], FRAMES[1:])
    path.write_bytes(path.read_bytes()[:-cut])
    assert_same(list(read_frames(path)), FRAMES[:1])  # never the first frames of the second


def test_segment_files_are_numbered_sorted_and_found(tmp_path: Path) -> None:
    for number in (30, 2, 100):
        write(segment_path(tmp_path, number))
    (tmp_path / "other.txt").write_text("not a segment")
    found = segment_paths(tmp_path)
    assert [segment_number(p) for p in found] == [2, 30, 100]


def test_next_segment_number_always_grows() -> None:
    far_future = 10**15
    assert next_number(far_future) == far_future + 1
    assert next_number(0) > 1_700_000_000_000  # follows the clock in milliseconds


# -- failing disks: a failed append leaves no torn bytes, a failed fsync breaks the segment --


def big(n: int = 2000) -> Frames:
    return [("guard_locations", fixes(n))]


def test_append_on_a_full_tmpfs_fails_and_leaves_only_whole_frames(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", size="512k") as disk:
        segment = Segment(disk / "seg-1.log")
        segment.append(FRAMES)
        filler = fill(disk, leave=8192)  # room for part of the next frame: a torn write
        with pytest.raises(OSError) as failed:
            segment.append(big())
        assert failed.value.errno == errno.ENOSPC
        assert (disk / "seg-1.log").stat().st_size == segment.size == good_length(segment.path)

        filler.unlink()  # space again: the retry lands right behind the last whole frame
        segment.append(big())
        segment.close()
        assert_same(list(read_frames(disk / "seg-1.log")), FRAMES + big())


@pytest.mark.parametrize("tear_at", [0, 1, 13, 100, 5000])
def test_a_torn_write_is_cut_back_so_the_next_append_follows_the_last_whole_frame(
    tmp_path: Path, tear_at: int
) -> None:
    faults = Faults()
    segment = Segment(tmp_path / "seg-1.log", FailingFile.opener(faults))
    segment.append(FRAMES[:2])
    faults.tear_at = tear_at
    with pytest.raises(OSError, match="No space left"):
        segment.append(big())
    segment.append(FRAMES[2:])
    segment.close()
    assert not segment.broken
    assert_same(list(read_frames(segment.path)), FRAMES)


def test_a_segment_that_cannot_be_cut_back_is_broken_and_still_reads_its_whole_frames(
    tmp_path: Path,
) -> None:
    faults = Faults()
    segment = Segment(tmp_path / "seg-1.log", FailingFile.opener(faults))
    segment.append(FRAMES)
    faults.tear_at, faults.truncate_error = 50, errno.EIO
    with pytest.raises(OSError, match="No space left"):
        segment.append(big())
    assert segment.broken
    with pytest.raises(SegmentBroken, match=r"seg-1\.log"):
        segment.append(FRAMES)
    segment.close()
    assert segment.path.stat().st_size == segment.size + 50  # the torn bytes stayed...
    assert_same(list(read_frames(segment.path)), FRAMES)  # ...and are not read


def test_a_failed_fsync_breaks_the_segment_and_names_it(tmp_path: Path) -> None:
    faults = Faults(sync_error=errno.EIO)
    segment = Segment(tmp_path / "seg-1.log", FailingFile.opener(faults))
    with pytest.raises(SyncFailed, match=r"fsync of segment .*seg-1.log failed.*Input/output"):
        segment.append(FRAMES)
    assert segment.broken
    with pytest.raises(SegmentBroken):  # never synced again on that descriptor
        segment.append(FRAMES)
    segment.close()


def test_a_reopened_segment_drops_a_torn_tail_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "seg-1.log"
    write(path, FRAMES[:2])
    with path.open("ab") as file:
        file.write(encode_append(FRAMES[2:])[:-7])  # a crash in the middle of a write
    write(path, FRAMES[2:])
    assert_same(list(read_frames(path)), FRAMES)


APPENDS = st.lists(
    st.tuples(
        st.sampled_from(["ok", "torn", "torn, and the cut fails"]),
        st.floats(min_value=0.0, max_value=1.0, exclude_max=True),  # where the write tears
        st.integers(min_value=1, max_value=4),  # rows
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(APPENDS)
def test_whatever_appends_fail_the_log_reads_back_exactly_the_ones_that_succeeded(
    appends: list[tuple[str, float, int]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log_dir, faults = Path(tmp), Faults()
        opener = FailingFile.opener(faults)
        segment = Segment(segment_path(log_dir, 1), opener)
        succeeded: Frames = []
        for number, (fate, where, rows) in enumerate(appends):
            if segment.broken:  # what the writer does: a new segment before the next append
                segment.close()
                segment = Segment(segment_path(log_dir, segment_number(segment.path) + 1), opener)
            frames = [("guard_locations", fixes(rows, start=number * 10)), FRAMES[-1]]
            if fate != "ok":
                faults.tear_at = int(where * len(encode_append(frames)))
                faults.truncate_error = errno.EIO if fate.endswith("fails") else None
            try:
                segment.append(frames)
                succeeded += frames
            except OSError:
                assert fate != "ok"
        segment.close()
        read = [frame for path in segment_paths(log_dir) for frame in read_frames(path)]
        assert_same(read, succeeded)


class SlowDisk:
    """A segment file whose fsync takes a while and says how far each one reached."""

    def __init__(self, path: Path) -> None:
        from storage.log import DiskFile

        self.inner = DiskFile(path)
        self.written = 0
        self.synced_upto = 0
        self.syncs = 0

    @classmethod
    def opener(cls, opened: list[SlowDisk]) -> Any:
        def open_(path: Path) -> SlowDisk:
            opened.append(cls(path))
            return opened[-1]

        return open_

    def write(self, data: memoryview) -> int:
        done = self.inner.write(data)
        self.written += done
        return done

    def sync(self) -> None:
        reach = self.written  # what this fsync covers: the bytes written before it starts
        time.sleep(0.02)
        self.inner.sync()
        self.syncs += 1
        self.synced_upto = max(self.synced_upto, reach)

    def truncate(self, size: int) -> None:
        self.inner.truncate(size)

    def close(self) -> None:
        self.inner.close()


def test_appends_that_meet_share_an_fsync_and_each_returns_only_once_synced(
    tmp_path: Path,
) -> None:
    disks: list[SlowDisk] = []
    segment = Segment(tmp_path / "seg-1.log", SlowDisk.opener(disks))
    lock = threading.Lock()  # the writer's: one write at a time, syncs outside it
    late: list[tuple[int, int]] = []

    def append(n: int) -> None:
        frames = [("guard_locations", fixes(3, start=n * 3))]
        data = encode_append(frames)
        with lock:
            end = segment.write(data, 3)
        segment.sync(end)
        if disks[0].synced_upto < end:
            late.append((end, disks[0].synced_upto))

    threads = [threading.Thread(target=append, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert late == []  # no append returned before an fsync covering its bytes had ended
    assert disks[0].syncs < 40  # appends that met shared one
    rows = sorted(r for _, b in read_frames(segment.path) for r in b.column("seq").to_pylist())
    assert rows == list(range(120))
    segment.close()


def test_a_segment_closed_between_a_write_and_its_sync_syncs_it_first(tmp_path: Path) -> None:
    disks: list[SlowDisk] = []
    segment = Segment(tmp_path / "seg-1.log", SlowDisk.opener(disks))
    end = segment.write(encode_append(FRAMES), 0)
    segment.close()  # the writer rolled the segment before the appender synced
    assert disks[0].synced_upto >= end
    segment.sync(end)  # the appender finds it done, and does not touch the closed file
