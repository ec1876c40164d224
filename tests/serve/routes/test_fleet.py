"""Fleet CRUD over REST: bad input is refused naming the field and changes nothing; good
edits reach the running shards and ingest, and survive a restart of the registry."""

from __future__ import annotations

import json
from typing import Any

import pytest
import ray

from actors.registry import REGISTRY
from tests.conftest import Noc, restart, wait_for
from tests.serve.apiclient import Api, fix, make_guard

pytestmark = pytest.mark.integration
SQUARE = [[[77.0, 12.0], [77.01, 12.0], [77.01, 12.01], [77.0, 12.01], [77.0, 12.0]]]


def zones(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def polygon(zone_id: str, rings: Any) -> dict[str, Any]:
    return {"type": "Feature", "id": zone_id, "geometry": {"type": "Polygon", "coordinates": rings}}


BAD_ZONES = [
    ({"type": "Feature"}, 400, "type"),
    (zones({"type": "Feature", "id": "z"}), 400, "features[0].geometry"),
    (
        zones(polygon("z", [[[77.0, 12.0], [77.01, 12.0], [77.0, 12.01]]])),
        400,
        "features[0].geometry",
    ),
    (
        zones(polygon("z", [[[277.0, 12.0], [77.01, 12.0], [77.0, 12.01], [277.0, 12.0]]])),
        400,
        "features[0].geometry",
    ),
    (
        zones(
            polygon(
                "bow", [[[77.0, 12.0], [77.01, 12.01], [77.01, 12.0], [77.0, 12.01], [77.0, 12.0]]]
            )
        ),
        422,
        "zones",
    ),
    (
        zones(
            {
                "type": "Feature",
                "id": "c",
                "geometry": {"type": "Point", "coordinates": [77.0, 12.0]},
                "properties": {"radius_m": "big"},
            }
        ),
        400,
        "features[0].properties.radius_m",
    ),
    ("{not json", 400, "body"),
]


@pytest.fixture(scope="module")
def site(clients: dict[str, Api]) -> str:
    clients["admin1"].post(
        "/api/sites",
        {
            "id": "rest-site",
            "client_id": 1,
            "zones": [
                {"id": "rest-square", "geometry": {"type": "Polygon", "coordinates": SQUARE}}
            ],
        },
    )
    return "rest-site"


def snapshot(clients: dict[str, Api]) -> dict[str, Any]:
    platform = clients["platform"]
    return {
        c: platform.get(f"/api/{c}") for c in ("tenants", "sites", "guards", "devices", "sensors")
    }


@pytest.mark.parametrize(("body", "status", "field"), BAD_ZONES)
def test_malformed_geojson_is_refused_naming_the_field_and_changes_nothing(
    clients: dict[str, Api], site: str, body: Any, status: int, field: str
) -> None:
    before = snapshot(clients)
    content = body if isinstance(body, str) else json.dumps(body)
    response = clients["admin1"].call("PUT", f"/api/sites/{site}/zones", content)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert snapshot(clients) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/api/guards", {"id": "x1", "client_id": 1, "site_id": "nowhere"}, 422, "site_id"),
        (
            "POST",
            "/api/guards",
            {"id": "x1", "client_id": 1, "site_id": "site-harbour-yard"},
            422,
            "site_id",
        ),  # tenant 2's site reads as unknown to tenant 1
        (
            "POST",
            "/api/guards",
            {"id": "x1", "client_id": 1, "site_id": "rest-site", "device_id": "no-such-device"},
            422,
            "device_id",
        ),
        (
            "POST",
            "/api/guards",
            {"id": "x1", "client_id": "one", "site_id": "rest-site"},
            400,
            "client_id",
        ),
        ("POST", "/api/guards", {"id": "x1", "client_id": 1}, 400, "site_id"),
        (
            "POST",
            "/api/guards",
            {"id": "x1", "client_id": 1, "site_id": "rest-site", "rank": 3},
            400,
            "rank",
        ),
        ("POST", "/api/guards", [1, 2], 400, "body"),
        (
            "POST",
            "/api/guards",
            {"id": "x1", "client_id": 2, "site_id": "rest-site"},
            403,
            "client_id",
        ),
        (
            "POST",
            "/api/sensors",
            {"id": "x1", "site_id": "rest-site", "kind": "smoke", "armed": "often"},
            400,
            "armed",
        ),
        (
            "POST",
            "/api/sites",
            {"id": "x1", "client_id": 1, "timezone": "Mars/Olympus"},
            422,
            "timezone",
        ),
        ("POST", "/api/devices", {"id": "dev-123", "client_id": 1}, 409, "id"),
        (
            "PUT",
            "/api/guards/no-such-guard",
            {"client_id": 1, "site_id": "rest-site"},
            404,
            "guards/no-such-guard",
        ),
        ("PATCH", "/api/guards/guard-123", {"id": "guard-999"}, 400, "id"),
        ("DELETE", "/api/sites/site-mg-road", None, 409, "guards[0].site_id"),
        ("DELETE", "/api/devices/nope", None, 404, "devices/nope"),
        ("POST", "/api/tenants", {"id": 77}, 403, "id"),
    ],
)
def test_bad_fleet_input_is_4xx_naming_the_field_and_changes_nothing(
    clients: dict[str, Api], site: str, method: str, path: str, body: Any, status: int, field: str
) -> None:
    before = snapshot(clients)
    response = clients["admin1"].call(method, path, body)
    assert response.status_code == status, response.text
    assert response.json()["field"].startswith(field.split("[")[0]), response.json()
    assert snapshot(clients) == before


