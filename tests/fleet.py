"""The fleet the integration tests run against: the sample fleet plus load-test entities."""

from __future__ import annotations

from core.fleet import Device, Fleet, Guard, Sensor
from simulator.fleet import simulated_fleet

LOAD_GUARDS = 60
#: Device class of the recovery and poison tests' devices: offline after 3 s of silence
#: (the session's settings give it that timeout, tests/conftest.py).
SHORT = "short"
RECOVERY_GUARDS = [f"rec-guard-{n}" for n in range(1, 7)]
#: The trackers tests' phones (tests/integration/test_trackers.py), at site-mg-road: two
#: OwnTracks phones (device -> its user/device), three Traccar Client ones.
OWNTRACKS_PHONES = {"ot-phone-1": "alice/phone1", "ot-phone-2": "bob/phone2"}
OSMAND_PHONES = [f"tc-phone-{n}" for n in range(1, 4)]


def integration_fleet(base: Fleet) -> Fleet:
    """Sample fleet + sim-guard-0001..0060 (with sim-dev-*) + one spare device and sensors."""
    fleet = simulated_fleet(base, LOAD_GUARDS)
    extra_sensors = [
        Sensor(id=f"load-smoke-{n}", site_id="site-mg-road", kind="smoke") for n in range(4)
    ]
    spare = Device(id="button-spare", client_id=1, device_class="panic_button")
    guards = [
        Guard(
            id=g, client_id=1, site_id="site-mg-road", name=g, device_id=g.replace("guard", "dev")
        )
        for g in [*RECOVERY_GUARDS, "poison-guard"]
    ]
    devices = [Device(id=g.device_id or "", client_id=1, device_class=SHORT) for g in guards]
    phones = [*OWNTRACKS_PHONES, *OSMAND_PHONES]
    guards += [
        Guard(id=p.replace("phone", "guard"), client_id=1, site_id="site-mg-road", device_id=p)
        for p in phones
    ]
    devices += [Device(id=p, client_id=1, owntracks=OWNTRACKS_PHONES.get(p)) for p in phones]
    sensors = [
        Sensor(id=f"rec-smoke-{n}", site_id="site-harbour-yard", kind="smoke", armed="always")
        for n in range(1, 3)
    ] + [Sensor(id="poison-smoke", site_id="site-harbour-yard", kind="smoke")]
    # The smoke alarm that clears itself (tests/integration/test_alerts.py).
    sensors += [Sensor(id="clear-smoke", site_id="site-mg-road", kind="smoke", armed="always")]
    return fleet.adding(
        guards=guards, devices=[spare, *devices], sensors=[*extra_sensors, *sensors]
    )
