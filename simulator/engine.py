"""The simulated fleet, round by round: every message it sends and the truth of every event.

A round is `interval_s` of simulated time: a fix from each guard, telemetry and readings
on their cadence, and the events injected in it (at random, about one per
`event_every_s`, or from a fixed plan). Messages are spread evenly over the round and
stamped with simulated time, so a run is the same for the same seed and start; the
publisher (simulator/publish.py) paces them against the wall clock.

The truth is what an event should cause in a vigil that has seen this run from its
start; vigil's own rules are not consulted (they are what is being checked).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from core.alerts import AlertKind
from core.fleet import Fleet
from core.settings import Settings
from simulator import geo
from simulator.devices import devices_of, sensors_of
from simulator.events import Draft, Event, Outgoing, Scenario, Truth
from simulator.walkers import Walker

#: The events each scenario injects.
EVENTS: dict[Scenario, tuple[Event, ...]] = {
    Scenario.GPS: (Event.EXIT,),
    Scenario.PANIC: (Event.PANIC, Event.SOS),
    Scenario.SENSORS: (Event.SMOKE, Event.DOOR_AFTER_HOURS, Event.MOTION_ARMED),
    Scenario.OFFLINE: (Event.BATTERY_LOW, Event.STATUS_OFFLINE, Event.SILENT),
    Scenario.ANOMALY: (Event.SENSOR_SPIKE, Event.BATTERY_COLLAPSE),
}
MIN_INTERVAL_S = 0.01
ANOMALY_NOTE = "raised only while a trained anomaly model is live (vigil train promote)"


@dataclass(frozen=True)
class Params:
    interval_s: float = 5.0  # a fix from every guard each round
    speed_mps: float = 1.4  # walking pace
    telemetry_every: int = 6  # rounds between a device's telemetry
    sensor_every: int = 6  # rounds between a numeric sensor's readings
    event_every_s: float = 60.0  # mean time between injected events (random plan)
    max_accuracy_m: float = 12.0  # worst accuracy a fix reports
    margin_m: float = 15.0  # vigil's geofence_margin_m
    low_battery_pct: float = 20.0
    battery_ok_pct: float = 30.0
    offline_after_s: Mapping[str, float] = field(
        default_factory=lambda: dict(Settings().offline_after_s)
    )
    tick_s: float = 1.0  # vigil's tick_seconds: a silence is noticed within it
    outside_rounds: int = 3  # fixes a guard sends from outside on an exit
    offline_rounds: int = 3  # rounds a device that said offline stays quiet

    @staticmethod
    def of(settings: Settings, **changes: Any) -> Params:
        """The thresholds of a vigil's settings (what its rules will use)."""
        return Params(
            margin_m=settings.geofence_margin_m,
            low_battery_pct=settings.low_battery_pct,
            battery_ok_pct=settings.battery_ok_pct,
            offline_after_s=dict(settings.offline_after_s),
            tick_s=settings.tick_seconds,
            **changes,
        )

    @property
    def clearance_m(self) -> float:
        return geo.clearance(self.max_accuracy_m, self.margin_m)

    def offline_after(self, device_class: str) -> float:
        return self.offline_after_s.get(device_class, self.offline_after_s.get("tracker", 300.0))


@dataclass(frozen=True)
class Injection:
    """One planned event: what, and on whom (None: any entity it can happen to)."""

    event: Event
    entity_id: str | None = None


@dataclass(frozen=True)
class Round:
    index: int
    t: float  # epoch s at its start
    messages: list[Outgoing]
    truths: list[Truth]  # truths that no message carries (a silence noticed)


