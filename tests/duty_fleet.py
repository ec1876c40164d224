"""A night-shift site for the duty, shift and lone-worker tests (no Ray): literal times."""

from __future__ import annotations

from datetime import UTC, datetime

from core.fleet import (
    Device,
    Fleet,
    FleetIndex,
    Guard,
    Hours,
    LoneWorker,
    Shift,
    Site,
    Tenant,
    Zone,
)

S = 1_000_000
MINUTE = 60 * S
#: The night shift of Wednesday 2026-12-02: 22:00 in Bengaluru (UTC+05:30) is 16:30 UTC.
START = int(datetime(2026, 12, 2, 16, 30, tzinfo=UTC).timestamp() * S)
END = START + 8 * 60 * MINUTE
YARD = (12.9716, 77.5946)  # the middle of the yard zone
WATCH = LoneWorker(still_after_s=600, moved_m=25, escalate_after_s=300)
NIGHT = Shift(
    id="night",
    guards=["g-1"],
    hours=Hours(open="22:00", close="06:00"),
    no_show_after_s=600,
    lone_worker=WATCH,
)
YARD_ZONE = Zone(
    id="yard",
    name="Yard",
    geometry={
        "type": "Polygon",
        "coordinates": [[[77.5926, 12.9696], [77.5966, 12.9696], [77.5966, 12.9736],
                         [77.5926, 12.9736], [77.5926, 12.9696]]],
    },
)  # fmt: skip


def duty_fleet(store_off_duty: bool = False, shifts: list[Shift] | None = None) -> FleetIndex:
    site = Site(
        id="site-night",
        client_id=1,
        timezone="Asia/Kolkata",
        zones=[YARD_ZONE],
        shifts=[NIGHT] if shifts is None else shifts,
    )
    return FleetIndex(
        Fleet(
            tenants=[Tenant(id=1, store_off_duty=store_off_duty)],
            sites=[site, Site(id="site-open", client_id=1, zones=[YARD_ZONE])],
            guards=[
                Guard(id="g-1", client_id=1, site_id="site-night", device_id="d-1"),
                Guard(id="g-2", client_id=1, site_id="site-night", device_id="d-2"),
                Guard(id="g-3", client_id=1, site_id="site-open", device_id="d-3"),
            ],
            devices=[Device(id=d, client_id=1) for d in ("d-1", "d-2", "d-3")],
        )
    )
