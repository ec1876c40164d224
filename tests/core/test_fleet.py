"""The fleet file: loading, errors that name the key, opening hours, routing keys.

Dates: 2025-11-01 is a Saturday, 2025-11-02 a Sunday, 2025-11-03 a Monday.
India (Asia/Kolkata) is UTC+05:30 all year.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.errors import ConfigError
from core.fleet import ALL_DAYS, Device, FleetIndex, Hours, load_fleet, parse_fleet

SAMPLE = Path("fleet/sample.yaml")
KOLKATA = ZoneInfo("Asia/Kolkata")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[77.0, 12.0], [77.1, 12.0], [77.1, 12.1], [77.0, 12.1], [77.0, 12.0]]],
}
MINIMAL: dict[str, Any] = {
    "tenants": [{"id": 1}],
    "sites": [{"id": "site-a", "client_id": 1, "zones": [{"id": "z", "geometry": SQUARE}]}],
    "guards": [{"id": "guard-1", "client_id": 1, "site_id": "site-a", "device_id": "dev-1"}],
    "devices": [{"id": "dev-1", "client_id": 1}],
    "sensors": [{"id": "door-1", "site_id": "site-a", "kind": "door"}],
}


def fleet_with(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(MINIMAL)
    raw.update(copy.deepcopy(changes))
    return raw


def config_error(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_fleet(raw)
    return str(caught.value)


def local(text: str) -> datetime:
    """An instant given as India wall-clock time, e.g. '2025-11-03 10:00'."""
    return datetime.fromisoformat(text).replace(tzinfo=KOLKATA)


# -- loading ----------------------------------------------------------------------------


def test_sample_fleet_loads_every_section() -> None:
    fleet = load_fleet(SAMPLE)
    assert [t.id for t in fleet.tenants] == [1, 2]
    assert [s.id for s in fleet.sites] == ["site-mg-road", "site-harbour-yard"]
    assert [g.id for g in fleet.guards] == ["guard-123", "guard-124", "guard-201"]
    assert len(fleet.devices) == 4
    assert len(fleet.sensors) == 5


def test_sample_fleet_reads_hours_zones_classes_and_armed_defaults() -> None:
    fleet = load_fleet(SAMPLE)
    mg_road = fleet.sites[0]
    assert mg_road.hours == Hours(open="08:00", close="20:00", days=ALL_DAYS[:6])
    assert mg_road.tz == KOLKATA
    assert [z.id for z in mg_road.zones] == ["mg-road-campus", "mg-road-gate"]
    assert mg_road.zones[1].radius_m == 40
    assert fleet.sites[1].hours == Hours()
    assert {d.id: d.device_class for d in fleet.devices}["button-mg-1"] == "panic_button"
    assert {s.id: s.armed for s in fleet.sensors}["smoke-mg-1"] == "after_hours"


def test_minimal_fleet_parses() -> None:
    fleet = parse_fleet(fleet_with())
    assert fleet.guards[0].device_id == "dev-1"


def test_missing_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml"):
        load_fleet(missing)


def test_malformed_yaml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("tenants: [\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml"):
        load_fleet(path)


def test_empty_file_is_an_empty_fleet(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_fleet(path).sites == []


# -- errors name the offending key ------------------------------------------------------


def test_guard_at_an_unknown_site_names_guards_index_site_id() -> None:
    raw = fleet_with(guards=[{"id": "guard-1", "client_id": 1, "site_id": "site-zz"}])
    message = config_error(raw)
    assert "guards[0].site_id" in message
    assert "'site-zz'" in message


def test_bad_zone_geometry_names_the_sites_zone_geometry() -> None:
    open_ring = {"type": "Polygon", "coordinates": [[[77.0, 12.0], [77.1, 12.0], [77.1, 12.1],
                                                     [77.0, 12.1]]]}  # fmt: skip
    raw = fleet_with()
    raw["sites"][0]["zones"] = [{"id": "z", "geometry": open_ring}]
    assert "sites[0].zones[0].geometry" in config_error(raw)


@pytest.mark.parametrize(
    ("zone", "problem"),
    [
        ({"id": "z", "geometry": {"type": "LineString", "coordinates": []}}, "'LineString'"),
        ({"id": "z", "geometry": {"type": "Point", "coordinates": [77.0, 12.0]}}, "radius_m"),
        ({"id": "z", "geometry": {"type": "Point", "coordinates": [12.0]}, "radius_m": 5}, "Point"),
        ({"id": "z", "geometry": {"type": "Polygon", "coordinates": []}}, "rings"),
        (
            {"id": "z", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}},
            "at least 4",
        ),
        (
            {"id": "z", "geometry": {"type": "Polygon",
                                     "coordinates": [[[0, 0], [0, 95], [1, 1], [0, 0]]]}},
            "at least 4",
        ),
    ],
)  # fmt: skip
def test_each_geometry_problem_is_named(zone: dict[str, Any], problem: str) -> None:
    raw = fleet_with()
    raw["sites"][0]["zones"] = [{"id": "ok", "geometry": SQUARE}, zone]
    message = config_error(raw)
    assert "sites[0].zones[1].geometry" in message
    assert problem in message


def test_site_of_an_unknown_tenant_names_sites_index_client_id() -> None:
    raw = fleet_with()
    raw["sites"][0]["client_id"] = 9
    message = config_error(raw)
    assert "sites[0].client_id" in message
    assert "unknown tenant 9" in message


def test_guard_of_another_tenant_than_its_site_names_the_guard() -> None:
    raw = fleet_with(tenants=[{"id": 1}, {"id": 2}])
    raw["guards"][0]["client_id"] = 2
    assert "guards[0].client_id" in config_error(raw)


def test_guard_carrying_an_unknown_device_names_guards_index_device_id() -> None:
    raw = fleet_with()
    raw["guards"][0]["device_id"] = "dev-zz"
    assert "guards[0].device_id: unknown device 'dev-zz'" in config_error(raw)


def test_guard_carrying_another_tenants_device_names_guards_index_device_id() -> None:
    raw = fleet_with(tenants=[{"id": 1}, {"id": 2}])
    raw["devices"][0]["client_id"] = 2
    assert "guards[0].device_id: device 'dev-1' belongs to another tenant" in config_error(raw)


def test_sensor_at_an_unknown_site_names_sensors_index_site_id() -> None:
    raw = fleet_with(sensors=[{"id": "s", "site_id": "nowhere", "kind": "smoke"}])
    assert "sensors[0].site_id" in config_error(raw)


@pytest.mark.parametrize("section", ["sites", "guards", "devices", "sensors"])
def test_duplicate_id_names_the_section_and_the_id(section: str) -> None:
    raw = fleet_with()
    raw[section].append(copy.deepcopy(raw[section][0]))
    message = config_error(raw)
    assert f"{section}: id {raw[section][0]['id']!r} appears twice" in message


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "", "../etc/passwd"])
def test_bad_timezone_names_sites_index_timezone(timezone: str) -> None:
    raw = fleet_with()
    raw["sites"][0]["timezone"] = timezone
    message = config_error(raw)
    assert "sites[0].timezone" in message


@pytest.mark.parametrize("bad", ["8h", "08:61", "x:00"])
def test_bad_opening_time_names_sites_index_hours(bad: str) -> None:
    raw = fleet_with()
    raw["sites"][0]["hours"] = {"open": bad}
    message = config_error(raw)
    assert "sites[0].hours" in message
    assert repr(bad) in message


def test_unknown_key_is_a_config_error_naming_the_key_and_where() -> None:
    raw = fleet_with()
    raw["sensors"][0]["colour"] = "red"
    message = config_error(raw)
    assert "colour" in message
    assert "$.sensors[0]" in message


def test_unknown_weekday_is_a_config_error_naming_the_field() -> None:
    raw = fleet_with()
    raw["sites"][0]["hours"] = {"days": ["mon", "funday"]}
    assert "$.sites[0].hours.days[1]" in config_error(raw)


def test_error_names_the_file_it_came_from(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("tenants: [{id: 1}]\nsites: [{id: s, client_id: 2}]\n")
    with pytest.raises(ConfigError, match=r"fleet\.yaml: sites\[0\]\.client_id"):
        load_fleet(path)


# -- opening hours ----------------------------------------------------------------------

OFFICE = Hours(open="08:00", close="20:00", days=ALL_DAYS[:6])  # MG Road: mon-sat


@pytest.mark.parametrize(
    ("when", "is_open"),
    [
        ("2025-11-03 07:59", False),
        ("2025-11-03 08:00", True),
        ("2025-11-03 12:00", True),
        ("2025-11-03 19:59", True),
        ("2025-11-03 20:00", False),
        ("2025-11-01 10:00", True),  # Saturday
        ("2025-11-02 10:00", False),  # Sunday: closed all day
    ],
)
def test_day_hours_open_at_open_and_close_at_close_on_open_days(when: str, is_open: bool) -> None:
    assert OFFICE.contains(local(when), KOLKATA) is is_open


def test_hours_are_judged_in_the_sites_time_zone_not_utc() -> None:
    # 03:00 UTC on a Monday is 08:30 in India (open), but 03:00 in UTC (closed).
    when = datetime(2025, 11, 3, 3, 0, tzinfo=UTC)
    assert OFFICE.contains(when, KOLKATA) is True
    assert OFFICE.contains(when, ZoneInfo("UTC")) is False


def test_the_local_date_decides_the_day_of_week() -> None:
    # Sunday 20:00 UTC is already Monday 01:30 in India; 19:00 UTC Saturday is Sunday 00:30.
    always = Hours(days=["mon"])
    assert always.contains(datetime(2025, 11, 2, 20, 0, tzinfo=UTC), KOLKATA) is True
    assert always.contains(datetime(2025, 11, 2, 18, 0, tzinfo=UTC), KOLKATA) is False


def test_default_hours_are_always_open() -> None:
    for when in ("2025-11-02 00:00", "2025-11-02 23:59", "2025-11-03 12:00"):
        assert Hours().contains(local(when), KOLKATA) is True


@pytest.mark.parametrize(
    ("when", "is_open"),
    [
        ("2025-11-03 19:59", False),
        ("2025-11-03 20:00", True),
        ("2025-11-03 23:59", True),
        ("2025-11-04 00:00", True),
        ("2025-11-04 05:59", True),
        ("2025-11-04 06:00", False),
        ("2025-11-04 12:00", False),
    ],
)
def test_overnight_shift_is_open_from_evening_until_morning(when: str, is_open: bool) -> None:
    night = Hours(open="20:00", close="06:00")
    assert night.contains(local(when), KOLKATA) is is_open


def test_overnight_shift_after_midnight_belongs_to_the_day_it_started() -> None:
    weeknights = Hours(open="22:00", close="06:00", days=WEEKDAYS)
    assert weeknights.contains(local("2025-11-07 23:00"), KOLKATA) is True  # Friday night
    # Early Saturday is still Friday's shift; early Monday follows a Sunday with no shift.
    assert weeknights.contains(local("2025-11-08 03:00"), KOLKATA) is True
    assert weeknights.contains(local("2025-11-03 03:00"), KOLKATA) is False


def test_closed_day_is_closed_at_every_hour() -> None:
    weekdays = Hours(open="00:00", close="24:00", days=WEEKDAYS)
    for hour in range(24):
        assert weekdays.contains(local(f"2025-11-01 {hour:02d}:30"), KOLKATA) is False
        assert weekdays.contains(local(f"2025-11-03 {hour:02d}:30"), KOLKATA) is True


# -- routing ----------------------------------------------------------------------------

INDEX = FleetIndex(load_fleet(SAMPLE))


def test_a_guard_and_the_device_it_carries_share_a_route_key() -> None:
    assert INDEX.route_key("guard", "guard-123") == INDEX.route_key("device", "dev-123")
    assert INDEX.route_key("guard", "guard-201") == INDEX.route_key("device", "dev-201")
    assert INDEX.route_key("guard", "guard-123") != INDEX.route_key("guard", "guard-124")


def test_sensors_of_one_site_share_a_route_key_and_other_sites_differ() -> None:
    keys = {INDEX.route_key("sensor", s) for s in ("smoke-mg-1", "door-mg-1", "motion-mg-1")}
    assert keys == {"site-mg-road"}
    assert INDEX.route_key("sensor", "smoke-yard-1") == "site-harbour-yard"


def test_an_uncarried_device_or_unknown_entity_routes_by_its_own_id() -> None:
    assert INDEX.route_key("device", "button-mg-1") == "button-mg-1"
    assert INDEX.route_key("sensor", "ghost") == "ghost"
    assert INDEX.route_key("device", "ghost") == "ghost"


def test_tenant_of_follows_the_fleet_and_is_none_for_strangers() -> None:
    assert INDEX.tenant_of("guard", "guard-201") == 2
    assert INDEX.tenant_of("device", "button-mg-1") == 1
    assert INDEX.tenant_of("sensor", "smoke-yard-1") == 2
    assert INDEX.tenant_of("guard", "guard-999") is None
    assert INDEX.tenant_of("device", "dev-999") is None
    assert INDEX.tenant_of("sensor", "smoke-999") is None


def test_a_carried_device_missing_from_devices_is_indexed_under_its_guards_tenant() -> None:
    raw = fleet_with(devices=[])
    index = FleetIndex(parse_fleet(raw))
    assert index.tenant_of("device", "dev-1") == 1
    assert index.route_key("device", "dev-1") == "guard-1"


def test_adding_appends_to_a_copy_and_leaves_the_fleet_as_it_was() -> None:
    fleet = load_fleet(SAMPLE)
    spare = Device(id="spare-1", client_id=1)
    grown = fleet.adding(devices=[spare])
    assert grown.devices == [*fleet.devices, spare] and spare not in fleet.devices
    assert grown.guards == fleet.guards
