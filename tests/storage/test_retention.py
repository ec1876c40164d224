"""Retention deletes whole partitions older than the table's limit, and nothing else."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from storage.lake import Lake
from storage.retention import apply_retention, expired
from tests.storage.rows import NOV_1, fixes

DAY = 86_400_000_000


def test_partitions_older_than_the_limit_expire() -> None:
    dates = ["2025-10-30", "2025-10-31", "2025-11-01", "2025-11-02"]
    assert expired(dates, date(2025, 11, 2), days=2) == ["2025-10-30"]  # older than 2 days


def test_zero_days_keeps_everything() -> None:
    assert expired(["1999-01-01"], date(2025, 11, 2), days=0) == []


def test_expired_partitions_are_deleted_from_the_lake(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    for day in range(3):
        lake.write_segment("w", day + 1, [fixes("guard-a", [f"k{day}"], ts=NOV_1 + day * DAY)])

    dropped = apply_retention(lake, "guard_locations", days=1, today=date(2025, 11, 3))

    assert dropped == ["2025-11-01"]
    assert lake.dates("guard_locations") == ["2025-11-02", "2025-11-03"]
