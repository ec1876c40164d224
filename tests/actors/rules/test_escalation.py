"""Escalation: due tiers of unacknowledged critical alerts, and who is on call when."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec

from actors.rules import escalation, lifecycle
from core.alerts import AlertKind, AlertStatus, EventType, make_alert, make_event
from core.fleet import Hours, OnCall, Site, Tenant, Tier

T0 = 1_790_000_000_000_000
S = 1_000_000
KOLKATA = ZoneInfo("Asia/Kolkata")
TENANT = Tenant(
    id=1,
    escalation=[Tier(after_s=60, notify=["sup-1"]), Tier(after_s=300, notify=["mgr-1", "on_call"])],
    on_call=["noc-desk"],
)
SITE = Site(
    id="site-a",
    client_id=1,
    timezone="Asia/Kolkata",
    roster=[
        OnCall(on_call=["op-day"], hours=Hours(open="08:00", close="20:00")),
        OnCall(on_call=["op-night"], hours=Hours(open="20:00", close="08:00")),
        OnCall(on_call=["op-weekend"], hours=Hours(days=["sat", "sun"])),
    ],
)


def state(kind: AlertKind = AlertKind.PANIC):
    alert = make_alert(kind, entity_id="guard-1", client_id=1, site_id="site-a", ts=T0)
    return lifecycle.start(alert, make_event(EventType.RAISED, alert.alert_id, 1, T0))


def test_tier_two_is_due_once_the_alert_is_old_enough_and_tier_three_after() -> None:
    assert escalation.due_tier(state(), TENANT, T0 + 59 * S) is None
    assert escalation.due_tier(state(), TENANT, T0 + 60 * S) == 2
    at_two = replace(state(), tier=2)
    assert escalation.due_tier(at_two, TENANT, T0 + 299 * S) is None
    assert escalation.due_tier(at_two, TENANT, T0 + 300 * S) == 3
    assert escalation.due_tier(replace(state(), tier=3), TENANT, T0 + 9999 * S) is None


def test_a_late_check_fires_one_tier_at_a_time() -> None:
    assert escalation.due_tier(state(), TENANT, T0 + 1000 * S) == 2


def test_acknowledged_resolved_or_non_critical_alerts_never_escalate() -> None:
    for status in (AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED):
        assert escalation.due_tier(replace(state(), status=status), TENANT, T0 + 999 * S) is None
    exit_ = state(AlertKind.GEOFENCE_EXIT)
    assert escalation.due_tier(exit_, TENANT, T0 + 999 * S) is None


def test_a_tenant_without_a_chain_never_escalates() -> None:
    assert escalation.due_tier(state(), Tenant(id=1), T0 + 999 * S) is None


def test_on_call_follows_the_site_roster_in_the_site_time_zone() -> None:
    monday_day = datetime(2025, 11, 3, 10, 0, tzinfo=KOLKATA)
    monday_night = datetime(2025, 11, 3, 23, 0, tzinfo=KOLKATA)
    tuesday_early = datetime(2025, 11, 4, 2, 0, tzinfo=KOLKATA)  # the night shift goes on
    saturday = datetime(2025, 11, 1, 10, 0, tzinfo=KOLKATA)
    assert escalation.on_call(SITE, TENANT, monday_day) == ["op-day"]
    assert escalation.on_call(SITE, TENANT, monday_night) == ["op-night"]
    assert escalation.on_call(SITE, TENANT, tuesday_early) == ["op-night"]
    assert escalation.on_call(SITE, TENANT, saturday) == ["op-day", "op-weekend"]


def test_without_a_covering_shift_the_tenant_default_is_on_call() -> None:
    nobody = msgspec.structs.replace(
        SITE, roster=[OnCall(on_call=["op-day"], hours=Hours(days=["mon"]))]
    )
    sunday = datetime(2025, 11, 2, 10, 0, tzinfo=KOLKATA)
    assert escalation.on_call(nobody, TENANT, sunday) == ["noc-desk"]
    assert escalation.on_call(None, TENANT, sunday) == ["noc-desk"]


def test_tier_people_expand_on_call_without_duplicates() -> None:
    monday_day = datetime(2025, 11, 3, 10, 0, tzinfo=KOLKATA)
    assert escalation.tier_people(1, SITE, TENANT, monday_day) == ["op-day"]
    assert escalation.tier_people(2, SITE, TENANT, monday_day) == ["sup-1"]
    assert escalation.tier_people(3, SITE, TENANT, monday_day) == ["mgr-1", "op-day"]
