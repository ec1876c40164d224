"""A simulated fleet: N guards, each with a tracker, spread over the sites of a base fleet."""

from __future__ import annotations

from core.fleet import Device, Fleet, Guard


def simulated_fleet(base: Fleet, guards: int, owntracks_every: int = 0) -> Fleet:
    """`base` plus `guards` guards named sim-guard-NNNN carrying devices sim-dev-NNNN;
    with `owntracks_every` N, every Nth device is an OwnTracks phone `sim/dev-NNNN`."""
    sites = [s for s in base.sites if any(z.geometry["type"] == "Polygon" for z in s.zones)]
    if guards and not sites:
        raise ValueError("the base fleet has no site with a Polygon zone to patrol")
    new_guards, new_devices = [], []
    for n in range(1, guards + 1):
        site = sites[n % len(sites)]
        new_guards.append(
            Guard(
                id=f"sim-guard-{n:04d}",
                client_id=site.client_id,
                site_id=site.id,
                name=f"Simulated guard {n}",
                device_id=f"sim-dev-{n:04d}",
            )
        )
        phone = f"sim/dev-{n:04d}" if owntracks_every and n % owntracks_every == 0 else None
        new_devices.append(Device(id=f"sim-dev-{n:04d}", client_id=site.client_id, owntracks=phone))
    return base.adding(guards=new_guards, devices=new_devices)
