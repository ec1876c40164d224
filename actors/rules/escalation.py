"""Who is notified about an alert, and when the next escalation tier is due.

Tier 1 is the site's on-call roster (who is on shift now), notified when the alert
is raised. Tiers 2, 3, ... are the tenant's escalation chain: each is notified once
a critical alert has stayed unacknowledged for its `after_s`. Acknowledging (or
resolving) stops the chain.
"""

from __future__ import annotations

from datetime import datetime

from actors.rules.lifecycle import AlertState
from core.alerts import AlertStatus, Severity
from core.fleet import ON_CALL, Site, Tenant

ESCALATING = frozenset({Severity.CRITICAL})


def due_tier(state: AlertState, tenant: Tenant, now: int) -> int | None:
    """The next tier to notify at `now` (µs), or None. One tier at a time: a late
    check fires tier 2 now and tier 3 on the next check, never skipping one."""
    if state.status != AlertStatus.OPEN or state.alert.severity not in ESCALATING:
        return None
    following = state.tier + 1
    if following - 2 >= len(tenant.escalation):
        return None
    delay_us = int(tenant.escalation[following - 2].after_s * 1_000_000)
    return following if now - state.raised_at >= delay_us else None


def on_call(site: Site | None, tenant: Tenant, when: datetime) -> list[str]:
    """Who is on shift at `site` at `when` (every shift covering it), else the tenant's
    default on-call list."""
    people: list[str] = []
    if site is not None:
        for shift in site.roster:
            if shift.hours.contains(when, site.tz):
                people.extend(p for p in shift.on_call if p not in people)
    return people or list(tenant.on_call)


def tier_people(tier: int, site: Site | None, tenant: Tenant, when: datetime) -> list[str]:
    """The people of `tier` (1: on call; n: the chain's tier n), `on_call` expanded."""
    if tier == 1:
        return on_call(site, tenant, when)
    people: list[str] = []
    for person in tenant.escalation[tier - 2].notify:
        expanded = on_call(site, tenant, when) if person == ON_CALL else [person]
        people.extend(p for p in expanded if p not in people)
    return people
