"""A shard's logical actors with literal records, no Ray: created on first use, and a
fleet edit rebuilds each one from its new spec while it keeps what it has lived through.
"""

from __future__ import annotations

import msgspec

from actors.rules.entities import Entities
from actors.rules.pipeline import PIPELINE, timers
from core.alerts import Alert
from core.fleet import Device, Fleet, FleetIndex, Guard, Sensor, Site, Tenant, Zone
from core.records import DeviceEvent, GuardLocation, Record, SensorReading
from core.settings import Settings

SETTINGS = Settings()
NOW = 1_796_176_800_000_000  # 2026-12-02T05:20:00Z
S = 1_000_000


def square(lon: float, lat: float) -> dict[str, object]:
    """A square of about 1.1 km with its south-west corner at (lon, lat)."""
    ring = [[lon, lat], [lon + 0.01, lat], [lon + 0.01, lat + 0.01], [lon, lat + 0.01]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


NORTH = Site(
    id="north", client_id=1, name="North depot",
    zones=[Zone(id="n-yard", name="North yard", geometry=square(77.0, 12.0))],
)  # fmt: skip
SOUTH = Site(
    id="south", client_id=1, name="South depot",
    zones=[Zone(id="s-yard", name="South yard", geometry=square(78.0, 11.0))],
)  # fmt: skip
FLEET = Fleet(
    tenants=[Tenant(id=1)],
    sites=[NORTH, SOUTH],
    guards=[Guard(id="g-1", client_id=1, site_id="north", device_id="d-1")],
    devices=[Device(id="d-1", client_id=1)],
    sensors=[Sensor(id="smoke-1", site_id="north", kind="smoke")],
)


def moved(fleet: Fleet, site: str) -> Fleet:
    guards = [msgspec.structs.replace(g, site_id=site) for g in fleet.guards]
    return msgspec.structs.replace(fleet, guards=guards)


def apply(world: Entities, record: Record) -> list[Alert]:
    return [alert for step in PIPELINE[type(record)] for alert in step(world, record)]


def fix(lat: float, lon: float, at: int, seq: int) -> GuardLocation:
    return GuardLocation(
        guard_id="g-1", client_id=1, lat=lat, lon=lon, accuracy=5.0,
        ts=at, received_at=at, msg_key=f"g-1#{seq}", seq=seq,
    )  # fmt: skip


def panic(at: int) -> DeviceEvent:
    return DeviceEvent(
        device_id="d-1", client_id=1, type="panic", ts=at, received_at=at, msg_key=f"d-1@{at}"
    )


def test_entities_are_created_on_first_use_from_the_fleet() -> None:
    world = Entities(FleetIndex(FLEET), SETTINGS)
    assert len(world) == 0
    apply(world, fix(12.005, 77.005, NOW, 1))
    assert set(world.guards) == {"g-1"} and set(world.devices) == {"d-1"}
    assert world.devices["d-1"].owner_id == "g-1"
    assert world.devices["d-1"].who.site_id == "north"
    assert [z.name for z in world.guards["g-1"].zones] == ["North yard"]


def test_a_guard_moved_to_another_site_raises_with_the_new_site_and_its_zones() -> None:
    world = Entities(FleetIndex(FLEET), SETTINGS)
    apply(world, fix(12.005, 77.005, NOW, 1))
    (before,) = apply(world, panic(NOW + 1 * S))
    assert before.site_id == "north"

    world.reload(FleetIndex(moved(FLEET, "south")))

    (after,) = apply(world, panic(NOW + 2 * S))
    assert after.site_id == "south" and after.entity_id == "g-1"
    assert world.guards["g-1"].spec.site_id == "south"
    assert [z.id for z in world.guards["g-1"].zones] == ["s-yard"]
    # Inside the south yard, learnt silently; then out of it: one exit, by the zone's name.
    assert apply(world, fix(11.005, 78.005, NOW + 3 * S, 2)) == []
    (exit_,) = apply(world, fix(11.05, 78.005, NOW + 4 * S, 3))
    assert (exit_.kind, exit_.site_id, exit_.detail) == ("geofence_exit", "south", "South yard")


def test_reload_keeps_position_zone_state_health_and_the_offline_timer() -> None:
    world = Entities(FleetIndex(FLEET), SETTINGS)
    apply(world, fix(12.005, 77.005, NOW, 1))  # inside the north yard
    guard, device = world.guards["g-1"], world.devices["d-1"]
    geofence, health = guard.geofence, device.health
    assert geofence.inside == {"n-yard": True} and health.online is True

    world.reload(FleetIndex(FLEET.adding(contacts=[])))  # an edit elsewhere in the fleet

    guard, device = world.guards["g-1"], world.devices["d-1"]
    assert guard.position == (12.005, 77.005) and guard.position_ts == NOW
    assert guard.geofence == geofence and device.health == health
    # The exit still counts as one (the zone state survived), and so does the timer.
    (exit_,) = apply(world, fix(12.05, 77.005, NOW + 1 * S, 2))
    assert (exit_.kind, exit_.detail) == ("geofence_exit", "North yard")
    timeout = SETTINGS.offline_timeout("tracker")
    assert timers(world, NOW + 1 * S + int(timeout * S)) == []
    (offline,) = timers(world, NOW + 2 * S + int(timeout * S))
    assert offline.kind == "device_offline" and offline.site_id == "north"


def test_a_device_changing_class_takes_its_new_offline_timeout() -> None:
    world = Entities(FleetIndex(FLEET), SETTINGS)
    apply(world, panic(NOW))
    button = msgspec.structs.replace(FLEET.devices[0], device_class="panic_button")
    world.reload(FleetIndex(msgspec.structs.replace(FLEET, devices=[button])))
    params = world.devices["d-1"].health_params
    assert params.offline_after_s == SETTINGS.offline_timeout("panic_button")
    assert world.devices["d-1"].health.online is True  # still heard, not new


def test_entities_the_fleet_no_longer_has_are_dropped_on_reload() -> None:
    world = Entities(FleetIndex(FLEET), SETTINGS)
    apply(world, fix(12.005, 77.005, NOW, 1))
    reading = SensorReading(
        sensor_id="smoke-1", client_id=1, site_id="north", kind="smoke", value=0.0,
        ts=NOW, received_at=NOW, msg_key="smoke-1#1",
    )  # fmt: skip
    apply(world, reading)
    assert len(world) == 3
    world.reload(FleetIndex(Fleet(tenants=[Tenant(id=1)], sites=[NORTH])))
    assert len(world) == 0
