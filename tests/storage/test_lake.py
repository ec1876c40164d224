"""The Parquet lake: de-duplicated, split by UTC date, idempotent, readable by DuckDB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from core.alerts import AlertKind, make_alert
from core.records import DeadLetter, GuardLocation
from core.schemas import to_batch
from storage.lake import Lake, dataset_glob
from tests.storage.rows import NOV_1

HOUR = 3_600_000_000


def fix(ts: int, key: str, lat: float = 12.9716) -> GuardLocation:
    return GuardLocation(
        ts=ts,
        received_at=ts,
        msg_key=key,
        guard_id="guard-123",
        client_id=1,
        lat=lat,
        lon=77.5946,
    )


def write_segment(root: Path, name: str, frames: list[tuple[str, pa.RecordBatch]]) -> int:
    """Roll `frames` as log segment `name` (part-<writer>-<segment>) into the lake at root."""
    _, writer, segment = name.split("-")
    return Lake(str(root)).write_segment(writer, int(segment), frames)


def locations(*records: GuardLocation) -> tuple[str, pa.RecordBatch]:
    return "guard_locations", to_batch("guard_locations", list(records))


def query(root: Path, table: str, select: str) -> Any:
    source = f"read_parquet('{root}/{table}/**/*.parquet', hive_partitioning=true)"
    sql = f"SELECT {select} FROM {source}"
    with duckdb.connect() as con:
        return con.execute(sql).fetchone()


def test_rows_repeating_a_msg_key_are_written_once(tmp_path: Path) -> None:
    batch = locations(fix(NOV_1 + 1, "a"), fix(NOV_1 + 2, "b"), fix(NOV_1 + 3, "a"))
    assert write_segment(tmp_path, "part-0-1", [batch]) == 2
    assert query(tmp_path, "guard_locations", "count(*), count(DISTINCT msg_key)") == (2, 2)


def test_dedup_keeps_the_first_row_of_each_key_across_batches(tmp_path: Path) -> None:
    first = locations(fix(NOV_1 + 1, "a", lat=1.0), fix(NOV_1 + 1, "a", lat=2.0))
    second = locations(fix(NOV_1 + 2, "b", lat=3.0), fix(NOV_1 + 1, "a", lat=4.0))
    write_segment(tmp_path, "part-0-1", [first, second])
    got = query(
        tmp_path, "guard_locations", "list(msg_key ORDER BY msg_key), list(lat ORDER BY ts)"
    )
    assert got == (["a", "b"], [1.0, 3.0])


def test_rows_are_split_into_folders_by_utc_date(tmp_path: Path) -> None:
    batch = locations(
        fix(NOV_1 - 1, "late-oct-31"),
        fix(NOV_1, "midnight"),
        fix(NOV_1 + 20 * HOUR, "evening"),  # already 2 Nov in India, still 1 Nov in UTC
        fix(NOV_1 + 24 * HOUR, "nov-2"),
    )
    assert write_segment(tmp_path, "part-0-1", [batch]) == 4
    folders = sorted(p.name for p in (tmp_path / "guard_locations").iterdir())
    assert folders == ["date=2025-10-31", "date=2025-11-01", "date=2025-11-02"]
    for folder in folders:
        assert [p.name for p in (tmp_path / "guard_locations" / folder).iterdir()] == [
            "part-0-1.parquet"
        ]
    counts = pq.read_table(tmp_path / "guard_locations" / "date=2025-11-01" / "part-0-1.parquet")
    assert sorted(counts["msg_key"].to_pylist()) == ["evening", "midnight"]


def test_writing_the_same_segment_twice_keeps_the_same_rows(tmp_path: Path) -> None:
    batch = locations(fix(NOV_1, "a"), fix(NOV_1 + 24 * HOUR, "b"), fix(NOV_1 + 1, "c"))
    first = write_segment(tmp_path, "part-0-7", [batch])
    again = write_segment(tmp_path, "part-0-7", [batch])
    assert first == again == 3
    assert query(tmp_path, "guard_locations", "count(*)") == (3,)
    assert not list(tmp_path.rglob("*.tmp"))


def test_another_segment_adds_files_beside_the_first(tmp_path: Path) -> None:
    write_segment(tmp_path, "part-0-1", [locations(fix(NOV_1, "a"))])
    write_segment(tmp_path, "part-0-2", [locations(fix(NOV_1 + 1, "b"))])
    assert query(tmp_path, "guard_locations", "count(*)") == (2,)


def test_duckdb_reads_the_date_partition_and_the_columns_back(tmp_path: Path) -> None:
    write_segment(tmp_path, "part-0-1", [locations(fix(NOV_1 + HOUR, "a"))])
    row = query(
        tmp_path,
        "guard_locations",
        "CAST(date AS VARCHAR), guard_id, client_id, lat, epoch_us(ts)",
    )
    assert row == ("2025-11-01", "guard-123", 1, 12.9716, NOV_1 + HOUR)


def test_each_table_gets_its_own_dataset(tmp_path: Path) -> None:
    alert = make_alert(AlertKind.SMOKE, entity_id="smoke-mg-1", client_id=1, site_id="s", ts=NOV_1)
    letters = [
        DeadLetter(received_at=NOV_1, topic="x/y/z", reason="unknown_topic", detail="", payload="")
    ] * 2  # dead letters have no key: both are kept
    rows = write_segment(
        tmp_path,
        "part-0-1",
        [
            locations(fix(NOV_1, "a")),
            ("device_alerts", to_batch("device_alerts", [alert, alert])),
            ("dead_letters", to_batch("dead_letters", letters)),
        ],
    )
    assert rows == 1 + 1 + 2
    assert query(tmp_path, "device_alerts", "count(*), any_value(kind)") == (1, "smoke")
    assert query(tmp_path, "dead_letters", "count(*), any_value(reason)") == (2, "unknown_topic")
    assert dataset_glob(tmp_path, "dead_letters") == f"{tmp_path}/dead_letters/**/*.parquet"


def test_an_empty_segment_writes_nothing(tmp_path: Path) -> None:
    assert write_segment(tmp_path, "part-0-1", []) == 0
    assert list(tmp_path.iterdir()) == []
