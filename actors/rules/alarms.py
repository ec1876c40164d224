"""A device's own alarm (panic button, SOS, man down, tamper) becomes an alert at once.

Not edge-triggered: every press counts (the router de-duplicates repeats by key).
"""

from __future__ import annotations

from core.alerts import Alert, AlertKind, make_alert
from core.records import DeviceEvent

KINDS = {
    "panic": AlertKind.PANIC,
    "sos": AlertKind.SOS,
    "man_down": AlertKind.MAN_DOWN,
    "mandown": AlertKind.MAN_DOWN,
    "tamper": AlertKind.TAMPER,
}


def evaluate(
    event: DeviceEvent,
    *,
    owner_id: str,
    site_id: str | None,
    last_position: tuple[float, float] | None,
) -> list[Alert]:
    """One alert for the alarm, placed where the device says or where its guard was last seen.

    `owner_id` is the guard carrying the device (the one the NOC must reach), or the
    device itself when nobody carries it.
    """
    kind = KINDS.get(event.type, AlertKind.DEVICE_ALARM)
    lat, lon = (event.lat, event.lon) if event.lat is not None else (last_position or (None, None))
    detail = f"{event.type} from {event.device_id}"
    return [
        make_alert(
            kind,
            entity_id=owner_id,
            client_id=event.client_id,
            site_id=site_id,
            ts=event.ts,
            lat=lat,
            lon=lon,
            scope=event.device_id if owner_id != event.device_id else "",
            detail=detail,
            device_id=event.device_id,
        )
    ]
