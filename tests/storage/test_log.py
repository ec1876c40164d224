"""The storage log: frames appended to a segment read back whole; a torn tail is dropped."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from core.alerts import AlertKind, make_alert
from core.records import DeviceStatus, DeviceTelemetry, GuardLocation
from core.schemas import to_batch
from storage.log import (
    Segment,
    encode_frame,
    next_number,
    read_frames,
    segment_number,
    segment_path,
    segment_paths,
)

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


@pytest.mark.parametrize("cut", [1, 3, 17, 100])
def test_torn_tail_loses_only_the_incomplete_last_frame(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "seg-1.log"
    write(path, FRAMES)
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    assert_same(list(read_frames(path)), FRAMES[:-1])


def test_tail_cut_inside_the_last_frames_header_loses_only_that_frame(tmp_path: Path) -> None:
    path = tmp_path / "seg-1.log"
    write(path, FRAMES)
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
    write(path, FRAMES)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # inside the last frame's body
    path.write_bytes(bytes(data))
    assert_same(list(read_frames(path)), FRAMES[:-1])


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