def test_a_guard_created_over_rest_is_tracked_by_the_running_shards(
    noc: Noc, clients: dict[str, Api], site: str
) -> None:
    guard, _ = make_guard(clients["admin1"], 1, site, "crud")
    noc.vigil.publish(f"guard/{guard}/gps", fix(12.005, 77.005))
    live = wait_for(
        lambda: [g for g in clients["viewer1"].get("/api/live/guards") if g["guard_id"] == guard],
        10,
        "the new guard on the live view",
    )
    assert live[0]["zones"] == {"rest-square": True}
    noc.vigil.publish(f"guard/{guard}/gps", fix(12.05, 77.05))  # 6 km away
    wait_for(
        lambda: clients["operator1"].get("/api/alerts", entity_id=guard, kind="geofence_exit"),
        10,
        "geofence_exit from the zone created over REST",
    )


def test_zones_replaced_over_rest_move_the_fence_for_the_running_shards(
    noc: Noc, clients: dict[str, Api], site: str
) -> None:
    guard, _ = make_guard(clients["admin1"], 1, site, "fence")
    far = [[[78.0, 13.0], [78.01, 13.0], [78.01, 13.01], [78.0, 13.01], [78.0, 13.0]]]
    answer = clients["admin1"].call(
        "PUT",
        f"/api/sites/{site}/zones",
        zones(polygon("rest-square", SQUARE), polygon("far", far)),
    )
    assert answer.status_code == 200, answer.text
    assert [f["id"] for f in clients["viewer1"].get(f"/api/sites/{site}/zones")["features"]] == [
        "rest-square",
        "far",
    ]
    noc.vigil.publish(f"guard/{guard}/gps", fix(13.005, 78.005))
    wait_for(
        lambda: [
            g
            for g in clients["viewer1"].get("/api/live/guards")
            if g["guard_id"] == guard and g["zones"].get("far")
        ],
        10,
        "the guard inside the zone added over REST",
    )


def test_a_deleted_guard_is_forgotten_and_edits_survive_a_registry_restart(
    noc: Noc, clients: dict[str, Api], site: str
) -> None:
    admin = clients["admin1"]
    gone, gone_device = make_guard(admin, 1, site, "gone")
    kept, _ = make_guard(admin, 1, site, "kept")
    assert admin.call("DELETE", f"/api/guards/{gone}").status_code == 200
    assert admin.call("DELETE", f"/api/devices/{gone_device}").status_code == 200
    assert admin.call("GET", f"/api/guards/{gone}").status_code == 404
    noc.vigil.publish(f"guard/{gone}/gps", fix(12.005, 77.005))
    wait_for(
        lambda: noc.vigil.count(
            "dead_letters", "topic = ? AND reason = 'unknown_entity'", [f"guard/{gone}/gps"]
        ),
        10,
        "a fix of the deleted guard dead-lettered",
    )

    restart(ray.get_actor(REGISTRY, namespace=noc.settings.namespace))
    assert admin.call("GET", f"/api/guards/{kept}").status_code == 200
    assert admin.call("GET", f"/api/guards/{gone}").status_code == 404


def test_ingest_and_shards_restarted_after_an_edit_know_the_edited_fleet(
    noc: Noc, clients: dict[str, Api], site: str
) -> None:
    """Ray restarts an actor with the arguments it was first created with, the fleet of
    the start: without the registry's fleet, a device added over REST would be unknown
    to a restarted ingest actor and its panic dead-lettered."""
    guard, device = make_guard(clients["admin1"], 1, site, "restart")
    settings = noc.settings
    names = [f"vigil-ingest-{i}" for i in range(settings.ingest_actors)]
    names += [f"vigil-shard-{i}" for i in range(settings.shards)]
    actors = [ray.get_actor(name, namespace=settings.namespace) for name in names]
    restart(*actors)
    noc.vigil.publish(f"device/{device}/alert", '{"type": "panic"}')
    wait_for(
        lambda: clients["operator1"].get("/api/alerts", entity_id=guard, kind="panic"),
        20,
        "the panic of the device added over REST",
    )
    assert noc.vigil.count("dead_letters", "topic = ?", [f"device/{device}/alert"]) == 0


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "field"),
    [
        ("admin2", "POST", "/api/devices", {"id": "dev-123", "client_id": 2}, "id"),
        ("admin2", "PUT", "/api/devices/dev-123", {"client_id": 2}, "devices/dev-123"),
        ("admin2", "PATCH", "/api/devices/dev-123", {"client_id": 2}, "devices/dev-123"),
        ("admin2", "PATCH", "/api/guards/guard-201", {"device_id": "dev-123"}, "device_id"),
        ("platform", "PATCH", "/api/guards/guard-123", {"device_id": "dev-201"}, "device_id"),
    ],
)
def test_a_device_belongs_to_one_tenant_and_no_other_can_take_it_over(
    clients: dict[str, Api], who: str, method: str, path: str, body: Any, field: str
) -> None:
    before = snapshot(clients)
    response = clients[who].call(method, path, body)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["field"].startswith(field), response.json()
    assert snapshot(clients) == before


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_only_an_admin_sees_a_channels_secret(noc: Noc, role: str) -> None:
    from tests.alerts_fleet import TENANT

    api = Api(noc, noc.token(role, TENANT, f"{role}@{TENANT}"))
    real = {
        c.id: c.url for c in next(t for t in noc.vigil.fleet.tenants if t.id == TENANT).channels
    }
    for tenant in [api.get(f"/api/tenants/{TENANT}"), *api.get("/api/tenants")]:
        shown = {c["id"]: c["url"] for c in tenant["channels"]}
        assert set(shown) == set(real)
        for channel, url in shown.items():
            if role == "admin":
                assert url == real[channel]
            else:
                assert url == real[channel].split("://")[0] + "://…", url
