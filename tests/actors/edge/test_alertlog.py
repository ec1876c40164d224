"""The router's memory read back from the lake: alerts as typed values, old files included."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from actors.edge import alertlog
from actors.rules.alarms import evaluate
from core.alerts import AlertKind, AlertStatus, EventType, Severity, make_event
from core.records import DeviceEvent
from core.schemas import SCHEMAS, to_batch
from core.settings import Settings
from storage.lake import Lake

TS = 1_761_991_200_000_000  # 2025-11-01T10:00:00Z
DATE = "2025-11-01"


def panic() -> tuple[pa.RecordBatch, pa.RecordBatch]:
    event = DeviceEvent(
        ts=TS, received_at=TS, msg_key="m1", device_id="dev-1", client_id=1, type="panic"
    )
    (alert,) = evaluate(event, owner_id="guard-1", site_id="site-1", last_position=None)
    raised = make_event(EventType.RAISED, alert.alert_id, 1, TS, ref=alert.alert_id)
    return to_batch("device_alerts", [alert]), to_batch("alert_events", [raised])


def test_alerts_read_back_hold_the_enums_and_their_device(tmp_path: Path) -> None:
    alerts, events = panic()
    lake = Lake(str(tmp_path))
    lake.write("device_alerts", DATE, "part-w-1", pa.Table.from_batches([alerts]))
    lake.write("alert_events", DATE, "part-w-1", pa.Table.from_batches([events]))
    found, steps = alertlog.load(Settings(data_dir=tmp_path), 0)
    (alert,) = found.values()
    assert alert.kind is AlertKind.PANIC and alert.severity is Severity.CRITICAL
    assert alert.status is AlertStatus.OPEN and alert.device_id == "dev-1"
    assert steps[0].type is EventType.RAISED


def test_a_file_written_before_device_id_existed_reads_it_as_empty(tmp_path: Path) -> None:
    alerts, events = panic()
    old = pa.Table.from_batches([alerts]).drop_columns(["device_id"])
    assert "device_id" in SCHEMAS["device_alerts"].names and "device_id" not in old.column_names
    lake = Lake(str(tmp_path))
    lake.write("device_alerts", DATE, "part-w-1", old)
    lake.write("alert_events", DATE, "part-w-1", pa.Table.from_batches([events]))
    found, _ = alertlog.load(Settings(data_dir=tmp_path), 0)
    (alert,) = found.values()
    assert alert.device_id == "" and alert.kind is AlertKind.PANIC
