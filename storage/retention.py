"""Retention: whole date partitions older than a table's limit are deleted."""

from __future__ import annotations

from datetime import date, timedelta

from storage.lake import Lake


def expired(dates: list[str], today: date, days: int) -> list[str]:
    """The partitions (YYYY-MM-DD) older than `days` days before `today`; none when days <= 0."""
    if days <= 0:
        return []
    oldest_kept = (today - timedelta(days=days)).isoformat()
    return [d for d in dates if d < oldest_kept]


def apply_retention(lake: Lake, table: str, days: int, today: date) -> list[str]:
    """Delete `table`'s expired partitions; returns the dates dropped."""
    dropped = expired(lake.dates(table), today, days)
    for day in dropped:
        lake.drop_partition(table, day)
    return dropped
