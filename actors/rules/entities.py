"""Logical actors: one small object per guard, device and sensor, hosted by a shard.

Each holds its own state (one record per rule) and is created on first use from
the fleet (the virtual-actor pattern): a shard never lists its entities up front.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actors.rules.anomaly import Model, Track
from actors.rules.geofence import CompiledZone, GeofenceState, compile_zones
from actors.rules.health import HealthParams, HealthState, Who
from actors.rules.loneworker import LoneState
from actors.rules.sensors import SensorState
from actors.rules.shifts import DutyState
from core.fleet import Device as DeviceSpec
from core.fleet import FleetIndex, Site
from core.fleet import Guard as GuardSpec
from core.fleet import Sensor as SensorSpec
from core.settings import Settings


@dataclass(slots=True)
class Guard:
    spec: GuardSpec
    zones: tuple[CompiledZone, ...]
    geofence: GeofenceState = field(default_factory=GeofenceState)
    position: tuple[float, float] | None = None
    position_ts: int = 0
    heard_at: int = 0  # µs, vigil's clock: the last fix or message of the guard's device
    duty: DutyState = field(default_factory=DutyState)
    lone: LoneState = field(default_factory=LoneState)

    def remembers(self) -> tuple[Any, ...]:
        """What a checkpoint and a fleet change keep (each rule's state is a frozen value)."""
        return (self.geofence, self.position, self.position_ts, self.heard_at, self.duty, self.lone)

    def recall(self, kept: tuple[Any, ...]) -> None:
        # A checkpoint from before shifts holds the first three only.
        self.geofence, self.position, self.position_ts = kept[:3]
        if len(kept) > 3:
            self.heard_at, self.duty, self.lone = kept[3:6]


@dataclass(slots=True)
class Device:
    spec: DeviceSpec
    who: Who
    owner_id: str  # the guard carrying it, or the device itself
    health_params: HealthParams
    health: HealthState = field(default_factory=HealthState)
    anomaly: Track = field(default_factory=Track)
    skew_s: float | None = None  # vigil's receipt minus the device's stamp, last message


@dataclass(slots=True)
class Sensor:
    spec: SensorSpec
    site: Site
    state: SensorState = field(default_factory=SensorState)
    anomaly: Track = field(default_factory=Track)


class Entities:
    """The logical actors of one shard, activated on first message."""

    def __init__(
        self, fleet: FleetIndex, settings: Settings, shard: int = 0, shards: int = 1
    ) -> None:
        self.fleet = fleet
        self.settings = settings
        self.shard, self.shards = shard, shards
        self.on_roster = self._on_roster()
        self.guards: dict[str, Guard] = {}
        self.devices: dict[str, Device] = {}
        self.sensors: dict[str, Sensor] = {}
        self.model: Model | None = None  # the live anomaly model (training/), once promoted
        self._zones: dict[str, tuple[CompiledZone, ...]] = {}

    def _on_roster(self) -> list[str]:
        """The guards of this shard that shifts name: their timers run even before they
        are first heard from (a guard who never shows up is the point of a no-show)."""
        return [
            guard_id
            for guard_id, shifts in self.fleet.shifts.items()
            if shifts and self.fleet.shard_of("guard", guard_id, self.shards) == self.shard
        ]

    def __len__(self) -> int:
        return len(self.guards) + len(self.devices) + len(self.sensors)

    def guard(self, guard_id: str) -> Guard:
        found = self.guards.get(guard_id)
        if found is None:
            info = self.fleet.guards[guard_id]
            zones = self._zones.get(info.site_id)
            if zones is None:
                zones = self._zones[info.site_id] = compile_zones(self.fleet.sites[info.site_id])
            found = self.guards[guard_id] = Guard(info, zones)
        return found

    def device(self, device_id: str) -> Device:
        found = self.devices.get(device_id)
        if found is None:
            info = self.fleet.devices[device_id]
            owner = self.fleet.device_guard.get(device_id)
            site = self.fleet.guards[owner].site_id if owner else None
            s = self.settings
            params = HealthParams(
                low_battery_pct=s.low_battery_pct,
                battery_ok_pct=s.battery_ok_pct,
                weak_signal_dbm=s.weak_signal_dbm,
                weak_signal_pct=s.weak_signal_pct,
                offline_after_s=s.offline_timeout(info.device_class),
            )
            who = Who(device_id, info.client_id, site)
            found = self.devices[device_id] = Device(info, who, owner or device_id, params)
        return found

    def sensor(self, sensor_id: str) -> Sensor:
        found = self.sensors.get(sensor_id)
        if found is None:
            info = self.fleet.sensors[sensor_id]
            found = self.sensors[sensor_id] = Sensor(info, self.fleet.sites[info.site_id])
        return found

    # -- checkpoints (docs/checkpoints.md) ----------------------------------------------------

    def snapshot(self) -> dict[str, dict[str, tuple[Any, ...]]]:
        """What every logical actor remembers (each rule's state is a frozen value)."""
        return {
            "guards": {i: g.remembers() for i, g in self.guards.items()},
            "devices": {i: (d.health, d.anomaly) for i, d in self.devices.items()},
            "sensors": {i: (s.state, s.anomaly) for i, s in self.sensors.items()},
        }

    def restore(self, saved: dict[str, dict[str, tuple[Any, ...]]]) -> None:
        """Take a snapshot back; entities the fleet no longer has are left out."""
        for guard_id, kept in saved["guards"].items():
            if guard_id in self.fleet.guards:
                self.guard(guard_id).recall(kept)
        for device_id, (health, track) in saved["devices"].items():
            if device_id in self.fleet.devices:
                device = self.device(device_id)
                device.health, device.anomaly = health, track
        for sensor_id, (state, track) in saved["sensors"].items():
            if sensor_id in self.fleet.sensors:
                sensor = self.sensor(sensor_id)
                sensor.state, sensor.anomaly = state, track

    # -- fleet changes (the API's fleet edits, through actors/registry.py) -----------------

    def reload(self, fleet: FleetIndex) -> None:
        """Take a changed fleet: entities it no longer has go; every other one is built
        again from its new spec (a guard moved gets its new site and zones, its device
        the new site and offline timeout) and keeps what it has lived through (position,
        inside-zone state, shift and lone-worker timers, health and its timers, anomaly
        tracks, clock skew)."""
        guards, devices, sensors = self.guards, self.devices, self.sensors
        self.fleet, self._zones = fleet, {}
        self.on_roster = self._on_roster()
        self.guards, self.devices, self.sensors = {}, {}, {}
        for guard_id, was in guards.items():
            if guard_id in fleet.guards:
                self.guard(guard_id).recall(was.remembers())
        for device_id, had in devices.items():
            if device_id in fleet.devices:
                device = self.device(device_id)
                device.health, device.anomaly, device.skew_s = had.health, had.anomaly, had.skew_s
        for sensor_id, held in sensors.items():
            if sensor_id in fleet.sensors:
                sensor = self.sensor(sensor_id)
                sensor.state, sensor.anomaly = held.state, held.anomaly
