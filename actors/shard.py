"""EntityShard: a Ray actor hosting thousands of logical actors (guards, devices, sensors).

Ingest sends it batches (bulk lane) and single urgent messages (critical lane, its
own thread, so a panic never queues behind telemetry). Alerts go to the router
before a call returns, so a message acknowledged to the broker has raised its
alerts. Live positions go to the Hub coalesced: at most one call in flight.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

import ray

from actors.entities import Entities
from actors.pipeline import PIPELINE, timers
from actors.registry import current_fleet
from actors.rules.anomaly import Model
from core import heap
from core.alerts import Alert, Severity
from core.fleet import Fleet, FleetIndex
from core.metrics import Histogram
from core.records import GuardLocation, Record
from core.settings import Settings

log = logging.getLogger("vigil.shard")


@ray.remote(concurrency_groups={"bulk": 1, "critical": 1, "timer": 1})  # type: ignore[call-overload]
class EntityShard:
    def __init__(self, index: int, settings: Settings, fleet: Fleet, router: Any, hub: Any) -> None:
        self.index = index
        fleet = current_fleet(settings.namespace, fleet)  # edits since the start, on a restart
        self.entities = Entities(FleetIndex(fleet), settings)
        self.router = router
        self.hub = hub
        self.stats: Counter[str] = Counter()
        self.evaluations: Counter[str] = Counter()
        self.critical_latency = Histogram()  # critical event to router and Hub, seconds
        steps = {step.__name__ for steps in PIPELINE.values() for step in steps}
        self.failures: Counter[str] = Counter(dict.fromkeys(steps, 0))  # zeros are series too
        self._lock = threading.Lock()  # the lanes run on their own threads; state is shared
        self._positions: dict[str, dict[str, Any]] = {}
        self._hub_call: Any = None
        self._push_every = settings.position_push_s
        self._pushed = 0.0
        self._tick = settings.tick_seconds
        self._load_live_model(settings.lake)
        threading.Thread(target=self._timer_loop, name="timers", daemon=True).start()
        heap.settle()

    def apply(self, records: list[Record]) -> int:
        return self._apply(records)

    @ray.method(concurrency_group="critical")
    def apply_critical(self, records: list[Record]) -> int:
        return self._apply(records)

    @ray.method(concurrency_group="critical")
    def get_stats(self) -> dict[str, Any]:
        world = self.entities
        offline = {d.spec.id for d in world.devices.values() if d.health.online is False}
        guards_offline = sum(1 for g in world.guards.values() if g.spec.device_id in offline)
        return {
            **self.stats,
            "entities": len(world),
            "entities_by_kind": {
                "guard": len(world.guards),
                "device": len(world.devices),
                "sensor": len(world.sensors),
            },
            "devices_offline": len(offline),
            "guards_offline": guards_offline,
            "critical_latency": self.critical_latency.to_dict(),
            "rule_evaluations": dict(self.evaluations),
            "rule_failures": dict(self.failures),
            "model_version": world.model.version if world.model is not None else None,
        }

    @ray.method(concurrency_group="critical")
    def guard_state(self, guard_id: str) -> dict[str, Any] | None:
        guard = self.entities.guards.get(guard_id)
        if guard is None:
            return None
        return {"position": guard.position, "zones": dict(guard.geofence.inside)}

    # -- the live anomaly model (training/) -------------------------------------------------

    @ray.method(concurrency_group="timer")
    def load_model(self, payload: bytes | None) -> str | None:
        """Hot-load a promoted model (JSON of actors.rules.anomaly.Model); None unloads.
        Returns the version now live. A payload that does not decode changes nothing."""
        model = None if payload is None else Model.from_json(payload)
        with self._lock:
            self.entities.model = model
        return None if model is None else model.version

    def _load_live_model(self, lake: str) -> None:
        """A restarted shard takes the registry's live model back; a failure only logs."""
        try:
            from training.registry import Registry

            payload = Registry(lake).live_payload()
            if payload is not None:
                self.entities.model = Model.from_json(payload)
        except Exception:
            log.exception("could not load the live anomaly model from %s", lake)

    # -- for the Serve app: fleet edits and the live device view ----------------------------

    @ray.method(concurrency_group="timer")
    def update_fleet(self, fleet: Fleet) -> int:
        with self._lock:
            self.entities.reload(FleetIndex(fleet))
            return len(self.entities)

    @ray.method(concurrency_group="timer")
    def live_devices(self, client_id: int | None = None) -> list[dict[str, Any]]:
        """Devices this shard has heard from: online, last seen (µs), battery/signal flags."""
        with self._lock:
            devices = list(self.entities.devices.values())
        return [
            {
                "device_id": d.spec.id,
                "client_id": d.who.client_id,
                "site_id": d.who.site_id,
                "guard_id": d.owner_id if d.owner_id != d.spec.id else None,
                "online": d.health.online,
                "last_seen": d.health.last_seen or None,
                "battery_low": d.health.battery_low,
                "signal_weak": d.health.signal_weak,
            }
            for d in devices
            if client_id in (None, d.who.client_id)
        ]

    def _apply(self, records: list[Record]) -> int:
        alerts: list[Alert] = []
        with self._lock:
            for record in records:
                for step in PIPELINE[type(record)]:
                    self.evaluations[step.__name__] += 1
                    try:
                        alerts.extend(step(self.entities, record))
                    except Exception:
                        self.failures[step.__name__] += 1
                        log.exception("rule %s failed on %s", step.__name__, record.msg_key)
                if isinstance(record, GuardLocation):
                    self._note_position(record)
            self.stats["messages"] += len(records)
        self._emit(alerts)
        self._send_positions()
        return len(records)

    def _emit(self, alerts: list[Alert]) -> None:
        if alerts:
            self.stats["alerts"] += len(alerts)
            ray.get(self.router.raise_alerts.remote(alerts))
            now = time.time()
            for alert in alerts:  # the SLO: from the event (device clock) to the NOC
                if alert.severity == Severity.CRITICAL:
                    self.critical_latency.observe(max(0.0, now - alert.ts / 1e6))

    def _note_position(self, fix: GuardLocation) -> None:
        current = self._positions.get(fix.guard_id)
        if current is None or current["ts"] <= fix.ts:
            guard = self.entities.guard(fix.guard_id)
            self._positions[fix.guard_id] = {
                "guard_id": fix.guard_id,
                "client_id": fix.client_id,
                "site_id": guard.spec.site_id,
                "lat": fix.lat,
                "lon": fix.lon,
                "accuracy": fix.accuracy,
                "ts": fix.ts,
                "zones": dict(guard.geofence.inside),
            }

    def _send_positions(self) -> None:
        """Positions are a live view: at most one Hub call in flight and one per
        `position_push_s`; fixes arriving in between replace older ones."""
        with self._lock:
            if not self._positions or time.monotonic() - self._pushed < self._push_every:
                return
            if self._hub_call is not None:
                ready, _ = ray.wait([self._hub_call], timeout=0)
                if not ready:
                    return
            batch, self._positions = list(self._positions.values()), {}
            self._pushed = time.monotonic()
            self._hub_call = self.hub.update_positions.remote(batch)

    def _timer_loop(self) -> None:
        """Timers (offline detection) every tick; positions left waiting in between."""
        next_tick = time.monotonic() + self._tick
        while True:
            time.sleep(min(self._tick, self._push_every))
            try:
                if time.monotonic() >= next_tick:
                    next_tick += self._tick
                    with self._lock:
                        alerts = timers(self.entities, time.time_ns() // 1000)
                    self._emit(alerts)
                self._send_positions()
            except Exception:
                log.exception("shard timers failed")
