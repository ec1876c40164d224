"""Site sensors: smoke, a door opened outside opening hours, motion while armed.

Edge-triggered: a sensor that keeps reporting the same condition raises it once,
and again only after it has reported the condition cleared. A smoke sensor's first
reading back to normal after an alarm raises `smoke_clear`, which ends that alarm
(core/alerts.ENDS; unless the tenant resolves smoke by hand).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from core.alerts import Alert, AlertKind, make_alert
from core.fleet import Sensor, Site
from core.records import SensorReading

#: Readings a sensor remembers to put a late one in its place (parallel ingest).
WINDOW = 32


@dataclass(frozen=True, slots=True)
class SensorState:
    active: bool = False  # the condition of the newest reading
    last_ts: int = 0
    #: The latest readings, oldest first: (ts, the alert its condition calls for).
    recent: tuple[tuple[int, AlertKind | None], ...] = ()
    #: The first reading of each activation raised (those still in `recent`).
    raised: tuple[int, ...] = ()


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
    """Edge-triggered over the readings in time order, whatever order they arrive in: an
    activation (a run of readings whose condition calls for an alert) raises once, at its
    first reading. A short pulse whose "cleared" overtook it still raises; a "cleared"
    arriving late inside what looked like one activation makes two, and the second
    raises too."""
    kind = condition(reading, sensor, site)
    recent = tuple(sorted({*state.recent, (reading.ts, kind)}, key=_ts))[-WINDOW:]
    runs = _activations(recent)
    raised = [ts for ts in state.raised if ts >= recent[0][0]]
    alerts = []
    for begin, end, run_kind in runs:
        if not any(begin <= ts <= end for ts in raised):
            raised.append(begin)
            alerts.append(_alert(run_kind, begin, reading, sensor, site))
        cleared = _cleared_at(recent, end)
        # Once, when what tells it arrives: the clear itself, or a late reading of the run.
        if run_kind is AlertKind.SMOKE and cleared is not None and begin <= reading.ts <= cleared:
            alerts.append(_alert(AlertKind.SMOKE_CLEAR, cleared, reading, sensor, site))
    newest = recent[-1]
    new = SensorState(newest[1] is not None, newest[0], recent, tuple(sorted(raised)))
    return new, alerts


def _ts(entry: tuple[int, AlertKind | None]) -> int:
    return entry[0]


def _cleared_at(recent: tuple[tuple[int, AlertKind | None], ...], end: int) -> int | None:
    """The time of the first reading after `end` that calls for nothing, if one came."""
    return next((ts for ts, kind in recent if ts > end and kind is None), None)


def _activations(
    recent: tuple[tuple[int, AlertKind | None], ...],
) -> list[tuple[int, int, AlertKind]]:
    """(first ts, last ts, kind) of each run of readings calling for an alert."""
    runs: list[tuple[int, int, AlertKind]] = []
    previous: AlertKind | None = None
    for ts, kind in recent:
        if kind is not None:
            if previous is None:
                runs.append((ts, ts, kind))
            else:
                runs[-1] = (runs[-1][0], ts, runs[-1][2])
        previous = kind
    return runs


def _alert(kind: AlertKind, ts: int, reading: SensorReading, sensor: Sensor, site: Site) -> Alert:
    return make_alert(
        kind,
        entity_id=sensor.id,
        client_id=reading.client_id,
        site_id=site.id,
        ts=ts,
        detail=sensor.name or sensor.id,
    )
