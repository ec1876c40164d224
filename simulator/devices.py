"""Simulated devices (telemetry, batteries, alarms, silences) and site sensors (daily
patterns, smoke, doors and motion), each with the events that can be injected into it."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.alerts import AlertKind
from core.fleet import Fleet, FleetIndex, Site
from simulator.events import Draft, Event, Truth

if TYPE_CHECKING:
    from simulator.engine import Params

RECHARGE_BELOW_PCT = 8.0  # a guard swaps a battery this flat
NUMERIC = {"temperature": (22.0, 2.5, 0.15), "humidity": (55.0, -10.0, 0.5)}  # base, amp, noise
SPIKE = 45.0  # how far an injected spike is off the pattern
#: How long (s) an active reading lasts before the sensor reports it cleared: a door stands
#: open for a while, smoke lingers. Never one message later: vigil's ingest is parallel, and
#: a clear overtaking its alarm would make the alarm the older reading, which is ignored.
ACTIVE_S = {"smoke": (30.0, 120.0), "door": (5.0, 30.0), "motion": (2.0, 10.0)}


@dataclass
class DeviceSim:
    id: str
    device_class: str
    client_id: int
    guard_id: str | None  # the guard carrying it
    site_id: str | None
    battery: float
    drain_per_h: float
    signal: float  # dBm
    temperature: float
    low: bool = False  # what vigil should think of its battery
    last_ts: float | None = None  # its last message
    quiet_until: float = 0.0
    back_pending: bool = False  # it said offline; it says online at quiet_until
    silence_due: float | None = None  # when vigil should notice a silence
    heard_again_pending: bool = False

    @property
    def alarm_entity(self) -> str:
        return self.guard_id or self.id

    def quiet(self, t: float) -> bool:
        """Sending nothing: silent, or offline until its "online" status has gone out (so
        that status, not another message, is what brings it back)."""
        return t < self.quiet_until or self.back_pending

    def heard(self, ts: float, topic: str) -> list[dict[str, Any]]:
        """A message from it at `ts`: after a silence, it should be back online."""
        self.last_ts = ts
        if not self.heard_again_pending:
            return []
        self.heard_again_pending = False
        return [self._truth(Event.HEARD_AGAIN, AlertKind.DEVICE_ONLINE, self.id)]

    def drain(self, dt_s: float) -> None:
        self.battery -= self.drain_per_h * dt_s / 3600.0
        if self.battery < RECHARGE_BELOW_PCT:
            self.battery = 100.0

    def telemetry(self, p: Params, rng: random.Random) -> Draft:
        """A telemetry message; the first one below the low mark carries it."""
        self.signal = min(-50.0, max(-98.0, self.signal + rng.gauss(0.0, 2.0)))
        payload = {
            "battery": round(self.battery, 1),
            "signal": round(self.signal),
            "temperature": round(self.temperature, 1),
        }
        draft = Draft(f"device/{self.id}/telemetry", payload, self.id)
        battery = payload["battery"]
        if battery < p.low_battery_pct and not self.low:
            draft.truths.append(self._truth(Event.BATTERY_LOW, AlertKind.LOW_BATTERY, self.id))
        self.low = battery < (p.battery_ok_pct if self.low else p.low_battery_pct)
        return draft

    def can(self, event: Event, t: float, p: Params, end: float | None) -> bool:
        if self.quiet(t) or self.back_pending or self.heard_again_pending:
            return False
        if event == Event.BATTERY_LOW:
            return not self.low and self.battery > p.battery_ok_pct
        if event == Event.BATTERY_COLLAPSE:
            return not self.low and self.battery > 60.0
        if event == Event.SILENT:
            if self.last_ts is None:
                return False  # vigil must have heard it to miss it
            length = self._silence(p)
            return end is None or t + length + 2 * p.interval_s < end
        return event in (Event.PANIC, Event.SOS, Event.STATUS_OFFLINE)

    def _silence(self, p: Params) -> float:
        return p.offline_after(self.device_class) + 2 * p.tick_s + 2 * p.interval_s + 5.0

    def inject(
        self,
        event: Event,
        t: float,
        p: Params,
        position: tuple[float, float] | None,
        anomaly_note: str,
        rng: random.Random,
    ) -> list[Draft]:
        if event in (Event.PANIC, Event.SOS):
            payload: dict[str, Any] = {"type": str(event)}
            if position is not None:
                payload |= {"lat": round(position[0], 6), "lon": round(position[1], 6)}
            draft = Draft(f"device/{self.id}/alert", payload, self.id)
            kind = AlertKind.PANIC if event == Event.PANIC else AlertKind.SOS
            draft.truths.append(self._truth(event, kind, self.alarm_entity))
            return [draft]
        if event == Event.BATTERY_LOW:
            self.battery = p.low_battery_pct - 1.0  # an old battery sagging under load
            return [self.telemetry(p, rng)]
        if event == Event.BATTERY_COLLAPSE:
            self.battery = RECHARGE_BELOW_PCT - 2.0
            draft = self.telemetry(p, rng)
            truth = self._truth(event, AlertKind.ANOMALY, self.id, note=anomaly_note)
            draft.truths.insert(0, truth)
            self.battery = 100.0  # swapped at once
            return [draft]
        if event == Event.STATUS_OFFLINE:
            self.quiet_until, self.back_pending = t + p.offline_rounds * p.interval_s, True
            draft = Draft(f"device/{self.id}/status", "offline", self.id)
            draft.truths.append(self._truth(event, AlertKind.DEVICE_OFFLINE, self.id))
            return [draft]
        assert event == Event.SILENT and self.last_ts is not None
        self.quiet_until = t + self._silence(p)
        self.silence_due = self.last_ts + p.offline_after(self.device_class)
        return []

    def back_due(self, t: float) -> bool:
        return self.back_pending and t >= self.quiet_until

    def back_online(self, t: float) -> Draft:
        self.back_pending = False
        draft = Draft(f"device/{self.id}/status", "online", self.id)
        draft.truths.append(self._truth(Event.STATUS_ONLINE, AlertKind.DEVICE_ONLINE, self.id))
        return draft

    def silence_noticed(self, t: float) -> Truth | None:
        if self.silence_due is None or t < self.silence_due:
            return None
        due, self.silence_due, self.heard_again_pending = self.silence_due, None, True
        truth = self._truth(Event.SILENT, AlertKind.DEVICE_OFFLINE, self.id)
        return Truth(ts=due, topic="", **truth)

    def _truth(self, event: Event, alert: AlertKind, entity: str, note: str = "") -> dict[str, Any]:
        return {
            "event": event,
            "entity_type": "device",
            "entity_id": self.id,
            "alert": alert,
            "alert_entity": entity,
            "client_id": self.client_id,
            "note": note,
        }


def devices_of(fleet: Fleet, rng: random.Random) -> dict[str, DeviceSim]:
    index = FleetIndex(fleet)
    found = {}
    for device in index.devices.values():
        guard_id = index.device_guard.get(device.id)
        found[device.id] = DeviceSim(
            id=device.id,
            device_class=device.device_class,
            client_id=device.client_id,
            guard_id=guard_id,
            site_id=index.guards[guard_id].site_id if guard_id else None,
            battery=rng.uniform(45.0, 100.0),
            drain_per_h=rng.uniform(2.0, 6.0),
            signal=rng.uniform(-90.0, -60.0),
            temperature=rng.uniform(28.0, 34.0),
        )
    return found


@dataclass
class SensorSim:
    id: str
    kind: str
    site: Site
    armed: str
    client_id: int
    base: float
    clear_at: float | None = None  # an active reading is cleared then

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC

    def open_during(self, t: float, interval_s: float) -> bool | None:
        """True / False when the site is open / closed all through [t, t + interval],
        None when it opens or closes within it."""
        hours, tz = self.site.hours, self.site.tz
        ends = {hours.contains(datetime.fromtimestamp(x, UTC), tz) for x in (t, t + interval_s)}
        return ends.pop() if len(ends) == 1 else None

    def value(self, t: float, rng: random.Random) -> float:
        """The daily pattern: warmest (or driest) mid-afternoon, site time."""
        base, amplitude, noise = NUMERIC[self.kind]
        local = datetime.fromtimestamp(t, UTC).astimezone(self.site.tz)
        hour = local.hour + local.minute / 60.0
        pattern = base + self.base + amplitude * math.cos(2 * math.pi * (hour - 15.0) / 24.0)
        return round(pattern + rng.gauss(0.0, noise), 2)

    def _reading(self, value: bool | float) -> Draft:
        payload = {"kind": self.kind, "value": value, "site_id": self.site.id}
        return Draft(f"sensor/{self.id}/reading", payload, None)

    def routine(
        self, index: int, n: int, t: float, every: int, interval_s: float, rng: random.Random
    ) -> Draft | None:
        if self.clear_at is not None:
            if t < self.clear_at:
                return None
            self.clear_at = None
            draft = self._reading(False)
            if self.kind == "smoke":  # only an injected smoke is ever cleared
                draft.truths.append(self._truth(Event.SMOKE_CLEARED, AlertKind.SMOKE_CLEAR))
            return draft
        if self.numeric:
            due = index == 0 or (index + n) % every == 0
            return self._reading(self.value(t, rng)) if due else None
        if index == 0:
            return self._reading(False)  # all quiet: vigil's edge starts where this run does
        if self.kind in ("door", "motion") and self._routine_allowed(t, interval_s):
            if rng.random() < (0.05 if self.kind == "door" else 0.1):
                self.clear_at = t + rng.uniform(*ACTIVE_S[self.kind])
                return self._reading(True)
            return None
        if (index + n) % (2 * every) == 0:
            return self._reading(False)  # a heartbeat
        return None

    def _routine_allowed(self, t: float, interval_s: float) -> bool:
        """Doors open and people move about while the site is open and motion is disarmed."""
        if self.open_during(t, interval_s) is not True:
            return self.kind == "motion" and self.armed == "never"
        return self.kind == "door" or self.armed in ("never", "after_hours")

    def can(self, event: Event, t: float, interval_s: float) -> bool:
        if self.clear_at is not None:
            return False
        if event == Event.SMOKE:
            return self.kind == "smoke"
        if event == Event.DOOR_AFTER_HOURS:
            return self.kind == "door" and self.open_during(t, interval_s) is False
        if event == Event.MOTION_ARMED:
            if self.kind != "motion" or self.armed == "never":
                return False
            return self.armed == "always" or self.open_during(t, interval_s) is False
        return event == Event.SENSOR_SPIKE and self.numeric

    def inject(
        self, event: Event, t: float, interval_s: float, rng: random.Random, anomaly_note: str
    ) -> Draft:
        if event == Event.SENSOR_SPIKE:
            draft = self._reading(round(self.value(t, rng) + SPIKE, 2))
            draft.truths.append(self._truth(event, AlertKind.ANOMALY, anomaly_note))
            return draft
        self.clear_at = t + rng.uniform(*ACTIVE_S.get(self.kind, (5.0, 30.0)))
        kind = {
            Event.SMOKE: AlertKind.SMOKE,
            Event.DOOR_AFTER_HOURS: AlertKind.DOOR_AFTER_HOURS,
            Event.MOTION_ARMED: AlertKind.MOTION_ARMED,
        }[event]
        draft = self._reading(True)
        draft.truths.append(self._truth(event, kind))
        return draft

    def _truth(self, event: Event, alert: AlertKind, note: str = "") -> dict[str, Any]:
        return {
            "event": event,
            "entity_type": "sensor",
            "entity_id": self.id,
            "alert": alert,
            "alert_entity": self.id,
            "client_id": self.client_id,
            "note": note,
        }


def sensors_of(fleet: Fleet, sites: dict[str, Site], rng: random.Random) -> dict[str, SensorSim]:
    return {
        s.id: SensorSim(
            id=s.id,
            kind=s.kind,
            site=sites[s.site_id],
            armed=s.armed,
            client_id=sites[s.site_id].client_id,
            base=rng.uniform(-2.0, 2.0),
        )
        for s in fleet.sensors
    }
