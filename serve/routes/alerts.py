"""/api/alerts and /api/incidents: filter alerts, acknowledge, resolve and assign them.

The router owns the lifecycle (actors/router.py); an alert of another tenant reads as
unknown (404), so its existence is not revealed.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from serve.endpoints import ApiError, Call, Endpoint, Param
from serve.services import Services
from serve.tokens import Role

FILTERS = ("status", "kind", "severity", "site_id", "entity_id")


class Step(msgspec.Struct, frozen=True):
    """Acknowledging or resolving: the operator's note, if any (the body may be empty)."""

    note: str = ""


class Assignment(msgspec.Struct, frozen=True):
    operator: Annotated[str, msgspec.Meta(min_length=1, description="the operator's id")]
    note: str = ""


def endpoints(s: Services) -> list[Endpoint]:
    async def mine(call: Call) -> dict[str, Any]:
        alert_id = call.path("alert_id")
        found = await s.router.alert.remote(alert_id)
        if found is None or not call.principal.sees(found["client_id"]):
            raise ApiError(404, "alert_id", f"no alert {alert_id!r}")
        return dict(found)

    async def list_(call: Call) -> Any:
        limit = call.integer("limit", 100, 1, 5000)
        wanted = {k: call.text(k) for k in FILTERS if call.text(k) is not None}
        found = await s.router.alerts.remote(call.tenant_filter(), wanted.get("status"), 5000)
        chosen = [a for a in found if all(str(a.get(k)) == v for k, v in wanted.items())]
        return chosen[:limit]

    async def get(call: Call) -> Any:
        return await mine(call)

    def step(name: str) -> Any:
        async def handler(call: Call) -> Any:
            found = await mine(call)
            body = await call.body(Step, empty=Step())
            method = getattr(s.router, name)
            return await method.remote(found["alert_id"], call.principal.user, body.note)

        return handler

    async def assign(call: Call) -> Any:
        found = await mine(call)
        body = await call.body(Assignment)
        return await s.router.assign.remote(
            found["alert_id"], body.operator, call.principal.user, body.note
        )

    async def incidents(call: Call) -> Any:
        return await s.router.incidents.remote(call.tenant_filter(), call.integer("limit", 50))

    one = "/api/alerts/{alert_id}"
    query = (*tuple(Param(k) for k in FILTERS), Param("limit", "integer"))
    return [
        Endpoint("GET", "/api/alerts", Role.VIEWER, list_, "Alerts, newest first", "alerts", query),
        Endpoint("GET", one, Role.VIEWER, get, "One alert and its timeline", "alerts"),
        Endpoint(
            "POST",
            one + "/acknowledge",
            Role.OPERATOR,
            step("acknowledge"),
            "Acknowledge",
            "alerts",
            body=Step,
        ),
        Endpoint(
            "POST", one + "/resolve", Role.OPERATOR, step("resolve"), "Resolve", "alerts", body=Step
        ),
        Endpoint(
            "POST", one + "/assign", Role.OPERATOR, assign, "Assign", "alerts", body=Assignment
        ),
        Endpoint(
            "GET",
            "/api/incidents",
            Role.VIEWER,
            incidents,
            "Incidents with timelines",
            "alerts",
            (Param("limit", "integer"),),
        ),
    ]
