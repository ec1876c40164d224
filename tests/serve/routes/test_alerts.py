"""Alerts over REST: filters, the lifecycle through the router, and its record in the lake."""

from __future__ import annotations

import pytest

from tests.conftest import Noc, wait_for
from tests.serve.apiclient import Api, make_guard

pytestmark = pytest.mark.integration


def raise_panic(noc: Noc, clients: dict[str, Api], name: str) -> dict:
    guard, device = make_guard(clients["admin1"], 1, "site-mg-road", name)
    noc.vigil.publish(f"device/{device}/alert", '{"type": "panic"}')
    found = wait_for(
        lambda: clients["viewer1"].get("/api/alerts", entity_id=guard), 10, f"{name}'s panic"
    )
    return found[0]


def test_alerts_filter_by_kind_severity_status_and_entity(
    noc: Noc, clients: dict[str, Api]
) -> None:
    alert = raise_panic(noc, clients, "filters")
    viewer = clients["viewer1"]
    assert [a["alert_id"] for a in viewer.get("/api/alerts", entity_id=alert["entity_id"])] == [
        alert["alert_id"]
    ]
    assert all(a["kind"] == "panic" for a in viewer.get("/api/alerts", kind="panic"))
    assert all(a["severity"] == "critical" for a in viewer.get("/api/alerts", severity="critical"))
    assert viewer.get("/api/alerts", entity_id=alert["entity_id"], status="resolved") == []
    bad = viewer.call("GET", "/api/alerts", limit="many")
    assert bad.status_code == 400 and bad.json()["field"] == "limit"


def test_acknowledge_assign_resolve_through_the_api_land_in_the_lake(
    noc: Noc, clients: dict[str, Api]
) -> None:
    alert = raise_panic(noc, clients, "lifecycle")
    operator, one = clients["operator1"], f"/api/alerts/{alert['alert_id']}"
    acked = operator.post(one + "/acknowledge", {"note": "on my way"})
    assert acked["status"] == "acknowledged" and acked["acknowledged_by"] == "olga@1"
    again = operator.call("POST", one + "/acknowledge", {})  # the same person again: no-op
    assert again.status_code == 200 and again.json()["status"] == "acknowledged"
    assert operator.post(one + "/assign", {"operator": "op-9"})["assignee"] == "op-9"
    assert operator.post(one + "/resolve", {"note": "false alarm"})["status"] == "resolved"
    late = Api(noc, noc.token("operator", 1, "otto@1")).call("POST", one + "/acknowledge", {})
    assert late.status_code == 409 and late.json()["field"] == "status"
    steps = wait_for(
        lambda: (
            (rows := clients["viewer1"].get(f"/api/history/alerts/{alert['alert_id']}/events"))
            and {"acknowledged", "assigned", "resolved"} <= {r["type"] for r in rows}
            and rows
        ),
        10,
        "the lifecycle in the lake",
    )
    acked_row = next(r for r in steps if r["type"] == "acknowledged")
    assert acked_row["who"] == "olga@1" and acked_row["note"] == "on my way"
    history = clients["viewer1"].get("/api/history/alerts", entity_id=alert["entity_id"])
    assert history[0]["status"] == "resolved" and history[0]["status_by"] == "olga@1"


@pytest.mark.parametrize(
    ("case", "path", "body", "field"),
    [
        (1, "/acknowledge", {"note": 5}, "note"),
        (2, "/assign", {"operator": ""}, "operator"),
        (3, "/assign", {"note": "x"}, "operator"),
        (4, "/resolve", "[1]", "body"),
    ],
)
def test_bad_alert_steps_are_400_naming_the_field_and_change_nothing(
    noc: Noc, clients: dict[str, Api], case: int, path: str, body: object, field: str
) -> None:
    alert = raise_panic(noc, clients, f"badstep{case}")
    one = f"/api/alerts/{alert['alert_id']}"
    response = clients["operator1"].call("POST", one + path, body)
    assert response.status_code == 400 and response.json()["field"] == field
    assert clients["viewer1"].get(one)["timeline"][-1]["type"] == "raised"


def test_an_unknown_alert_is_404(clients: dict[str, Api]) -> None:
    response = clients["operator1"].call("POST", "/api/alerts/nope/acknowledge", {})
    assert response.status_code == 404 and response.json()["field"] == "alert_id"


def test_incidents_group_a_tenants_alerts(noc: Noc, clients: dict[str, Api]) -> None:
    alert = raise_panic(noc, clients, "incident")
    incidents = clients["viewer1"].get("/api/incidents")
    assert any(alert["alert_id"] in [a["alert_id"] for a in i["alerts"]] for i in incidents)
    assert {i["client_id"] for i in incidents} == {1}
