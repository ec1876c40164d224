"""Fleet edits without Ray: scoped to a tenant, checked whole, errors naming the field."""

from __future__ import annotations

import pytest

from actors.rules.fleet_edits import FleetEditError, delete, find, put, visible, zones_from_geojson
from core.fleet import Fleet, load_fleet
from core.settings import SAMPLE_FLEET


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return load_fleet(SAMPLE_FLEET)


def test_a_tenant_sees_only_its_own_entities(fleet: Fleet) -> None:
    assert {g.id for g in visible(fleet, "guards", 2)} == {"guard-201"}
    assert {s.id for s in visible(fleet, "sensors", 2)} == {"smoke-yard-1"}
    assert len(visible(fleet, "guards", None)) == 3
    with pytest.raises(FleetEditError) as found:
        find(fleet, "guards", "guard-123", 2)
    assert found.value.status == 404


def test_creating_a_guard_fills_in_the_tenant_and_checks_references(fleet: Fleet) -> None:
    changed, guard = put(fleet, "guards", None, {"id": "g-new", "site_id": "site-mg-road"}, 1, True)
    assert guard.client_id == 1 and find(changed, "guards", "g-new", 1) == guard
    assert len(fleet.guards) == 3  # the original is untouched


@pytest.mark.parametrize(
    ("body", "tenant", "field", "status"),
    [
        ({"id": "g", "site_id": "site-harbour-yard"}, 1, "site_id", 422),
        ({"id": "g", "site_id": "site-mg-road", "device_id": "dev-201"}, 1, "device_id", 422),
        ({"id": "g", "site_id": "site-mg-road", "client_id": 2}, 1, "client_id", 403),
        ({"id": "g", "site_id": 5}, 1, "site_id", 400),
        ({"id": "guard-123", "site_id": "site-mg-road"}, 1, "id", 409),
    ],
)
def test_a_refused_guard_names_the_field(
    fleet: Fleet, body: dict, tenant: int, field: str, status: int
) -> None:
    with pytest.raises(FleetEditError) as refused:
        put(fleet, "guards", None, body, tenant, True)
    assert (refused.value.field, refused.value.status) == (field, status)


def test_a_site_still_referenced_cannot_be_deleted(fleet: Fleet) -> None:
    with pytest.raises(FleetEditError) as refused:
        delete(fleet, "sites", "site-harbour-yard", 2)
    assert refused.value.status == 409 and "site_id" in refused.value.field


def test_geojson_zones_parse_and_name_the_bad_feature() -> None:
    good = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": "gate", "properties": {"radius_m": 30},
             "geometry": {"type": "Point", "coordinates": [77.59, 12.97]}},
        ],
    }  # fmt: skip
    assert zones_from_geojson(good)[0].radius_m == 30
    bad = {"type": "FeatureCollection", "features": [good["features"][0], {"type": "Feature"}]}
    with pytest.raises(FleetEditError) as refused:
        zones_from_geojson(bad)
    assert refused.value.field == "features[1].id"


def test_a_channel_apprise_cannot_use_is_refused_naming_it(fleet: Fleet) -> None:
    tenant = find(fleet, "tenants", "1", None)
    channels = [{"id": c.id, "url": c.url} for c in tenant.channels]
    body = {"id": 1, "channels": [*channels, {"id": "bad", "url": "nosuch://example.com"}]}
    with pytest.raises(FleetEditError) as refused:
        put(fleet, "tenants", "1", body, None, False)
    assert refused.value.field == f"channels[{len(channels)}].url"
    assert refused.value.status == 422 and "nosuch://" in refused.value.message


def test_a_webhook_channel_apprise_can_use_is_taken(fleet: Fleet) -> None:
    body = {"id": 1, "channels": [{"id": "hook", "url": "json://127.0.0.1:9/hooks/x"}]}
    changed, tenant = put(fleet, "tenants", "1", body, None, False)
    assert [c.id for c in tenant.channels] == ["hook"]
    assert find(changed, "tenants", "1", None).channels == tenant.channels


def test_an_escalation_tier_naming_nobody_known_is_refused_naming_the_tier(fleet: Fleet) -> None:
    body = {"id": 1, "escalation": [{"after_s": 60, "notify": ["nobody"]}]}
    with pytest.raises(FleetEditError) as refused:
        put(fleet, "tenants", "1", body, None, False)
    assert refused.value.field == "escalation[0].notify[0]" and refused.value.status == 422


def test_a_new_tenant_with_a_bad_channel_is_refused(fleet: Fleet) -> None:
    body = {"id": 77, "channels": [{"id": "mail", "url": "mailto://{nosuchfield}"}]}
    with pytest.raises(FleetEditError) as refused:
        put(fleet, "tenants", None, body, None, True)
    assert refused.value.field.startswith("channels[0].url")
