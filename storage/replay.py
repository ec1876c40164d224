"""Reading messages back from the lake (log tail included) as the records they were.

A restarted shard replays what the lake holds since its checkpoint's low-water mark;
the rows come back in the order vigil received them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.records import MESSAGE_RECORDS, Record
from core.schemas import SCHEMAS, TS
from storage.catalog import Catalog

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def received_since(data_dir: Path, lake_uri: str, since_us: int) -> Iterator[Record]:
    """Every message record received at or after `since_us`, in order of receipt."""
    catalog = Catalog(data_dir, lake_uri)
    try:
        found: list[Record] = []
        since = EPOCH + timedelta(microseconds=since_us)
        for cls in MESSAGE_RECORDS:
            schema = SCHEMAS[cls.TABLE]
            columns = ", ".join(f'"{f.name}"' for f in schema)
            times = [f.name for f in schema if f.type == TS]
            rows = catalog.query(
                f"SELECT {columns} FROM {cls.TABLE} WHERE received_at >= ?", [since]
            )
            for row in rows:
                fields = dict(zip(schema.names, row, strict=True))
                for name in times:
                    fields[name] = (fields[name] - EPOCH) // timedelta(microseconds=1)
                found.append(cls(**fields))
        found.sort(key=lambda r: (r.received_at, r.msg_key))
        yield from found
    finally:
        catalog.close()
