"""Alert kinds, severities and the alert record, defined once."""

from __future__ import annotations

import hashlib
from enum import StrEnum

import msgspec


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class AlertKind(StrEnum):
    GEOFENCE_EXIT = "geofence_exit"
    GEOFENCE_ENTER = "geofence_enter"
    PANIC = "panic"
    SOS = "sos"
    MAN_DOWN = "man_down"
    TAMPER = "tamper"
    DEVICE_ALARM = "device_alarm"
    SMOKE = "smoke"
    DOOR_AFTER_HOURS = "door_after_hours"
    MOTION_ARMED = "motion_armed"
    LOW_BATTERY = "low_battery"
    WEAK_SIGNAL = "weak_signal"
    DEVICE_OFFLINE = "device_offline"
    DEVICE_ONLINE = "device_online"


SEVERITY: dict[AlertKind, Severity] = {
    AlertKind.GEOFENCE_EXIT: Severity.HIGH,
    AlertKind.GEOFENCE_ENTER: Severity.INFO,
    AlertKind.PANIC: Severity.CRITICAL,
    AlertKind.SOS: Severity.CRITICAL,
    AlertKind.MAN_DOWN: Severity.CRITICAL,
    AlertKind.TAMPER: Severity.HIGH,
    AlertKind.DEVICE_ALARM: Severity.HIGH,
    AlertKind.SMOKE: Severity.CRITICAL,
    AlertKind.DOOR_AFTER_HOURS: Severity.HIGH,
    AlertKind.MOTION_ARMED: Severity.HIGH,
    AlertKind.LOW_BATTERY: Severity.MEDIUM,
    AlertKind.WEAK_SIGNAL: Severity.LOW,
    AlertKind.DEVICE_OFFLINE: Severity.MEDIUM,
    AlertKind.DEVICE_ONLINE: Severity.INFO,
}


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    alert_id: str
    kind: str
    severity: str
    entity_id: str
    client_id: int
    site_id: str | None
    ts: int  # microseconds since the epoch, when the triggering event happened
    lat: float | None = None
    lon: float | None = None
    dedup_key: str
    status: str = "open"
    detail: str = ""


def make_alert(
    kind: AlertKind,
    *,
    entity_id: str,
    client_id: int,
    site_id: str | None,
    ts: int,
    lat: float | None = None,
    lon: float | None = None,
    scope: str = "",
    detail: str = "",
) -> Alert:
    """Build an alert whose id depends only on what triggered it.

    A message applied twice (a redelivery, a retried actor call) therefore raises
    the same alert_id, which the router and the lake de-duplicate.
    """
    dedup_key = f"{kind}:{entity_id}" + (f":{scope}" if scope else "")
    digest = hashlib.blake2b(f"{dedup_key}|{ts}".encode(), digest_size=10).hexdigest()
    return Alert(
        alert_id=digest,
        kind=str(kind),
        severity=str(SEVERITY[kind]),
        entity_id=entity_id,
        client_id=client_id,
        site_id=site_id,
        ts=ts,
        lat=lat,
        lon=lon,
        dedup_key=dedup_key,
        detail=detail,
    )
