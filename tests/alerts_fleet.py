"""A tenant for the alert tests, whose channels point at the test's own SMTP and HTTP servers.

Tenant 9 has one site (site-alerts, UTC, open all day) with a roster putting op-9 on
call around the clock, a tier 2 (sup-9) after ESCALATE_AFTER_S, and guards ag-1..ag-14
carrying devices ad-1..ad-14: each test uses its own guard.
"""

from __future__ import annotations

from core.fleet import (
    Channel,
    Contact,
    Device,
    Fleet,
    Guard,
    OnCall,
    Site,
    Tenant,
    Tier,
    Zone,
    check_fleet,
)

TENANT = 9
SITE = "site-alerts"
ESCALATE_AFTER_S = 2.0
OPERATOR = Contact(
    id="op-9", name="Olga", email="op9@test.example", phone="+15555550109", push="op9"
)
SUPERVISOR = Contact(id="sup-9", name="Sam", email="sup9@test.example")
#: The site's zone: a square of about 1.1 km around (12.005, 77.005).
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[77.0, 12.0], [77.01, 12.0], [77.01, 12.01], [77.0, 12.01], [77.0, 12.0]]],
}


def channels(smtp_port: int, http_port: int) -> list[Channel]:
    return [
        Channel(
            id="email",
            url=f"mailto://127.0.0.1:{smtp_port}?from=vigil@test.example&to={{email}}&mode=insecure",
        ),
        Channel(id="noc-webhook", url=f"json://127.0.0.1:{http_port}/hooks/noc"),
        Channel(
            id="sms",
            url=f"smseagle://token@127.0.0.1:{http_port}/{{phone}}",
            severities=["critical"],
        ),
        Channel(id="push", url=f"ntfy://127.0.0.1:{http_port}/{{push}}"),
    ]


def alerts_fleet(base: Fleet, smtp_port: int, http_port: int) -> Fleet:
    tenant = Tenant(
        id=TENANT,
        name="Alert tests",
        channels=channels(smtp_port, http_port),
        escalation=[Tier(after_s=ESCALATE_AFTER_S, notify=[SUPERVISOR.id])],
        on_call=[SUPERVISOR.id],
    )
    site = Site(
        id=SITE,
        client_id=TENANT,
        name="Alert test site",
        zones=[Zone(id="alerts-square", geometry=SQUARE)],
        roster=[OnCall(on_call=[OPERATOR.id])],
    )
    guards = [
        Guard(id=f"ag-{n}", client_id=TENANT, site_id=SITE, name=f"Guard {n}", device_id=f"ad-{n}")
        for n in range(1, 15)
    ]
    devices = [Device(id=f"ad-{n}", client_id=TENANT) for n in range(1, 15)]
    fleet = base.adding(
        tenants=[tenant],
        sites=[site],
        guards=guards,
        devices=devices,
        contacts=[OPERATOR, SUPERVISOR],
    )
    check_fleet(fleet, "alerts_fleet")
    return fleet
