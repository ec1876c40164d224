"""The shard's pipeline and timers with literal records, no Ray: liveness on vigil's clock.

The seed's example is stamped 2025-11-01; vigil receives it today. Its device is heard
now, not a year ago, so nothing goes offline; one fix stamped in the future does not
hide the fixes that follow it.
"""

from __future__ import annotations

from pathlib import Path

from actors.rules.entities import Entities
from actors.rules.pipeline import PIPELINE, timers
from core.alerts import Alert
from core.decode import Decoder
from core.fleet import FleetIndex, load_fleet
from core.records import (
    MESSAGE_RECORDS,
    DeviceEvent,
    DeviceStatus,
    DeviceTelemetry,
    GuardLocation,
    Record,
    SensorReading,
)
from core.settings import Settings

FLEET = FleetIndex(load_fleet(Path("fleet/sample.yaml")))
SETTINGS = Settings()
SEED = (
    b'{"lat": 12.9716, "lon": 77.5946, "accuracy": 10.5, "guard_id": 123, '
    b'"client_id": 1, "timestamp": "2025-11-01T10:00:00Z"}'
)
NOW = 1_796_176_800_000_000  # 2026-12-02T05:20:00Z, vigil's clock
S = 1_000_000


def apply(world: Entities, record: Record) -> list[Alert]:
    return [alert for step in PIPELINE[type(record)] for alert in step(world, record)]


def fix(lat: float, ts: int, received_at: int, seq: int) -> GuardLocation:
    return GuardLocation(
        guard_id="guard-123", client_id=1, lat=lat, lon=77.5946, accuracy=5.0,
        ts=ts, received_at=received_at, msg_key=f"guard-123#{seq}", seq=seq,
    )  # fmt: skip


def test_the_seed_example_raises_nothing_now_nor_when_its_device_stays_quiet() -> None:
    world = Entities(FLEET, SETTINGS)
    record = Decoder(FLEET, SETTINGS).decode("guard/guard-123/gps", SEED, NOW)
    assert record is not None
    assert apply(world, record) == []
    assert timers(world, NOW + 1 * S) == []
    assert timers(world, NOW + 299 * S) == []
    device = world.devices["dev-123"]
    assert device.health.online is True and device.health.last_seen == NOW
    assert device.skew_s is not None and device.skew_s > 365 * 86_400 - 31 * 86_400


def test_a_device_is_offline_after_its_timeout_on_vigils_clock() -> None:
    world = Entities(FLEET, SETTINGS)
    apply(world, fix(12.9716, ts=NOW - 3600 * S, received_at=NOW, seq=1))
    assert timers(world, NOW + 300 * S) == []
    (offline,) = timers(world, NOW + 301 * S)
    assert offline.kind == "device_offline" and offline.entity_id == "dev-123"
    assert offline.ts == NOW + 300 * S  # stamped at the deadline: a repeated tick, one id


def test_a_fix_stamped_in_the_future_does_not_hide_the_next_exit() -> None:
    world = Entities(FLEET, SETTINGS)
    apply(world, fix(12.9716, ts=NOW, received_at=NOW, seq=1))  # inside the campus
    apply(world, fix(12.9716, ts=NOW + 299 * S, received_at=NOW + 1 * S, seq=2))
    alerts = apply(world, fix(12.9900, ts=NOW + 2 * S, received_at=NOW + 2 * S, seq=3))
    assert [a.kind for a in alerts] == ["geofence_exit"]


def test_geofence_alerts_are_named_by_the_zone_name_not_its_id() -> None:
    world = Entities(FLEET, SETTINGS)
    apply(world, fix(12.9716, ts=NOW, received_at=NOW, seq=1))  # inside the campus
    (exit_,) = apply(world, fix(12.9900, ts=NOW + 1 * S, received_at=NOW + 1 * S, seq=2))
    (enter,) = apply(world, fix(12.9716, ts=NOW + 2 * S, received_at=NOW + 2 * S, seq=3))
    assert (exit_.kind, exit_.detail) == ("geofence_exit", "Campus perimeter")
    assert (enter.kind, enter.detail) == ("geofence_enter", "Campus perimeter")
    assert exit_.site_id == "site-mg-road" and exit_.entity_id == "guard-123"


def test_every_record_type_has_its_steps_and_each_step_runs_on_literal_records() -> None:
    assert set(PIPELINE) == set(MESSAGE_RECORDS)
    world = Entities(FLEET, SETTINGS)
    records: list[Record] = [
        fix(12.9716, ts=NOW, received_at=NOW, seq=1),
        DeviceTelemetry(
            device_id="dev-124", client_id=1, battery=5.0, signal=-70.0,
            ts=NOW, received_at=NOW, msg_key="dev-124#1",
        ),
        DeviceEvent(
            device_id="dev-123", client_id=1, type="panic", ts=NOW, received_at=NOW,
            msg_key="dev-123@1",
        ),
        DeviceStatus(device_id="button-mg-1", client_id=1, online=False, ts=NOW,
                     received_at=NOW, msg_key="button-mg-1@1"),
        SensorReading(
            sensor_id="smoke-mg-1", client_id=1, site_id="site-mg-road", kind="smoke",
            value=1.0, ts=NOW, received_at=NOW, msg_key="smoke-mg-1#1",
        ),
    ]  # fmt: skip
    kinds = {type(r).__name__: sorted(a.kind for a in apply(world, r)) for r in records}
    assert kinds == {
        "GuardLocation": [],
        "DeviceTelemetry": ["low_battery"],
        "DeviceEvent": ["panic"],
        "DeviceStatus": ["device_offline"],  # the button's last will
        "SensorReading": ["smoke"],
    }
    (panic,) = apply(world, records[2])  # the guard's last position places the panic
    assert (panic.entity_id, panic.site_id) == ("guard-123", "site-mg-road")
    assert (panic.lat, panic.lon) == (12.9716, 77.5946)
