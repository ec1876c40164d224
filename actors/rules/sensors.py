"""Site sensors: smoke, a door opened outside opening hours, motion while armed.

Edge-triggered: a sensor that keeps reporting the same condition raises it once,
and again only after it has reported the condition cleared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from core.alerts import Alert, AlertKind, make_alert
from core.fleet import Sensor, Site
from core.records import SensorReading


@dataclass(frozen=True, slots=True)
class SensorState:
    active: bool = False
    last_ts: int = 0


def site_open(site: Site, ts: int) -> bool:
    return site.hours.contains(datetime.fromtimestamp(ts / 1e6, UTC), site.tz)


def armed(sensor: Sensor, site: Site, ts: int) -> bool:
    if sensor.armed == "always":
        return True
    return sensor.armed == "after_hours" and not site_open(site, ts)


def condition(reading: SensorReading, sensor: Sensor, site: Site) -> AlertKind | None:
    """The alert a reading calls for on its own (facts), before edge detection."""
    if not reading.active:
        return None
    if reading.kind == "smoke":
        return AlertKind.SMOKE
    if reading.kind == "door" and not site_open(site, reading.ts):
        return AlertKind.DOOR_AFTER_HOURS
    if reading.kind == "motion" and armed(sensor, site, reading.ts):
        return AlertKind.MOTION_ARMED
    return None


def update(
    state: SensorState, reading: SensorReading, sensor: Sensor, site: Site
) -> tuple[SensorState, list[Alert]]:
    if reading.ts < state.last_ts:  # an older reading (parallel ingest) does not move the edge
        return state, []
    kind = condition(reading, sensor, site)
    # The edge is the condition, not the raw reading: a door open in hours that is
    # still open after closing raises when next reported.
    new = SensorState(active=kind is not None, last_ts=reading.ts)
    if kind is None or state.active:
        return new, []
    alert = make_alert(
        kind,
        entity_id=sensor.id,
        client_id=reading.client_id,
        site_id=site.id,
        ts=reading.ts,
        detail=sensor.name or sensor.id,
    )
    return new, [alert]
