"""What an ingest batch becomes, with literal records and no Ray or broker: Arrow frames
for the lake, and the records for the shards in the order they arrived."""

from __future__ import annotations

from actors.intake import frames_of
from core.errors import BadMessage
from core.records import DeadLetter, DeviceStatus, DeviceTelemetry, GuardLocation, Record

T = 1_796_176_800_000_000


def common(n: int, entity: str) -> dict:
    return {"ts": T + n, "received_at": T + n, "msg_key": f"{entity}#{n}"}


def letter(row: Record, error: BadMessage) -> DeadLetter:
    return DeadLetter(
        received_at=row.received_at, topic=row.entity_id, reason=error.reason,
        detail=error.detail, payload="",
    )  # fmt: skip


def test_records_keep_their_order_of_arrival_across_tables() -> None:
    items: list[Record | DeadLetter] = [
        DeviceStatus(device_id="dev-1", client_id=1, online=False, **common(1, "dev-1")),
        DeviceTelemetry(device_id="dev-1", client_id=1, battery=50.0, **common(2, "dev-1")),
        DeviceStatus(device_id="dev-1", client_id=1, online=True, **common(3, "dev-1")),
    ]
    frames, records = frames_of(items, letter)
    assert records == items
    assert {table: batch.num_rows for table, batch in frames} == {
        "device_status": 2,
        "device_telemetry": 1,
    }


def test_a_record_arrow_cannot_hold_is_a_dead_letter_and_is_not_applied() -> None:
    good = GuardLocation(guard_id="g-1", client_id=1, lat=1.0, lon=2.0, seq=1, **common(1, "g"))
    bad = GuardLocation(guard_id="g-1", client_id=1, lat=1.0, lon=2.0, seq=2**64, **common(2, "g"))
    frames, records = frames_of([good, bad], letter)
    assert records == [good]
    tables = dict(frames)
    assert tables["guard_locations"].num_rows == 1
    dead = tables["dead_letters"].to_pylist()
    assert [d["reason"] for d in dead] == ["internal"]
    assert "OverflowError" in dead[0]["detail"] and "g#2" in dead[0]["detail"]
