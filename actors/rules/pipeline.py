"""Every step a message goes through inside a shard, in order, declared in one place.

A step takes the shard's logical actors and one record, updates the actor it
concerns through a pure rule, and returns the alerts raised. The shard runs the
steps of a record in the order listed; a failing step is logged and counted and
the next one still runs (one bad rule never stalls a device).
"""

from __future__ import annotations

from collections.abc import Callable

from actors.rules import alarms, anomaly, geofence, health, loneworker, sensors, shifts
from actors.rules.entities import Entities
from core import duty
from core.alerts import Alert
from core.records import (
    CHECKIN,
    DeviceEvent,
    DeviceStatus,
    DeviceTelemetry,
    GuardLocation,
    Record,
    SensorReading,
)

Step = Callable[[Entities, Record], list[Alert]]


def guard_device_heard(world: Entities, fix: GuardLocation) -> list[Alert]:
    """A guard's fix comes from the device it carries: that device is alive."""
    device_id = world.guard(fix.guard_id).spec.device_id
    if device_id is None or device_id not in world.fleet.devices:
        return []
    return _heard(world, device_id, fix)


def track_position(world: Entities, fix: GuardLocation) -> list[Alert]:
    guard = world.guard(fix.guard_id)
    guard.heard_at = max(guard.heard_at, fix.received_at)
    when = geofence.fix_time(fix)
    if when >= guard.position_ts:
        guard.position, guard.position_ts = (fix.lat, fix.lon), when
    return []


def geofence_transitions(world: Entities, fix: GuardLocation) -> list[Alert]:
    """Off duty nothing is raised (core/duty.py; vigil's clock decides the shift)."""
    if not duty.on_duty(world.fleet, fix.guard_id, fix.received_at):
        return []
    guard = world.guard(fix.guard_id)
    facts = geofence.locate(
        guard.zones, fix.lat, fix.lon, fix.accuracy, world.settings.geofence_margin_m
    )
    names = {zone.id: zone.name for zone in guard.zones}  # alerts say "Main gate", not z-3
    guard.geofence, alerts = geofence.update(guard.geofence, fix, facts, guard.spec, names)
    return alerts


def lone_worker_moved(world: Entities, fix: GuardLocation) -> list[Alert]:
    on = duty.current(world.fleet, fix.guard_id, fix.received_at)
    if on is None or on[0].lone_worker is None:
        return []
    guard = world.guard(fix.guard_id)
    guard.lone, alerts = loneworker.on_fix(
        guard.lone, guard.spec, on[1].site_id, fix.lat, fix.lon, fix.received_at, on[0].lone_worker
    )
    return alerts


def device_heard(world: Entities, message: DeviceTelemetry | DeviceEvent) -> list[Alert]:
    return _heard(world, message.device_id, message)


def _heard(world: Entities, device_id: str, message: Record) -> list[Alert]:
    """Liveness runs on vigil's clock (when the message arrived), never the device's."""
    device = world.device(device_id)
    if device.owner_id in world.fleet.guards:
        guard = world.guard(device.owner_id)
        guard.heard_at = max(guard.heard_at, message.received_at)
    device.skew_s = (message.received_at - message.ts) / 1e6
    device.health, alerts = health.on_heard(device.health, device.who, message.received_at)
    return alerts


def device_health(world: Entities, telemetry: DeviceTelemetry) -> list[Alert]:
    device = world.device(telemetry.device_id)
    device.health, alerts = health.on_telemetry(
        device.health,
        device.who,
        telemetry.ts,
        telemetry.battery,
        telemetry.signal,
        device.health_params,
    )
    return alerts


def device_alarm(world: Entities, event: DeviceEvent) -> list[Alert]:
    if event.type == CHECKIN:  # a guard saying they are fine (lone_worker_checkin)
        return []
    device = world.device(event.device_id)
    carried = device.owner_id in world.fleet.guards
    return alarms.evaluate(
        event,
        owner_id=device.owner_id,
        site_id=device.who.site_id,
        last_position=world.guard(device.owner_id).position if carried else None,
    )


