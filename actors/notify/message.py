"""What the router hands the notifier, and the message formatted once from it.

Every channel gets the same title and body (Traccar's rule: format once, before any
channel sees the message); channels only deliver.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from core.alerts import Alert, Severity
from core.fleet import FleetIndex


class Dispatch(msgspec.Struct, frozen=True, kw_only=True):
    """Notify `people` (tier `tier` of the alert's chain) about `alert`."""

    alert: Alert
    tier: int
    people: tuple[str, ...]
    raised_at: int  # µs, when the alert reached the router (receipts' delay counts from it)
    count: int = 1
    incident_id: str = ""


#: apprise's notify types (info, success, warning, failure) by severity.
NOTIFY_TYPE = {Severity.CRITICAL: "failure", Severity.HIGH: "warning"}


def compose(dispatch: Dispatch, fleet: FleetIndex) -> tuple[str, str]:
    """(title, body) of the notification."""
    alert = dispatch.alert
    who = fleet.people.get(alert.entity_id)
    name = f"{alert.entity_id} ({who.name})" if who is not None and who.name else alert.entity_id
    site = fleet.sites.get(alert.site_id or "")
    where = (site.name or site.id) if site is not None else "no site"
    kind = alert.kind.replace("_", " ")
    title = f"[{alert.severity.upper()}] {kind}: {name}, {where}"
    if dispatch.tier > 1:
        title = f"ESCALATED (tier {dispatch.tier}, not acknowledged) {title}"
    when = datetime.fromtimestamp(alert.ts / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [f"{kind} raised by {name} at {where}", f"when: {when}"]
    if alert.lat is not None and alert.lon is not None:
        lines.append(f"where: {alert.lat:.6f}, {alert.lon:.6f}")
    if dispatch.count > 1:
        lines.append(f"repeated {dispatch.count} times")
    if alert.detail:
        lines.append(f"detail: {alert.detail}")
    lines.append(f"alert: {alert.alert_id}")
    if dispatch.incident_id:
        lines.append(f"incident: {dispatch.incident_id}")
    return title, "\n".join(lines)
