"""Alert kinds, severities and the alert record, defined once."""

from __future__ import annotations

import hashlib
from enum import StrEnum

import msgspec

from core.errors import VigilError


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
    SMOKE_CLEAR = "smoke_clear"  # a smoke sensor back to normal after an alarm
    DOOR_AFTER_HOURS = "door_after_hours"
    MOTION_ARMED = "motion_armed"
    LOW_BATTERY = "low_battery"
    WEAK_SIGNAL = "weak_signal"
    DEVICE_OFFLINE = "device_offline"
    DEVICE_ONLINE = "device_online"
    ANOMALY = "anomaly"  # the live model scored a reading as anomalous (training/)
    SHIFT_STARTED = "shift_started"  # a guard's shift began (open while they are on duty)
    SHIFT_ENDED = "shift_ended"
    SHIFT_NO_SHOW = "shift_no_show"  # not heard from by the shift's start and its grace
    LONE_WORKER = (
        "lone_worker"  # on duty, still or silent for too long (actors/rules/loneworker.py)
    )
    LONE_WORKER_UNANSWERED = "lone_worker_unanswered"  # ... and not cleared in time: critical
    LONE_WORKER_CLEAR = "lone_worker_clear"  # the guard moved or checked in


#: An alert of a kind on the left says the condition of the kinds on the right ended (for
#: the same entity and scope: this guard back in this zone, this device heard again):
#: vigil resolves those open alerts, with the reason on their timelines.
ENDS: dict[AlertKind, tuple[AlertKind, ...]] = {
    AlertKind.GEOFENCE_ENTER: (AlertKind.GEOFENCE_EXIT,),
    AlertKind.DEVICE_ONLINE: (AlertKind.DEVICE_OFFLINE,),
    AlertKind.SMOKE_CLEAR: (AlertKind.SMOKE,),
    AlertKind.SHIFT_ENDED: (AlertKind.SHIFT_STARTED, AlertKind.SHIFT_NO_SHOW),
    AlertKind.LONE_WORKER_CLEAR: (AlertKind.LONE_WORKER, AlertKind.LONE_WORKER_UNANSWERED),
}

SEVERITY: dict[AlertKind, Severity] = {
    AlertKind.GEOFENCE_EXIT: Severity.HIGH,
    AlertKind.GEOFENCE_ENTER: Severity.INFO,
    AlertKind.PANIC: Severity.CRITICAL,
    AlertKind.SOS: Severity.CRITICAL,
    AlertKind.MAN_DOWN: Severity.CRITICAL,
    AlertKind.TAMPER: Severity.HIGH,
    AlertKind.DEVICE_ALARM: Severity.HIGH,
    AlertKind.SMOKE: Severity.CRITICAL,
    AlertKind.SMOKE_CLEAR: Severity.INFO,
    AlertKind.DOOR_AFTER_HOURS: Severity.HIGH,
    AlertKind.MOTION_ARMED: Severity.HIGH,
    AlertKind.LOW_BATTERY: Severity.MEDIUM,
    AlertKind.WEAK_SIGNAL: Severity.LOW,
    AlertKind.DEVICE_OFFLINE: Severity.MEDIUM,
    AlertKind.DEVICE_ONLINE: Severity.INFO,
    AlertKind.ANOMALY: Severity.MEDIUM,
    AlertKind.SHIFT_STARTED: Severity.INFO,
    AlertKind.SHIFT_ENDED: Severity.INFO,
    AlertKind.SHIFT_NO_SHOW: Severity.HIGH,
    AlertKind.LONE_WORKER: Severity.HIGH,
    AlertKind.LONE_WORKER_UNANSWERED: Severity.CRITICAL,
    AlertKind.LONE_WORKER_CLEAR: Severity.INFO,
}


