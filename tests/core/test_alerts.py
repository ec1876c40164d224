"""Alerts carry their kind, severity and status as the StrEnums, and a device alarm its device."""

from __future__ import annotations

import msgspec

from actors.rules.alarms import evaluate
from actors.rules.health import HealthState, Who, on_status
from core.alerts import (
    DEVICE_ALARMS,
    SEVERITY,
    Alert,
    AlertKind,
    AlertStatus,
    Severity,
    alarm_device,
    make_alert,
)
from core.records import DeviceEvent

TS = 1_761_991_200_000_000  # 2025-11-01T10:00:00Z


def press(type_: str, device_id: str = "dev-123") -> DeviceEvent:
    return DeviceEvent(
        ts=TS, received_at=TS, msg_key=f"{device_id}@{TS}", device_id=device_id, client_id=1,
        type=type_,
    )  # fmt: skip


def test_every_kind_has_a_severity() -> None:
    assert set(SEVERITY) == set(AlertKind)


def test_a_made_alert_holds_the_enums_and_starts_open() -> None:
    alert = make_alert(AlertKind.SMOKE, entity_id="smoke-1", client_id=1, site_id="s", ts=TS)
    assert type(alert.kind) is AlertKind and alert.kind is AlertKind.SMOKE
    assert type(alert.severity) is Severity and alert.severity is Severity.CRITICAL
    assert alert.status is AlertStatus.OPEN
    assert alert.device_id == ""


def test_an_alert_reads_back_from_its_wire_form_as_the_enums() -> None:
    alert = make_alert(AlertKind.PANIC, entity_id="guard-1", client_id=1, site_id=None, ts=TS)
    wire = msgspec.json.encode(alert)
    assert b'"kind":"panic"' in wire and b'"severity":"critical"' in wire
    back = msgspec.json.decode(wire, type=Alert)
    assert back == alert and back.kind is AlertKind.PANIC and back.status is AlertStatus.OPEN


def test_a_carried_devices_alarm_is_on_its_guard_and_names_the_device() -> None:
    (alert,) = evaluate(press("panic"), owner_id="guard-123", site_id="site-1", last_position=None)
    assert alert.entity_id == "guard-123" and alert.device_id == "dev-123"
    assert alarm_device(alert) == "dev-123"


def test_an_uncarried_devices_alarm_is_on_the_device_itself() -> None:
    (alert,) = evaluate(press("sos", "dev-9"), owner_id="dev-9", site_id=None, last_position=None)
    assert alert.entity_id == "dev-9" and alarm_device(alert) == "dev-9"


def test_the_device_does_not_come_from_the_dedup_key() -> None:
    """An entity id holding a colon, which splitting the dedup key on ':' got wrong."""
    (alert,) = evaluate(
        press("panic", "dev:7"), owner_id="guard:1", site_id=None, last_position=None
    )
    assert alarm_device(alert) == "dev:7"


def test_only_alarms_a_device_answers_have_an_alarm_device() -> None:
    (tamper,) = evaluate(press("tamper"), owner_id="guard-123", site_id=None, last_position=None)
    assert tamper.kind not in DEVICE_ALARMS and tamper.device_id == "dev-123"
    assert alarm_device(tamper) is None
    smoke = make_alert(AlertKind.SMOKE, entity_id="smoke-1", client_id=1, site_id="s", ts=TS)
    assert alarm_device(smoke) is None


def test_a_health_alert_names_its_device() -> None:
    _, (offline,) = on_status(HealthState(online=True), Who("dev-5", 1, "s"), TS, online=False)
    assert offline.kind is AlertKind.DEVICE_OFFLINE and offline.device_id == "dev-5"
