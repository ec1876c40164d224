"""The fleet the integration tests run against: the sample fleet plus load-test entities."""

from __future__ import annotations

from core.fleet import Device, Fleet, Sensor
from simulator.fleet import simulated_fleet

LOAD_GUARDS = 60


def integration_fleet(base: Fleet) -> Fleet:
    """Sample fleet + sim-guard-0001..0060 (with sim-dev-*) + one spare device and sensors."""
    fleet = simulated_fleet(base, LOAD_GUARDS)
    extra_sensors = [
        Sensor(id=f"load-smoke-{n}", site_id="site-mg-road", kind="smoke") for n in range(4)
    ]
    spare = Device(id="button-spare", client_id=1, device_class="panic_button")
    return fleet.adding(devices=[spare], sensors=extra_sensors)
