"""The fleet file's notification sections: channels, rosters, escalation; errors name the key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from core.fleet import FleetIndex, load_fleet, parse_fleet

MINIMAL: dict[str, Any] = {
    "tenants": [
        {
            "id": 1,
            "channels": [
                {"id": "email", "url": "mailto://smtp.example.com?to={email}"},
                {"id": "hook", "url": "json://hooks.example.com/vigil", "severities": ["critical"]},
            ],
            "escalation": [{"after_s": 60, "notify": ["sup-1"]}],
            "on_call": ["sup-1"],
        }
    ],
    "sites": [{"id": "site-a", "client_id": 1, "roster": [{"on_call": ["guard-1", "op-1"]}]}],
    "guards": [{"id": "guard-1", "client_id": 1, "site_id": "site-a", "email": "g1@example.com"}],
    "contacts": [{"id": "op-1", "email": "op1@example.com"}, {"id": "sup-1", "phone": "+1555"}],
}


def fleet_with(path: list[Any], value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(MINIMAL)
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return raw


def config_error(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_fleet(raw)
    return str(caught.value)


def test_a_complete_notification_setup_loads_and_indexes_people() -> None:
    fleet = parse_fleet(MINIMAL)
    index = FleetIndex(fleet)
    assert set(index.people) == {"guard-1", "op-1", "sup-1"}
    assert index.tenants[1].channels[0].placeholders == {"email"}
    assert index.tenants[1].channels[1].placeholders == set()
    assert index.tenants[1].channels[0].severities == ["critical", "high"]


def test_the_sample_fleet_shows_contacts_rosters_and_escalation() -> None:
    fleet = load_fleet(Path("fleet/sample.yaml"))
    assert fleet.contacts and fleet.tenants[0].escalation and fleet.sites[0].roster


def test_a_roster_naming_an_unknown_guard_names_the_key() -> None:
    raw = fleet_with(["sites", 0, "roster", 0, "on_call"], ["guard-1", "guard-9"])
    assert "sites[0].roster[0].on_call[1]: unknown guard or contact 'guard-9'" in config_error(raw)


def test_an_escalation_tier_naming_an_unknown_person_names_the_key() -> None:
    raw = fleet_with(["tenants", 0, "escalation"], [{"after_s": 60, "notify": ["nobody"]}])
    assert "tenants[0].escalation[0].notify[0]: unknown guard or contact" in config_error(raw)


def test_on_call_is_allowed_in_escalation_but_not_as_the_default() -> None:
    parse_fleet(fleet_with(["tenants", 0, "escalation"], [{"after_s": 9, "notify": ["on_call"]}]))
    assert "tenants[0].on_call[0]" in config_error(
        fleet_with(["tenants", 0, "on_call"], ["on_call"])
    )


def test_escalation_tiers_must_come_later_and_later() -> None:
    tiers = [{"after_s": 60, "notify": ["sup-1"]}, {"after_s": 30, "notify": ["op-1"]}]
    assert "tenants[0].escalation[1].after_s" in config_error(
        fleet_with(["tenants", 0, "escalation"], tiers)
    )


def test_an_unknown_url_placeholder_names_the_key() -> None:
    channel = {"id": "sms", "url": "smseagle://t@gw/{mobile}"}
    message = config_error(fleet_with(["tenants", 0, "channels", 1], channel))
    assert "tenants[0].channels[1].url: unknown placeholder {mobile}" in message


def test_an_unknown_severity_names_the_key() -> None:
    channel = {"id": "hook", "url": "json://h/x", "severities": ["urgent"]}
    assert "channels[1].severities[0]" in config_error(
        fleet_with(["tenants", 0, "channels", 1], channel)
    )


def test_a_guard_of_another_tenant_cannot_be_on_call() -> None:
    raw = fleet_with(["tenants"], [*MINIMAL["tenants"], {"id": 2}])
    raw["sites"].append({"id": "site-b", "client_id": 2, "roster": [{"on_call": ["guard-1"]}]})
    assert "sites[1].roster[0].on_call[0]: guard 'guard-1' works for another tenant" in (
        config_error(raw)
    )


def test_contact_ids_are_unique_and_distinct_from_guards() -> None:
    assert "contacts: id 'op-1' appears twice" in config_error(
        fleet_with(["contacts"], [{"id": "op-1"}, {"id": "op-1"}, {"id": "sup-1"}])
    )
    assert "contacts[2].id: 'guard-1' is also a guard" in config_error(
        fleet_with(["contacts"], [{"id": "op-1"}, {"id": "sup-1"}, {"id": "guard-1"}])
    )


def test_a_bad_shift_time_names_the_key() -> None:
    shift = {"on_call": ["op-1"], "hours": {"open": "8h", "close": "20:00"}}
    assert "sites[0].roster[0].hours: bad time '8h'" in config_error(
        fleet_with(["sites", 0, "roster"], [shift])
    )
