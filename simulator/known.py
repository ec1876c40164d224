"""The known scenario `vigil verify` runs: entities of its own and one of each event.

The entities are made for the run (over the fleet API) and named `verify-<run>-...`, so
nothing an operator owns is touched and nothing of an earlier run is counted. The site
is never open (every door and motion is after hours) and its zone is small, and the
guard moves fast, so the whole scenario takes a few seconds of publishing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec

from core.fleet import Device, Fleet, Guard, Hours, Sensor, Site, Tenant, Zone
from simulator.engine import Injection, Params, Round, Simulation
from simulator.events import Event

LAT0, LON0 = 12.9, 77.5  # anywhere: the site is the run's own
HALF_SIDE_DEG = 0.0009  # the zone is a square of about 200 m
SEED = 12
INTERVAL_S = 0.2
SPEED_MPS = 100.0  # 20 m between fixes: in and out of a 200 m zone in a few seconds
MAX_ROUNDS = 400


@dataclass(frozen=True)
class Known:
    """The run's fleet (one tenant) and what to publish."""

    run: str
    tenant: Tenant
    site: Site
    guard: Guard
    devices: list[Device]
    sensors: list[Sensor]
    plan: dict[int, list[Injection]] = field(default_factory=dict)

    @property
    def fleet(self) -> Fleet:
        return Fleet(
            tenants=[self.tenant],
            sites=[self.site],
            guards=[self.guard],
            devices=self.devices,
            sensors=self.sensors,
        )

    def bodies(self) -> list[tuple[str, dict[str, Any]]]:
        """(collection, JSON body) to create, in an order every reference resolves."""
        out: list[tuple[str, dict[str, Any]]] = [("sites", _json(self.site))]
        out += [("devices", _json(d)) for d in self.devices]
        out.append(("guards", _json(self.guard)))
        out += [("sensors", _json(s)) for s in self.sensors]
        return out

    def entity_ids(self) -> set[str]:
        return {self.guard.id, *(d.id for d in self.devices), *(s.id for s in self.sensors)}


def known(run: str, tenant: int, tenant_name: str = "") -> Known:
    prefix = f"verify-{run}"
    ring = [
        [LON0 - HALF_SIDE_DEG, LAT0 - HALF_SIDE_DEG],
        [LON0 + HALF_SIDE_DEG, LAT0 - HALF_SIDE_DEG],
        [LON0 + HALF_SIDE_DEG, LAT0 + HALF_SIDE_DEG],
        [LON0 - HALF_SIDE_DEG, LAT0 + HALF_SIDE_DEG],
        [LON0 - HALF_SIDE_DEG, LAT0 - HALF_SIDE_DEG],
    ]
    zone = Zone(
        id=f"{prefix}-zone", name="verify zone", geometry={"type": "Polygon", "coordinates": [ring]}
    )
    site = Site(
        id=f"{prefix}-site",
        client_id=tenant,
        name=f"vigil verify {run}",
        hours=Hours(days=[]),  # never open: doors and motion are always after hours
        zones=[zone],
    )
    tracker = Device(id=f"{prefix}-tracker", client_id=tenant, device_class="tracker")
    button = Device(id=f"{prefix}-button", client_id=tenant, device_class="panic_button")
    guard = Guard(
        id=f"{prefix}-guard",
        client_id=tenant,
        site_id=site.id,
        name=f"verify guard {run}",
        device_id=tracker.id,
    )
    sensors = [
        Sensor(id=f"{prefix}-{kind}", site_id=site.id, kind=kind, name=f"verify {kind}")
        for kind in ("smoke", "door", "motion", "temperature")
    ]
    plan = {
        1: [Injection(Event.EXIT, guard.id)],
        2: [Injection(Event.PANIC, tracker.id)],
        3: [Injection(Event.SMOKE, sensors[0].id)],
        4: [Injection(Event.DOOR_AFTER_HOURS, sensors[1].id)],
        5: [Injection(Event.MOTION_ARMED, sensors[2].id)],
        6: [Injection(Event.STATUS_OFFLINE, button.id)],
        7: [Injection(Event.BATTERY_LOW, tracker.id)],
        20: [Injection(Event.BATTERY_COLLAPSE, button.id)],
    }
    return Known(
        run,
        Tenant(id=tenant, name=tenant_name or f"vigil verify {run}"),
        site,
        guard,
        [tracker, button],
        sensors,
        plan,
    )


def simulation(scenario: Known, start: float, params: Params) -> Simulation:
    # Offline for 2 s: its "online" must not overtake its "offline" in vigil's parallel ingest.
    fast = replace(params, interval_s=INTERVAL_S, speed_mps=SPEED_MPS, offline_rounds=10)
    sim = Simulation(scenario.fleet, seed=SEED, start=start, params=fast, plan=scenario.plan)
    for device in sim.devices.values():
        device.battery = 90.0  # full: the low battery and the collapse are the plan's
    return sim


def rounds(scenario: Known, sim: Simulation) -> Iterator[Round]:
    """The scenario's rounds: until every planned event happened and all is quiet again."""
    last = max(scenario.plan)
    for batch in sim.rounds():
        yield batch
        walker = sim.walkers[scenario.guard.id]
        settled = walker.patrolling and not any(
            d.quiet(batch.t) or d.back_pending or d.heard_again_pending
            for d in sim.devices.values()
        )
        if (batch.index > last + 2 and settled) or batch.index >= MAX_ROUNDS:
            return


def _json(item: msgspec.Struct) -> dict[str, Any]:
    body: dict[str, Any] = msgspec.to_builtins(item)
    return body
