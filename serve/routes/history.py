"""/api/history/...: tracks, telemetry, sensor readings and alerts from the lake.

Times are `start`/`end` (ISO 8601 or epoch seconds; default: the last 24 h). An
entity of another tenant reads as unknown (404); the SQL filters by tenant too.
"""

from __future__ import annotations

import time
from typing import Any

from serve.endpoints import ApiError, Call, Endpoint, Param
from serve.history import MAX_ROWS
from serve.services import Services
from serve.tokens import Role

DAY_US = 86_400_000_000
WINDOW = (
    Param("start", "time", "ISO 8601 or epoch seconds"),
    Param("end", "time", "ISO 8601 or epoch seconds"),
    Param("limit", "integer"),
)


def window(call: Call) -> tuple[int, int, int]:
    now = time.time_ns() // 1000
    end = call.time_us("end", now)
    start = call.time_us("start", end - DAY_US)
    if start > end:
        raise ApiError(400, "start", "must not be after end")
    return start, end, call.integer("limit", 10_000, 1, MAX_ROWS)


def endpoints(s: Services) -> list[Endpoint]:
    async def check(call: Call, collection: str, name: str) -> str:
        item_id = call.path(name)
        owner = await s.owner(collection, item_id)
        if owner is None or not call.principal.sees(owner):
            raise ApiError(404, name, f"no {collection[:-1]} {item_id!r}")
        return item_id

    async def track(call: Call) -> Any:
        guard_id = await check(call, "guards", "guard_id")
        start, end, limit = window(call)
        tenant = call.principal.tenant
        return {
            "guard_id": guard_id,
            "points": await s.history.track(guard_id, tenant, start, end, limit),
        }

    async def telemetry(call: Call) -> Any:
        device_id = await check(call, "devices", "device_id")
        start, end, limit = window(call)
        rows = await s.history.telemetry(device_id, call.principal.tenant, start, end, limit)
        return {"device_id": device_id, "series": rows}

    async def readings(call: Call) -> Any:
        sensor_id = await check(call, "sensors", "sensor_id")
        start, end, limit = window(call)
        order = call.text("order", "asc")
        if order not in ("asc", "desc"):
            raise ApiError(400, "order", f"expected asc or desc, got {order!r}")
        tenant = call.principal.tenant
        rows = await s.history.readings(sensor_id, tenant, start, end, limit, order == "desc")
        return {"sensor_id": sensor_id, "readings": rows}

    async def alerts(call: Call) -> Any:
        start, end, limit = window(call)
        return await s.history.alerts(
            call.tenant_filter(),
            start,
            end,
            limit,
            call.text("site_id"),
            call.text("entity_id"),
            call.text("kind"),
        )

    async def alert_events(call: Call) -> Any:
        alert_id = call.path("alert_id")
        rows = await s.history.alert_events(alert_id, call.principal.tenant)
        if not rows:
            raise ApiError(404, "alert_id", f"no alert {alert_id!r} in the lake")
        return rows

    filters = (Param("site_id"), Param("entity_id"), Param("kind"))
    h = "/api/history"
    return [
        Endpoint(
            "GET",
            h + "/guards/{guard_id}/track",
            Role.VIEWER,
            track,
            "A guard's track",
            "history",
            WINDOW,
        ),
        Endpoint(
            "GET",
            h + "/devices/{device_id}/telemetry",
            Role.VIEWER,
            telemetry,
            "Battery, signal, temperature over time",
            "history",
            WINDOW,
        ),
        Endpoint(
            "GET",
            h + "/sensors/{sensor_id}/readings",
            Role.VIEWER,
            readings,
            "A sensor's readings",
            "history",
            (*WINDOW, Param("order", doc="asc (default) or desc")),
        ),
        Endpoint(
            "GET",
            h + "/alerts",
            Role.VIEWER,
            alerts,
            "Alerts raised, with their status",
            "history",
            WINDOW + filters,
        ),
        Endpoint(
            "GET",
            h + "/alerts/{alert_id}/events",
            Role.VIEWER,
            alert_events,
            "An alert's lifecycle as recorded in the lake",
            "history",
        ),
    ]
