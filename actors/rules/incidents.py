"""Related alerts become one incident: same tenant, same site (or the same entity when
it has no site), arriving within a window of the incident's latest alert.

A panic and the geofence exit of the same guard, or smoke and a door at one site,
then read as one story with a timeline. Low and info alerts (weak signal, a device
back online) never start or join an incident: they are noise next to an emergency.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.alerts import Alert, Severity

GROUPED = frozenset({Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM})


@dataclass(frozen=True, slots=True)
class Incident:
    incident_id: str
    client_id: int
    key: str  # the site, or the entity when the alert has no site
    opened_at: int  # µs, vigil's clock
    last_at: int  # µs, when its latest alert arrived
    alert_ids: tuple[str, ...]


def incident_key(alert: Alert) -> tuple[int, str] | None:
    """What related alerts share, or None for alerts that are never grouped."""
    if alert.severity not in GROUPED:
        return None
    return alert.client_id, alert.site_id or alert.entity_id


def assign(current: Incident | None, alert: Alert, now: int, window_us: int) -> Incident | None:
    """The incident `alert` (arriving at `now`) belongs to: `current` (the latest incident
    of its key) extended, or a new one; None when the alert is not grouped."""
    key = incident_key(alert)
    if key is None:
        return None
    if current is not None and now - current.last_at <= window_us:
        return replace(current, last_at=now, alert_ids=(*current.alert_ids, alert.alert_id))
    return Incident(
        incident_id=f"inc-{alert.alert_id}",
        client_id=alert.client_id,
        key=key[1],
        opened_at=now,
        last_at=now,
        alert_ids=(alert.alert_id,),
    )
