"""A device's own alarm: one alert per press, about the guard carrying it, placed on a map."""

from __future__ import annotations

import pytest

from actors.rules.alarms import evaluate
from core.alerts import AlertKind
from core.records import DeviceEvent

TS = 1_761_991_200_000_000  # 2025-11-01T10:00:00Z
LAST_SEEN = (12.9716, 77.5946)  # guard-123's last fix, mid-campus
DEVICE_SAYS = (12.9699, 77.5946)  # the gate


def event(
    type_: str,
    ts: int = TS,
    lat: float | None = None,
    lon: float | None = None,
    device_id: str = "dev-123",
) -> DeviceEvent:
    return DeviceEvent(
        ts=ts,
        received_at=ts,
        msg_key=f"{device_id}@{ts}",
        device_id=device_id,
        client_id=1,
        type=type_,
        lat=lat,
        lon=lon,
    )


def carried(e: DeviceEvent, last_position: tuple[float, float] | None = LAST_SEEN) -> list:
    return evaluate(e, owner_id="guard-123", site_id="site-mg-road", last_position=last_position)


@pytest.mark.parametrize(
    ("type_", "kind"),
    [
        ("panic", AlertKind.PANIC),
        ("sos", AlertKind.SOS),
        ("man_down", AlertKind.MAN_DOWN),
        ("mandown", AlertKind.MAN_DOWN),
    ],
)
def test_panic_sos_and_man_down_raise_a_critical_alert_about_the_guard(
    type_: str, kind: AlertKind
) -> None:
    (alert,) = carried(event(type_))
    assert alert.kind == kind
    assert alert.severity == "critical"
    assert alert.entity_id == "guard-123"
    assert (alert.client_id, alert.site_id, alert.ts) == (1, "site-mg-road", TS)
    assert alert.detail == f"{type_} from dev-123"
    assert alert.status == "open"


def test_tamper_raises_a_high_alert() -> None:
    (alert,) = carried(event("tamper"))
    assert (alert.kind, alert.severity) == ("tamper", "high")


@pytest.mark.parametrize("type_", ["fall_detected", "low_temp", "PANIC_2"])
def test_unknown_alarm_type_becomes_a_device_alarm_naming_the_type(type_: str) -> None:
    (alert,) = carried(event(type_))
    assert (alert.kind, alert.severity) == ("device_alarm", "high")
    assert type_ in alert.detail


def test_alarm_is_placed_where_the_device_says() -> None:
    (alert,) = carried(event("panic", lat=DEVICE_SAYS[0], lon=DEVICE_SAYS[1]))
    assert (alert.lat, alert.lon) == DEVICE_SAYS


def test_alarm_without_a_position_is_placed_at_the_guards_last_fix() -> None:
    (alert,) = carried(event("sos"))
    assert (alert.lat, alert.lon) == LAST_SEEN


def test_alarm_with_no_position_anywhere_has_none() -> None:
    (alert,) = carried(event("man_down"), last_position=None)
    assert (alert.lat, alert.lon) == (None, None)


def test_an_uncarried_button_is_its_own_entity_without_a_scope() -> None:
    e = event("panic", device_id="button-mg-1")
    (alert,) = evaluate(e, owner_id="button-mg-1", site_id=None, last_position=None)
    assert alert.entity_id == "button-mg-1"
    assert alert.site_id is None
    assert alert.dedup_key == "panic:button-mg-1"


def test_carried_device_alarm_is_scoped_to_the_device() -> None:
    (alert,) = carried(event("panic"))
    assert alert.dedup_key == "panic:guard-123:dev-123"


def test_same_alarm_applied_twice_has_the_same_alert_id() -> None:
    (first,) = carried(event("panic"))
    (again,) = carried(event("panic"))
    assert first.alert_id == again.alert_id
    assert first == again


def test_every_press_is_a_new_alert() -> None:
    (first,) = carried(event("panic", ts=TS))
    (second,) = carried(event("panic", ts=TS + 1_000_000))
    assert first.alert_id != second.alert_id
    assert first.dedup_key == second.dedup_key


def test_different_alarms_at_the_same_moment_have_different_ids() -> None:
    ids = {carried(event(t))[0].alert_id for t in ("panic", "sos", "man_down", "tamper", "x")}
    assert len(ids) == 5
