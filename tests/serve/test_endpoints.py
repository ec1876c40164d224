"""Every endpoint of the OpenAPI document: no token is 401, another tenant's data is
never shown (404 or left out), a role below the endpoint's is 403."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.conftest import Noc, wait_for
from tests.serve.apiclient import Api, make_guard

pytestmark = pytest.mark.integration
PUBLIC = {"/api/openapi.json"}


@pytest.fixture(scope="module")
def tenant1(noc: Noc, clients: dict[str, Api]) -> dict[str, str]:
    """Tenant 1's entities, one raised alert included."""
    guard, device = make_guard(clients["admin1"], 1, "site-mg-road", "walk1")
    noc.vigil.publish(f"guard/{guard}/gps", '{"lat": 12.9716, "lon": 77.5946}')
    noc.vigil.publish(f"device/{device}/alert", '{"type": "panic"}')
    alerts = wait_for(
        lambda: clients["operator1"].get("/api/alerts", entity_id=guard), 10, "tenant 1's panic"
    )
    wait_for(
        lambda: clients["operator1"].get("/api/history/alerts", entity_id=guard), 10, "in lake"
    )
    return {
        "item_id": guard,
        "guard_id": guard,
        "device_id": device,
        "sensor_id": "smoke-mg-1",
        "alert_id": alerts[0]["alert_id"],
        "site": "site-mg-road",
        "run_id": "no-such-run",  # training runs and models (tests/integration/test_training.py)
        "version": "v0001",
    }


def operations(noc: Noc, api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    spec = api.get("/api/openapi.json")
    return [
        (method.upper(), path, op)
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
    ]


def concrete(path: str, ids: dict[str, str]) -> str:
    """The path with tenant 1's ids; `/api/{collection}/{item_id}` gets that collection's."""
    by_collection = {
        "tenants": "1",
        "sites": ids["site"],
        "guards": ids["guard_id"],
        "devices": ids["device_id"],
        "sensors": ids["sensor_id"],
    }
    collection = path.split("/")[2]
    path = path.replace("{item_id}", by_collection.get(collection, ids["item_id"]))
    return re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], path)


def test_every_endpoint_without_a_token_is_401(noc: Noc, clients: dict[str, Api]) -> None:
    anonymous = clients["anonymous"]
    walked = 0
    for method, path, _ in operations(noc, clients["viewer1"]):
        response = anonymous.call(method, re.sub(r"{\w+}", "x", path), body={})
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["field"] == "authorization"
        walked += 1
    assert walked > 30
    bad = Api(noc, "not-a-token")
    assert bad.call("GET", "/api/guards").status_code == 401
    assert anonymous.call("GET", "/api/openapi.json").status_code == 200


def test_another_tenants_operator_and_admin_see_and_change_nothing_of_tenant_1(
    noc: Noc, clients: dict[str, Api], tenant1: dict[str, str]
) -> None:
    before = clients["platform"].get("/api/guards", client_id=1)
    walked = 0
    for who in ("operator2", "admin2"):
        api = clients[who]
        for method, path, _ in operations(noc, api):
            url = concrete(path, tenant1)
            body: Any = {"note": "x", "operator": "x", "type": "reboot", "id": "x"}
            if path.endswith("/zones"):
                body = {"type": "FeatureCollection", "features": []}
            response = api.call(method, url, body=body)
            walked += 1
            if response.status_code == 200 and method == "GET":
                shown = response.json()
                assert not _mentions_tenant_1(shown, tenant1), (who, method, url, shown)
            else:
                assert response.status_code in (400, 403, 404, 422), (
                    who,
                    method,
                    url,
                    response.text,
                )
    assert walked > 60
    assert clients["platform"].get("/api/guards", client_id=1) == before
    alert = clients["operator1"].get(f"/api/alerts/{tenant1['alert_id']}")
    assert alert["status"] == "open"  # nobody of tenant 2 acknowledged it


def test_a_viewer_cannot_acknowledge_and_an_operator_cannot_edit_the_fleet(
    clients: dict[str, Api], tenant1: dict[str, str]
) -> None:
    ack = clients["viewer1"].call("POST", f"/api/alerts/{tenant1['alert_id']}/acknowledge", {})
    assert ack.status_code == 403
    assert ack.json()["field"] == "role"
    assert clients["viewer1"].get(f"/api/alerts/{tenant1['alert_id']}")["status"] == "open"
    edit = clients["operator1"].call("DELETE", f"/api/guards/{tenant1['guard_id']}")
    assert edit.status_code == 403
    assert clients["viewer1"].get(f"/api/guards/{tenant1['guard_id']}")["id"] == tenant1["guard_id"]


def test_the_openapi_document_lists_every_route_with_its_role(clients: dict[str, Api]) -> None:
    spec = clients["anonymous"].get("/api/openapi.json")
    assert spec["openapi"].startswith("3.")
    roles = {op["x-role"] for methods in spec["paths"].values() for op in methods.values()}
    assert roles == {"viewer", "operator", "admin"}
    assert "/api/sites/{item_id}/zones" in spec["paths"]
    guard = spec["paths"]["/api/guards"]["post"]["requestBody"]["content"]["application/json"]
    assert guard["schema"]["$ref"] == "#/components/schemas/Guard"
    assert "site_id" in spec["components"]["schemas"]["Guard"]["required"]


def _mentions_tenant_1(shown: Any, ids: dict[str, str]) -> bool:
    text = json.dumps(shown)
    if any(ids[k] in text for k in ("guard_id", "device_id", "alert_id", "site")):
        return True
    return _has_client_1(shown)


def _has_client_1(value: Any) -> bool:
    if isinstance(value, dict):
        if value.get("client_id") == 1 or value.get("tenant") == 1:
            return True
        return any(_has_client_1(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_client_1(v) for v in value)
    return False