#: Alarm kinds a device raises itself; acknowledging one tells the device (downlink).
DEVICE_ALARMS = frozenset({AlertKind.PANIC, AlertKind.SOS, AlertKind.MAN_DOWN})


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    alert_id: str
    kind: AlertKind
    severity: Severity
    entity_id: str
    client_id: int
    site_id: str | None
    ts: int  # microseconds since the epoch, when the triggering event happened
    lat: float | None = None
    lon: float | None = None
    dedup_key: str
    status: AlertStatus = AlertStatus.OPEN
    detail: str = ""
    #: The device the alert comes from (its own alarm, its health), else "": a carried
    #: device's alarm is raised on its guard, so `entity_id` does not say which device.
    device_id: str = ""


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
    device_id: str = "",
) -> Alert:
    """Build an alert whose id depends only on what triggered it.

    A message applied twice (a redelivery, a retried actor call) therefore raises
    the same alert_id, which the router and the lake de-duplicate.
    """
    dedup_key = f"{kind}:{entity_id}" + (f":{scope}" if scope else "")
    digest = hashlib.blake2b(f"{dedup_key}|{ts}".encode(), digest_size=10).hexdigest()
    return Alert(
        alert_id=digest,
        kind=kind,
        severity=SEVERITY[kind],
        entity_id=entity_id,
        client_id=client_id,
        site_id=site_id,
        ts=ts,
        lat=lat,
        lon=lon,
        dedup_key=dedup_key,
        detail=detail,
        device_id=device_id,
    )


def alarm_device(alert: Alert) -> str | None:
    """The device whose own alarm raised `alert` (see actors/rules/alarms.py), or None."""
    if alert.kind not in DEVICE_ALARMS or not alert.device_id:
        return None
    return alert.device_id


class LifecycleError(VigilError):
    """A lifecycle step that is not allowed (unknown alert, wrong state); says which."""

    http_status = 409
    field = "status"


class EventType(StrEnum):
    """What can happen to an alert; each is one `alert_events` row and one Hub message."""

    RAISED = "raised"  # first occurrence; `incident_id` says which incident it joined
    REPEATED = "repeated"  # same dedup key again within the window; `count` is the new count
    ASSIGNED = "assigned"  # `ref` is the operator it is assigned to
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    ESCALATED = "escalated"  # `tier` is the tier now notified
    COMMAND_SENT = "command_sent"  # downlink to the device; `ref` is the cmd_id
    COMMAND_ACKED = "command_acked"  # the device's reply; `ref` cmd_id, `note` its status


class AlertEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One step of an alert's life: a row of `alert_events` (columns are the fields)."""

    alert_id: str
    event_id: str
    client_id: int
    type: EventType
    ts: int  # microseconds since the epoch, vigil's clock when it happened
    who: str = ""  # operator, "vigil" or the device
    note: str = ""
    incident_id: str = ""
    count: int = 1
    tier: int = 1
    ref: str = ""  # the triggering alert id (raised, repeated), assignee or cmd_id


def make_event(
    type: EventType, alert_id: str, client_id: int, ts: int, **fields: str | int
) -> AlertEvent:
    """An event whose id depends on what it records, so a retried write is de-duplicated."""
    key = f"{alert_id}|{type}|{fields.get('ref', '')}|{fields.get('tier', 1)}|{ts}"
    event_id = hashlib.blake2b(key.encode(), digest_size=10).hexdigest()
    return AlertEvent(
        alert_id=alert_id,
        event_id=event_id,
        client_id=client_id,
        type=type,
        ts=ts,
        **fields,  # type: ignore[arg-type]
    )


class Outcome(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"  # this attempt failed; another follows after a back-off
    DEAD_LETTERED = "dead_lettered"  # the last attempt failed (or the queue was full)


class NotificationAttempt(msgspec.Struct, frozen=True, kw_only=True):
    """One delivery attempt: a row of `notifications` (a receipt)."""

    alert_id: str
    attempt_id: str
    client_id: int
    tier: int
    channel: str
    recipient: str  # the person notified, or the channel for alert-wide channels (webhooks)
    attempt: int  # 1, 2, ...
    outcome: Outcome
    error: str
    latency_ms: float  # how long this attempt took
    delay_ms: float  # from the alert reaching the router to the end of this attempt
    ts: int  # microseconds since the epoch, when the attempt ended


def attempt_id(alert_id: str, tier: int, channel: str, recipient: str, attempt: int) -> str:
    key = f"{alert_id}|{tier}|{channel}|{recipient}|{attempt}"
    return hashlib.blake2b(key.encode(), digest_size=10).hexdigest()
