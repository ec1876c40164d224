"""Rows the storage tests write: guard fixes as Arrow batches, dated from 1 November 2025."""

from __future__ import annotations

import pyarrow as pa

from core.records import GuardLocation
from core.schemas import to_batch

NOV_1 = 1_761_955_200_000_000  # 2025-11-01T00:00:00Z


def fixes(guard: str, keys: list[str], ts: int = NOV_1) -> tuple[str, pa.RecordBatch]:
    """One `guard_locations` batch: a fix of `guard` per message key, 1 µs apart from `ts`."""
    records = [
        GuardLocation(
            ts=ts + i, received_at=ts, msg_key=k, guard_id=guard, client_id=1, lat=12.97, lon=77.59
        )
        for i, k in enumerate(keys)
    ]
    return "guard_locations", to_batch("guard_locations", records)
