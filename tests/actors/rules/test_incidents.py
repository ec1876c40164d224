"""Incident grouping: same tenant and site (or entity), within the window of the latest."""

from __future__ import annotations

from actors.rules import incidents
from core.alerts import AlertKind, make_alert

T0 = 1_790_000_000_000_000
S = 1_000_000
WINDOW = 600 * S


def alert(kind: AlertKind, entity: str = "guard-1", site: str | None = "site-a", client: int = 1):
    return make_alert(kind, entity_id=entity, client_id=client, site_id=site, ts=T0)


def test_the_first_alert_opens_an_incident_named_after_it() -> None:
    panic = alert(AlertKind.PANIC)
    opened = incidents.assign(None, panic, T0, WINDOW)
    assert opened is not None
    assert (opened.incident_id, opened.key, opened.alert_ids) == (
        f"inc-{panic.alert_id}",
        "site-a",
        (panic.alert_id,),
    )


def test_a_panic_and_a_geofence_exit_of_one_guard_share_an_incident() -> None:
    panic, exit_ = alert(AlertKind.PANIC), alert(AlertKind.GEOFENCE_EXIT)
    opened = incidents.assign(None, panic, T0, WINDOW)
    joined = incidents.assign(opened, exit_, T0 + 30 * S, WINDOW)
    assert joined is not None and opened is not None
    assert joined.incident_id == opened.incident_id
    assert joined.alert_ids == (panic.alert_id, exit_.alert_id)
    assert joined.last_at == T0 + 30 * S


def test_smoke_and_a_door_at_one_site_share_an_incident() -> None:
    smoke = alert(AlertKind.SMOKE, entity="smoke-1")
    door = alert(AlertKind.DOOR_AFTER_HOURS, entity="door-1")
    opened = incidents.assign(None, smoke, T0, WINDOW)
    assert incidents.incident_key(smoke) == incidents.incident_key(door) == (1, "site-a")
    joined = incidents.assign(opened, door, T0 + S, WINDOW)
    assert joined is not None and opened is not None
    assert joined.incident_id == opened.incident_id


def test_an_alert_after_the_window_opens_a_new_incident() -> None:
    opened = incidents.assign(None, alert(AlertKind.PANIC), T0, WINDOW)
    later = alert(AlertKind.GEOFENCE_EXIT)
    fresh = incidents.assign(opened, later, T0 + WINDOW + 1, WINDOW)
    assert fresh is not None and opened is not None
    assert fresh.incident_id == f"inc-{later.alert_id}" != opened.incident_id


def test_alerts_without_a_site_group_by_entity_and_tenants_never_mix() -> None:
    assert incidents.incident_key(alert(AlertKind.PANIC, "button-1", None)) == (1, "button-1")
    assert incidents.incident_key(alert(AlertKind.PANIC, client=2)) == (2, "site-a")


def test_low_and_info_alerts_never_start_or_join_an_incident() -> None:
    opened = incidents.assign(None, alert(AlertKind.PANIC), T0, WINDOW)
    for kind in (AlertKind.WEAK_SIGNAL, AlertKind.DEVICE_ONLINE, AlertKind.GEOFENCE_ENTER):
        assert incidents.incident_key(alert(kind)) is None
        assert incidents.assign(opened, alert(kind), T0 + S, WINDOW) is None