class Simulation:
    """Rounds of a fleet's traffic; deterministic for a seed, a start and a plan."""

    def __init__(
        self,
        fleet: Fleet,
        *,
        scenarios: frozenset[Scenario] = frozenset(Scenario),
        seed: int = 1,
        start: float = 0.0,
        params: Params | None = None,
        plan: Mapping[int, list[Injection]] | None = None,
        end: float | None = None,
    ) -> None:
        self.params = p = params or Params()
        self.scenarios = scenarios
        self.rng = random.Random(seed)
        self.start = start
        self.plan = plan
        self.end = end  # simulated end, when known: silences must fit before it
        sites = {s.id: s for s in fleet.sites}
        grounds = {s.id: geo.ground(s) for s in fleet.sites}
        self.walkers: dict[str, Walker] = {}
        self.skipped: list[str] = []  # guards whose site has no zone to walk in
        for guard in fleet.guards:
            found = grounds.get(guard.site_id)
            if found is None:
                self.skipped.append(guard.id)
                continue
            self.walkers[guard.id] = Walker.place(guard, found, p.clearance_m, self.rng)
        self.devices = devices_of(fleet, self.rng)
        self.sensors = sensors_of(fleet, sites, self.rng)

    def per_round(self) -> float:
        """Messages an ordinary round sends, injected events aside."""
        p, chosen = self.params, self.scenarios
        count = float(len(self.walkers)) if Scenario.GPS in chosen else 0.0
        if chosen & {Scenario.OFFLINE, Scenario.ANOMALY}:
            count += len(self.devices) / p.telemetry_every
        if Scenario.SENSORS in chosen:
            numeric = sum(s.numeric for s in self.sensors.values())
            count += numeric / p.sensor_every + (len(self.sensors) - numeric) / (2 * p.sensor_every)
        return max(count, 1.0)

    def pace(self, rate: float) -> None:
        """Rounds as long as it takes to send `rate` messages a second (a guard reports
        more often at a higher rate), before the first round."""
        interval = max(self.per_round() / rate, MIN_INTERVAL_S)
        self.params = replace(self.params, interval_s=interval)

    # -- rounds --------------------------------------------------------------------------

    def rounds(self) -> Iterator[Round]:
        index = 0
        while True:
            yield self.round(index)
            index += 1

    def round(self, index: int) -> Round:
        p = self.params
        t = self.start + index * p.interval_s
        drafts: list[Draft] = []
        loose: list[Truth] = []
        busy: set[str] = set()  # entities an injection already spoke for this round
        for injection in self._injections(index, t):
            drafts += self._inject(injection, t, busy)
        drafts += self._walk(index, t)
        drafts += self._telemetry(index, t, busy)
        drafts += self._readings(index, t, busy)
        drafts += self._statuses(t, busy)
        loose += self._silences_noticed(t)
        self.rng.shuffle(drafts)
        messages = self._stamp(drafts, t)
        return Round(index, t, messages, loose)

    def _stamp(self, drafts: list[Draft], t: float) -> list[Outgoing]:
        """Spread the round's messages over it; the first message a device sends after a
        silence carries that it was heard again."""
        out = []
        step = self.params.interval_s / max(len(drafts), 1)
        for i, draft in enumerate(drafts):
            ts = round(t + i * step, 6)
            if isinstance(draft.payload, dict):
                draft.payload["ts"] = ts
            device = self.devices.get(draft.device_id or "")
            if device is not None:
                draft.truths += device.heard(ts, draft.topic)
            truths = tuple(Truth(ts=ts, topic=draft.topic, **kw) for kw in draft.truths)
            out.append(Outgoing(draft.topic, draft.payload, ts, draft.true_position, truths))
        return out

    # -- guards --------------------------------------------------------------------------

    def _walk(self, index: int, t: float) -> list[Draft]:
        if Scenario.GPS not in self.scenarios:
            return []
        p = self.params
        drafts = []
        for walker in self.walkers.values():
            if index:
                walker.step(p.speed_mps * p.interval_s, p.outside_rounds)
            guard = walker.guard
            device = self.devices.get(guard.device_id or "")
            if device is not None and device.quiet(t):
                continue
            fix = walker.fix(p.speed_mps, p.max_accuracy_m, self.rng)
            payload: dict[str, Any] = {
                "lat": fix.lat,
                "lon": fix.lon,
                "accuracy": fix.accuracy,
                "speed": fix.speed,
                "heading": fix.heading,
            }
            if device is not None:
                payload["battery"] = round(device.battery, 1)
            draft = Draft(f"guard/{guard.id}/gps", payload, guard.device_id)
            draft.true_position = (fix.true_lat, fix.true_lon)
            if fix.crossed:
                exit_ = fix.crossed == "exit"
                draft.truths.append(
                    {
                        "event": Event.EXIT if exit_ else Event.RETURN,
                        "entity_type": "guard",
                        "entity_id": guard.id,
                        "alert": AlertKind.GEOFENCE_EXIT if exit_ else AlertKind.GEOFENCE_ENTER,
                        "alert_entity": guard.id,
                        "client_id": guard.client_id,
                        "scope": walker.ground.patrol_zone,
                    }
                )
            drafts.append(draft)
        return drafts

    # -- devices and sensors -------------------------------------------------------------

    def _telemetry(self, index: int, t: float, busy: set[str]) -> list[Draft]:
        if not self.scenarios & {Scenario.OFFLINE, Scenario.ANOMALY}:
            return []
        drafts = []
        for n, device in enumerate(self.devices.values()):
            device.drain(self.params.interval_s)
            due = index == 0 or (index + n) % self.params.telemetry_every == 0
            if due and device.id not in busy and not device.quiet(t):
                drafts.append(device.telemetry(self.params, self.rng))
        return drafts

    def _readings(self, index: int, t: float, busy: set[str]) -> list[Draft]:
        if Scenario.SENSORS not in self.scenarios:
            return []
        drafts = []
        for n, sensor in enumerate(self.sensors.values()):
            if sensor.id in busy:
                continue
            p = self.params
            draft = sensor.routine(index, n, t, p.sensor_every, p.interval_s, self.rng)
            if draft is not None:
                drafts.append(draft)
        return drafts

    def _statuses(self, t: float, busy: set[str]) -> list[Draft]:
        """A device that said it was offline says it is back, once its quiet is over."""
        return [
            d.back_online(t) for d in self.devices.values() if d.back_due(t) and d.id not in busy
        ]

    def _silences_noticed(self, t: float) -> list[Truth]:
        return [truth for d in self.devices.values() if (truth := d.silence_noticed(t))]

    # -- injections ----------------------------------------------------------------------

    def _injections(self, index: int, t: float) -> list[Injection]:
        if self.plan is not None:
            return list(self.plan.get(index, []))
        events = [e for s in sorted(self.scenarios) for e in EVENTS[s]]
        if not events or self.rng.random() >= self.params.interval_s / self.params.event_every_s:
            return []
        return [Injection(self.rng.choice(events))]

    def _inject(self, injection: Injection, t: float, busy: set[str]) -> list[Draft]:
        event, p = injection.event, self.params
        if event == Event.EXIT:
            walkers = [w for w in self.walkers.values() if w.patrolling and self._heard(w, t)]
            walker = self._pick(walkers, injection, lambda w: w.guard.id)
            if walker is not None:
                walker.start_exit(p.clearance_m, self.rng)
            return []
        if event in (Event.SMOKE, Event.DOOR_AFTER_HOURS, Event.MOTION_ARMED, Event.SENSOR_SPIKE):
            sensors = [s for s in self.sensors.values() if s.can(event, t, p.interval_s)]
            sensor = self._pick(sensors, injection, lambda s: s.id)
            if sensor is None:
                return []
            busy.add(sensor.id)
            return [sensor.inject(event, t, p.interval_s, self.rng, ANOMALY_NOTE)]
        devices = [d for d in self.devices.values() if d.can(event, t, p, self.end)]
        if event in (Event.SILENT, Event.STATUS_OFFLINE):  # never while its guard is out:
            devices = [d for d in devices if self._patrolling(d.guard_id)]  # its exit is seen
        device = self._pick(devices, injection, lambda d: d.id)
        if device is None:
            return []
        busy.add(device.id)
        position = None
        walker = self.walkers.get(device.guard_id or "")
        if walker is not None:
            position = walker.ground.to_latlon(walker.x, walker.y)
        return device.inject(event, t, p, position, ANOMALY_NOTE, self.rng)

    def _heard(self, walker: Walker, t: float) -> bool:
        """The walker's tracker is sending (an exit it cannot report would go unseen)."""
        device = self.devices.get(walker.guard.device_id or "")
        return device is None or device.can(Event.PANIC, t, self.params, self.end)

    def _patrolling(self, guard_id: str | None) -> bool:
        walker = self.walkers.get(guard_id or "")
        return walker is None or walker.patrolling

    def _pick(self, items: list[Any], injection: Injection, key: Any) -> Any:
        if injection.entity_id is not None:
            return next((i for i in items if key(i) == injection.entity_id), None)
        return self.rng.choice(items) if items else None