def lone_worker_checkin(world: Entities, event: DeviceEvent) -> list[Alert]:
    owner = world.fleet.device_guard.get(event.device_id)
    if event.type != CHECKIN or owner is None:
        return []
    on = duty.current(world.fleet, owner, event.received_at)
    if on is None or on[0].lone_worker is None:
        return []
    guard = world.guard(owner)
    guard.lone, alerts = loneworker.on_checkin(
        guard.lone, guard.spec, on[1].site_id, event.received_at
    )
    return alerts


def device_presence(world: Entities, status: DeviceStatus) -> list[Alert]:
    device = world.device(status.device_id)
    device.health, alerts = health.on_status(
        device.health, device.who, status.received_at, status.online
    )
    return alerts if _carried_on_duty(world, status.device_id, status.received_at) else []


def _carried_on_duty(world: Entities, device_id: str, at: int) -> bool:
    """A device nobody carries, or whose guard is on duty: its silence is news."""
    carrier = world.fleet.device_guard.get(device_id)
    return carrier is None or duty.on_duty(world.fleet, carrier, at)


def sensor_condition(world: Entities, reading: SensorReading) -> list[Alert]:
    sensor = world.sensor(reading.sensor_id)
    sensor.state, alerts = sensors.update(sensor.state, reading, sensor.spec, sensor.site)
    return alerts


def sensor_anomaly(world: Entities, reading: SensorReading) -> list[Alert]:
    """Numeric readings feed their sensor's track always; the live model, once promoted,
    judges them (actors/rules/anomaly.py)."""
    if reading.kind not in anomaly.SENSOR_KINDS or reading.value is None:
        return []
    sensor = world.sensor(reading.sensor_id)
    sensor.anomaly, x = anomaly.sensor_features(sensor.anomaly, reading.ts, reading.value)
    return anomaly.judge(
        world.model,
        anomaly.SENSOR,
        anomaly.sensor_group(reading.site_id, reading.kind),
        x,
        entity_id=reading.sensor_id,
        client_id=reading.client_id,
        site_id=reading.site_id,
        ts=reading.ts,
    )


def telemetry_anomaly(world: Entities, telemetry: DeviceTelemetry) -> list[Alert]:
    if telemetry.battery is None:
        return []
    device = world.device(telemetry.device_id)
    device.anomaly, x = anomaly.telemetry_features(
        device.anomaly, telemetry.ts, telemetry.battery, telemetry.signal, telemetry.temperature
    )
    return anomaly.judge(
        world.model,
        anomaly.TELEMETRY,
        anomaly.TELEMETRY_GROUP,
        x,
        entity_id=telemetry.device_id,
        client_id=telemetry.client_id,
        site_id=device.who.site_id,
        ts=telemetry.ts,
    )


PIPELINE: dict[type[Record], tuple[Callable[..., list[Alert]], ...]] = {
    GuardLocation: (guard_device_heard, track_position, geofence_transitions, lone_worker_moved),
    DeviceTelemetry: (device_heard, device_health, telemetry_anomaly),
    DeviceEvent: (device_heard, device_alarm, lone_worker_checkin),
    DeviceStatus: (device_presence,),
    SensorReading: (sensor_condition, sensor_anomaly),
}


def timers(world: Entities, now: int) -> list[Alert]:
    """Run on every shard tick: shifts start and end, lone workers fall due, devices silent
    for too long go offline (a carried device only while its guard is on duty)."""
    alerts: list[Alert] = []
    for guard_id in world.on_roster:
        alerts += duty_timers(world, guard_id, now)
    for device in world.devices.values():
        if not _carried_on_duty(world, device.spec.id, now):
            continue
        device.health, raised = health.on_tick(device.health, device.who, now, device.health_params)
        alerts.extend(raised)
    return alerts


def duty_timers(world: Entities, guard_id: str, now: int) -> list[Alert]:
    guard = world.guard(guard_id)
    site = world.fleet.sites[guard.spec.site_id]
    on = duty.current(world.fleet, guard_id, now)
    was = guard.duty.window
    guard.duty, alerts = shifts.on_tick(guard.duty, guard.spec, site, now, on, guard.heard_at)
    if on is None or on[0].lone_worker is None:
        return alerts
    if guard.duty.window != was:  # a new shift: the watchdog's clocks start at its start
        guard.lone = loneworker.started(on[1].start, guard.position)
    guard.lone, raised = loneworker.on_tick(guard.lone, guard.spec, site.id, now, on[0].lone_worker)
    return alerts + raised
