"""EntityShard: a Ray actor hosting thousands of logical actors (guards, devices, sensors).

Ingest sends it batches (bulk lane) and single urgent messages (critical lane, its
own thread, so a panic never queues behind telemetry). A call hands the alerts its
records raised to the router and returns at once with the router call's ref: ingest
acknowledges the batch only once that ref resolves, so a message acknowledged to the
broker has raised its alerts, while the lane goes on with the next batch (the router
and its durable write run beside it, not in series). Alerts the router has not
accepted stay in `unsent` (checkpointed with the state that raised them) and go again
with the next call and every tick. Live positions go to the Hub coalesced: at most
one call in flight.

State survives a restart: a checkpoint every `checkpoint_s`, and on start the lake is
replayed from the checkpoint's low-water mark (storage/recovery.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, NamedTuple

import ray
from ray import ObjectRef

from actors.registry import current_fleet
from actors.rules.anomaly import Model
from actors.rules.entities import Entities
from actors.rules.pipeline import PIPELINE, timers
from core import heap, names
from core.alerts import Alert, Severity
from core.fleet import Fleet, FleetIndex
from core.loops import Threads
from core.messages import Position
from core.metrics import SKEW_BUCKETS, Histogram
from core.records import DeadLetter, GuardLocation, Record
from core.settings import Settings
from storage.recovery import Recovery, now_us

log = logging.getLogger("vigil.shard")


class Applied(NamedTuple):
    """What a shard call answers: a dead letter per rule that failed on a record, and the
    router calls ingest must see succeed before it acknowledges the batch."""

    dead: list[DeadLetter]
    raising: list[ObjectRef]


@ray.remote(concurrency_groups={"bulk": 1, "critical": 1, "timer": 1})  # type: ignore[call-overload]
class EntityShard:
    def __init__(self, index: int, settings: Settings) -> None:
        self.index = index
        self.name = names.shard(index)
        self.started_at = time.time()
        self.restarted = ray.get_runtime_context().was_current_actor_reconstructed
        fleet = current_fleet(settings)
        self.entities = Entities(FleetIndex(fleet), settings, index, settings.shards)
        self.shards = settings.shards
        self.router = names.peer(names.ROUTER, settings)
        self.hub = names.peer(names.HUB, settings)
        self.stats: Counter[str] = Counter()
        self.evaluations: Counter[str] = Counter()
        self.critical_latency = Histogram()  # critical event to router and Hub, seconds
        self.router_latency = Histogram()  # a raise_alerts call, sent to taken
        self.clock_skew = Histogram(SKEW_BUCKETS)  # |vigil's receipt - device's stamp|, s
        steps = {step.__name__ for steps in PIPELINE.values() for step in steps}
        self.failures: Counter[str] = Counter(dict.fromkeys(steps, 0))  # zeros are series too
        self._lock = threading.Lock()  # the lanes run on their own threads; state is shared
        self._unsent: dict[str, Alert] = {}  # raised, not yet accepted by the router
        self._calls: dict[ObjectRef, list[str]] = {}  # router calls out, the ids they carry
        self._positions: dict[str, Position] = {}
        self._hub_call: Any = None
        self._push_every = settings.position_push_s
        self._pushed = 0.0
        self._tick = settings.tick_seconds
        self._next_tick = time.monotonic() + self._tick
        self._checkpoint_every = settings.checkpoint_s
        self._next_checkpoint = time.monotonic() + self._checkpoint_every
        self._dirty = False
        self.recovery = Recovery(self.name, settings)
        self._problems: list[str] = []  # besides its threads': what health should name
        self._load_live_model(settings.lake)
        self._recover(settings)
        self.threads = Threads(self.name)
        self.threads.forever("timers", self._timer_step, pause=min(self._tick, self._push_every))
        heap.settle()

    def apply(self, records: list[Record], low_water: int, source: str) -> Applied:
        return self._apply(records, low_water, source)

    @ray.method(concurrency_group="critical")
    def apply_critical(self, records: list[Record], low_water: int, source: str) -> Applied:
        return self._apply(records, low_water, source)

    @ray.method(concurrency_group="critical")
    def note_low_water(self, low_water: int, source: str) -> None:
        """An ingest slot that has sent nothing for a while still says where it stands."""
        with self._lock:
            self.recovery.note(source, low_water)

    @ray.method(concurrency_group="critical")
    def get_stats(self) -> dict[str, Any]:
        world = self.entities
        offline = {d.spec.id for d in world.devices.values() if d.health.online is False}
        guards_offline = sum(1 for g in world.guards.values() if g.spec.device_id in offline)
        threads = self.threads.report()
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
            "unsent_alerts": len(self._unsent),
            "checkpoints": self.recovery.saves,
            "replay_from_age_s": max(0.0, (now_us() - self.recovery.replay_from()) / 1e6),
            "critical_latency": self.critical_latency.to_dict(),
            "router_latency": self.router_latency.to_dict(),
            "clock_skew": self.clock_skew.to_dict(),
            "rule_evaluations": dict(self.evaluations),
            "rule_failures": dict(self.failures),
            "model_version": world.model.version if world.model is not None else None,
            "threads": threads,
            "thread_beat_age_s": {name: t["beat_age_s"] for name, t in threads.items()},
            "problems": self._problems + self.threads.problems(),
            "started_at": self.started_at,
            "restarted": self.restarted,
        }

    @ray.method(concurrency_group="critical")
    def guard_state(self, guard_id: str) -> dict[str, Any] | None:
        guard = self.entities.guards.get(guard_id)
        if guard is None:
            return None
        shift = guard.duty.window
        return {
            "position": guard.position,
            "zones": dict(guard.geofence.inside),
            "shift": shift.shift_id if shift else None,
            "lone_worker_since": guard.lone.raised or None,
        }

    @ray.method(concurrency_group="timer")
    def checkpoint(self) -> int:
        """Save a checkpoint now (tests, `vigil down`); returns how many were saved."""
        self._save_checkpoint()
        return self.recovery.saves

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
        """Devices this shard has heard from: online, last heard (µs, vigil's clock),
        battery/signal flags, and how far the device's clock is off vigil's."""
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
                "clock_skew_s": d.skew_s,
                "battery_low": d.health.battery_low,
                "signal_weak": d.health.signal_weak,
            }
            for d in devices
            if client_id in (None, d.who.client_id)
        ]

    # -- the pipeline ---------------------------------------------------------------------------

    def _apply(self, records: list[Record], low_water: int, source: str) -> Applied:
        dead: list[DeadLetter] = []
        with self._lock:
            alerts = self._run_pipeline(records, dead)
            self.recovery.note(source, low_water)
            for alert in alerts:
                self._unsent[alert.alert_id] = alert
            self._dirty = True
            self.stats["messages"] += len(records)
        raising = self._raise(alerts)
        self._send_positions()
        return Applied(dead, raising)

    def _run_pipeline(self, records: list[Record], dead: list[DeadLetter] | None) -> list[Alert]:
        """Every step of every record, in order; the caller holds the lock. A failing step is
        logged and counted; live (not in replay: `dead` is None) it is also a dead letter,
        and the record counts for the skew histogram and the live positions."""
        alerts: list[Alert] = []
        live = dead is not None
        for record in records:
            if live:
                self.clock_skew.observe(abs(record.received_at - record.ts) / 1e6)
            for step in PIPELINE[type(record)]:
                self.evaluations[step.__name__] += 1
                try:
                    alerts.extend(step(self.entities, record))
                except Exception as exc:
                    self.failures[step.__name__] += 1
                    log.exception("rule %s failed on %s", step.__name__, record.msg_key)
                    if dead is not None:  # (the same as `live`, for the type checker)
                        dead.append(rule_failure(record, step.__name__, exc))
            if live and isinstance(record, GuardLocation):
                self._note_position(record)
        return alerts

    def _raise(self, alerts: list[Alert]) -> list[ObjectRef]:
        """Hand `alerts`, and any left unsent that no call carries now, to the router;
        returns every router call still out, this one included: once they all succeed,
        everything this shard raised so far is the router's. An alert leaves `unsent`
        only when the router has taken it; a failed call leaves it for the next."""
        with self._lock:
            carried = {i for ids in self._calls.values() for i in ids}
            sending = [a for i, a in self._unsent.items() if i not in carried]
            if sending:
                call = self.router.raise_alerts.remote(sending)  # it drops ids it knows
                self._calls[call] = [a.alert_id for a in sending]
            out = list(self._calls)
        if sending:  # outside the lock: a call already done runs the callback right here
            critical = [a.ts for a in alerts if a.severity == Severity.CRITICAL]
            call.future().add_done_callback(self._taken(call, len(alerts), critical))
        return out

    def _taken(self, call: ObjectRef, fresh: int, critical: list[int]) -> Callable[[Future], None]:
        sent = time.time()

        def taken(done: Future[Any]) -> None:  # on a Ray thread, once the call has ended
            failed = done.exception()
            with self._lock:
                ids = self._calls.pop(call)
                if failed is None:
                    for alert_id in ids:
                        self._unsent.pop(alert_id, None)
            if failed is not None:
                log.warning("the router did not take %d alerts: %s", len(ids), failed)
                return
            self.stats["alerts"] += fresh
            now = time.time()
            self.router_latency.observe(now - sent)
            for ts in critical:  # the SLO: from the event (device clock) to the router
                self.critical_latency.observe(max(0.0, now - ts / 1e6))

        return taken

    def _note_position(self, fix: GuardLocation) -> None:
        current = self._positions.get(fix.guard_id)
        if current is None or current.ts <= fix.ts:
            guard = self.entities.guard(fix.guard_id)
            self._positions[fix.guard_id] = Position(
                guard_id=fix.guard_id,
                client_id=fix.client_id,
                site_id=guard.spec.site_id,
                lat=fix.lat,
                lon=fix.lon,
                accuracy=fix.accuracy,
                ts=fix.ts,
                zones=dict(guard.geofence.inside),
            )

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

    # -- timers, checkpoints and recovery -------------------------------------------------------

    def _timer_step(self) -> None:
        """Timers (offline detection) every tick, unsent alerts again, checkpoints when due;
        positions left waiting in between."""
        now = time.monotonic()
        if now >= self._next_tick:
            self._next_tick = now + self._tick
            with self._lock:
                alerts = timers(self.entities, now_us())
                for alert in alerts:
                    self._unsent[alert.alert_id] = alert
            if self._unsent:
                self._raise(alerts)
        if now >= self._next_checkpoint:
            self._next_checkpoint = now + self._checkpoint_every
            if self._dirty:
                self._save_checkpoint()
        self._send_positions()

    def _save_checkpoint(self) -> None:
        with self._lock:
            entities, unsent = self.entities.snapshot(), list(self._unsent.values())
            self._dirty = False
        try:
            self.recovery.save(entities, unsent)
        except Exception:
            self._dirty = True  # the next round tries again; the older checkpoint still holds
            raise

    def _recover(self, settings: Settings) -> None:
        """The last checkpoint, then every message received since its low-water mark."""
        saved = self.recovery.load()
        if saved is not None:
            self.entities.restore(saved.entities)
            self._unsent = {a.alert_id: a for a in saved.unsent}
        try:
            replayed = self._replay(settings)
        except Exception as exc:  # serve with the checkpoint alone rather than not at all
            log.exception("%s could not replay the lake", self.name)
            self._problems.append(f"replay failed ({type(exc).__name__}): state may be stale")
            replayed = 0
        self.stats["replayed"] = replayed
        if saved is not None or replayed:
            found = "a checkpoint" if saved is not None else "no checkpoint"
            log.info("%s recovered from %s and %d messages", self.name, found, replayed)

    def _replay(self, settings: Settings) -> int:
        from storage.replay import received_since  # DuckDB only in a restarted shard

        replayed = 0
        for record in received_since(settings.data_dir, settings.lake_uri, self.recovery.carried):
            if not self._hosts(record):
                continue
            for alert in self._run_pipeline([record], None):
                self._unsent[alert.alert_id] = alert  # the router drops those it has
            replayed += 1
        return replayed

    def _hosts(self, record: Record) -> bool:
        fleet = self.entities.fleet
        if fleet.tenant_of(record.ENTITY, record.entity_id) is None:
            return False  # removed from the fleet since
        return fleet.shard_of(record.ENTITY, record.entity_id, self.shards) == self.index


def rule_failure(record: Record, step: str, exc: Exception) -> DeadLetter:
    return DeadLetter(
        received_at=record.received_at,
        topic=f"{record.ENTITY}/{record.entity_id}",
        reason="internal",
        detail=f"{type(exc).__name__} in rule {step} on {record.msg_key}: {exc}"[:512],
        payload=repr(record)[:1024],
    )
