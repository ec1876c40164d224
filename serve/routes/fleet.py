"""/api/{tenants,sites,guards,devices,sensors}: the fleet, read by all, edited by admins.

Sites' zones are GeoJSON; `/api/sites/{id}/zones` reads and replaces them as a
FeatureCollection. Edits go through the registry actor, which checks the whole fleet
and hands it to the running actors before answering.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from actors.rules.fleet_edits import TYPES
from serve.endpoints import Call, Endpoint, Param
from serve.services import Services
from serve.tokens import Role


class Feature(msgspec.Struct, frozen=True):
    """A zone: a Polygon, or a Point with `properties.radius_m`; its id, or `properties.id`."""

    type: Literal["Feature"]
    geometry: dict[str, Any]
    id: str | int | UnsetType = UNSET
    properties: dict[str, Any] | UnsetType | None = UNSET


class FeatureCollection(msgspec.Struct, frozen=True):
    type: Literal["FeatureCollection"]
    features: list[Feature]


def endpoints(s: Services) -> list[Endpoint]:
    found: list[Endpoint] = []
    for collection, kind in TYPES.items():
        found += _collection(s, collection, kind)
    found += _zones(s)
    return found


def _collection(s: Services, collection: str, kind: type[msgspec.Struct]) -> list[Endpoint]:
    """The registry decodes a body as `kind` itself: a tenant's admin may leave out
    `client_id`, which the registry fills in before checking."""
    one = f"/api/{collection}/{{item_id}}"

    async def list_(call: Call) -> Any:
        items = await s.registry.items.remote(collection, call.tenant_filter())
        return [_for(call, collection, item) for item in items]

    async def get(call: Call) -> Any:
        item = await s.registry.get.remote(collection, call.path("item_id"), call.principal.tenant)
        return _for(call, collection, item)

    async def create(call: Call) -> Any:
        body = await call.json()
        return await s.registry.put.remote(collection, None, body, call.principal.tenant, True)

    async def replace(call: Call) -> Any:
        body = await call.json()
        item_id, tenant = call.path("item_id"), call.principal.tenant
        return await s.registry.put.remote(collection, item_id, body, tenant, False)

    async def update(call: Call) -> Any:
        body = await call.json()
        item_id, tenant = call.path("item_id"), call.principal.tenant
        current = await s.registry.get.remote(collection, item_id, tenant)
        merged = current | body if isinstance(body, dict) else body
        return await s.registry.put.remote(collection, item_id, merged, tenant, False)

    async def delete(call: Call) -> Any:
        item_id, tenant = call.path("item_id"), call.principal.tenant
        return await s.registry.delete.remote(collection, item_id, tenant)

    tag = collection
    clients = (Param("client_id", "integer", "all-tenant admins: one tenant only"),)
    return [
        Endpoint(
            "GET", f"/api/{collection}", Role.VIEWER, list_, f"List {collection}", tag, clients
        ),
        Endpoint(
            "POST", f"/api/{collection}", Role.ADMIN, create, "Create", tag, body=kind, status=201
        ),
        Endpoint("GET", one, Role.VIEWER, get, "Get one", tag),
        Endpoint("PUT", one, Role.ADMIN, replace, "Replace", tag, body=kind),
        Endpoint(
            "PATCH", one, Role.ADMIN, update, "Change some fields", tag, body=kind, partial=True
        ),
        Endpoint("DELETE", one, Role.ADMIN, delete, "Delete (refused while referenced)", tag),
    ]


def _for(call: Call, collection: str, item: Any) -> Any:
    """What the caller may see of an entity: a channel's URL holds its credentials (an
    SMTP password, a webhook's token), shown to admins only; others see its scheme."""
    if collection != "tenants" or call.principal.role >= Role.ADMIN:
        return item
    channels = [c | {"url": redacted(c["url"])} for c in item.get("channels", [])]
    return item | {"channels": channels}


def redacted(url: str) -> str:
    """`mailtos://user:password@host/?to={email}` -> `mailtos://…`."""
    scheme, found, _ = url.partition("://")
    return f"{scheme}://…" if found else "…"


def _zones(s: Services) -> list[Endpoint]:
    path = "/api/sites/{item_id}/zones"

    async def get(call: Call) -> Any:
        return await s.registry.zones.remote(call.path("item_id"), call.principal.tenant)

    async def put(call: Call) -> Any:
        zones = msgspec.to_builtins(await call.body(FeatureCollection))
        return await s.registry.put_zones.remote(call.path("item_id"), zones, call.principal.tenant)

    return [
        Endpoint("GET", path, Role.VIEWER, get, "A site's zones as GeoJSON", "sites"),
        Endpoint(
            "PUT", path, Role.ADMIN, put, "Replace a site's zones", "sites", body=FeatureCollection
        ),
    ]
