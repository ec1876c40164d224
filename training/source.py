"""The lake as training sees it: a plan (time range, hold-out split, row counts) and chunks.

Chunks come from the catalog (storage/catalog.py, so the log's unrolled tail counts
too), ordered by time and key and read with keyset pagination: a chunk never repeats
or skips a row even if files are compacted between two reads. Each row carries the
injected anomaly it is labelled with (`anomaly_labels`), or None.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from actors.rules.anomaly import SENSOR, SENSOR_KINDS, TELEMETRY
from storage.catalog import Catalog

KINDS = ", ".join(f"'{k}'" for k in sorted(SENSOR_KINDS))
#: Per family: its table, the columns a row holds (after ts and msg_key), its own filter.
TABLES = {
    SENSOR: ("sensor_readings", "sensor_id, client_id, site_id, kind, value", f"kind IN ({KINDS})"),
    TELEMETRY: (
        "device_telemetry",
        "device_id, client_id, battery, signal, temperature",
        "battery IS NOT NULL",
    ),
}


@dataclass(frozen=True)
class Plan:
    start: int  # µs, inclusive
    split: int  # training rows are before it, held-out rows from it on
    end: int  # µs, exclusive
    rows: dict[str, tuple[int, int]]  # family -> (training rows, held-out rows)

    @property
    def total(self) -> int:
        return sum(a + b for a, b in self.rows.values())


class LakeSource:
    def __init__(self, data_dir: str, lake_uri: str = "", client_id: int | None = None) -> None:
        self.catalog = Catalog(data_dir, lake_uri)
        self.client_id = client_id

    def _where(self, family: str) -> str:
        tenant = "" if self.client_id is None else f" AND client_id = {int(self.client_id)}"
        return TABLES[family][2] + tenant

    def plan(self, holdout: float, start: int | None = None, end: int | None = None) -> Plan:
        """The range (the data's own unless given) and its last `holdout` share, by time."""
        if start is None or end is None:
            spans = [
                self.catalog.query(
                    f"SELECT min(epoch_us(ts)), max(epoch_us(ts)) FROM {TABLES[f][0]} "
                    f"WHERE {self._where(f)}"
                )[0]
                for f in TABLES
            ]
            lows = [lo for lo, _ in spans if lo is not None]
            highs = [hi for _, hi in spans if hi is not None]
            if not lows:
                raise ValueError("the lake has no telemetry or numeric sensor readings to train on")
            start = min(lows) if start is None else start
            end = max(highs) + 1 if end is None else end
        if not 0.0 < holdout < 1.0:
            raise ValueError(f"holdout: expected a share between 0 and 1, got {holdout}")
        split = int(end - (end - start) * holdout)
        rows = {f: (self.count(f, start, split), self.count(f, split, end)) for f in TABLES}
        return Plan(start, split, end, rows)

    def count(self, family: str, lo: int, hi: int) -> int:
        table = TABLES[family][0]
        sql = f"SELECT count(*) FROM {table} WHERE {self._where(family)} AND {_RANGE}"
        return int(self.catalog.query(sql, [lo, hi])[0][0])

    def chunks(self, family: str, lo: int, hi: int, size: int) -> Iterator[list[tuple[Any, ...]]]:
        """Rows `(ts, msg_key, <family columns>..., label)` in [lo, hi), `size` at a time."""
        table, columns, _ = TABLES[family]
        sql = (
            f"SELECT epoch_us(r.ts) AS t, r.msg_key, {_prefixed(columns)}, l.anomaly "
            f"FROM {table} r LEFT JOIN anomaly_labels l ON l.msg_key = r.msg_key "
            f"WHERE {_prefixed_where(self._where(family))} AND {_RANGE.replace('ts', 'r.ts')} "
            "AND (epoch_us(r.ts) > ? OR (epoch_us(r.ts) = ? AND r.msg_key > ?)) "
            "ORDER BY t, r.msg_key LIMIT ?"
        )
        after: tuple[int, str] = (lo - 1, "")
        while True:
            rows = self.catalog.query(sql, [lo, hi, after[0], after[0], after[1], size])
            if not rows:
                return
            yield rows
            after = (rows[-1][0], rows[-1][1])

    def close(self) -> None:
        self.catalog.close()


_RANGE = "epoch_us(ts) >= ? AND epoch_us(ts) < ?"


def _prefixed(columns: str) -> str:
    return ", ".join(f"r.{c.strip()}" for c in columns.split(","))


def _prefixed_where(where: str) -> str:
    for column in ("kind", "battery", "client_id"):
        where = where.replace(f"{column} ", f"r.{column} ")
    return where
