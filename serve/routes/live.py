"""/api/live...: the fleet now, from the Hub (positions, recent alerts) and the shards."""

from __future__ import annotations

import asyncio
from typing import Any

from serve.endpoints import Call, Endpoint, Param
from serve.services import Services
from serve.tokens import Role


def endpoints(s: Services) -> list[Endpoint]:
    async def me(call: Call) -> Any:
        """Who the token says you are, and where the fastest live feed is (`ws_port`)."""
        return call.principal.as_dict() | {"ws_port": s.settings.ws_port or None}

    async def live(call: Call) -> Any:
        """Guards now and alerts after `since` (the Hub's seq), as the page first loads them."""
        since = call.integer("since", 0)
        return await s.hub.snapshot.remote(call.tenant_filter(), since)

    async def guards(call: Call) -> Any:
        return await s.hub.positions_of.remote(call.tenant_filter())

    async def devices(call: Call) -> Any:
        """Every device of the fleet: online/offline and last seen from the shards, last
        telemetry from the lake."""
        tenant = call.tenant_filter()
        fleet, telemetry, *per_shard = await asyncio.gather(
            s.registry.items.remote("devices", tenant),
            s.history.latest_telemetry(tenant),
            *[shard.live_devices.remote(tenant) for shard in s.shards],
        )
        heard = {d["device_id"]: d for shard in per_shard for d in shard}
        found = []
        for device in fleet:
            state = heard.get(device["id"], {"online": None, "last_seen": None})
            found.append(
                {"device_id": device["id"], "class": device.get("class"), **state}
                | {"client_id": device["client_id"], "telemetry": telemetry.get(device["id"])}
            )
        return found

    since = (Param("since", "integer", "the Hub's seq the caller has seen"),)
    return [
        Endpoint("GET", "/api/me", Role.VIEWER, me, "Who the token says you are", "live"),
        Endpoint("GET", "/api/live", Role.VIEWER, live, "Guards now, recent alerts", "live", since),
        Endpoint("GET", "/api/live/guards", Role.VIEWER, guards, "Where every guard is", "live"),
        Endpoint("GET", "/api/live/devices", Role.VIEWER, devices, "Device health now", "live"),
    ]
