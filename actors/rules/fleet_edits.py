"""Editing the fleet one entity at a time, checked whole, scoped to a tenant.

Pure functions over `core.fleet.Fleet` (no Ray, no I/O): the registry actor applies
them, persists the edit and hands the new fleet to the running actors. What the running
actors could not apply (a channel URL apprise cannot use, an escalation tier naming
nobody known) is refused here, before anything is saved. Every error
is a `FleetEditError` naming the field (`guards/g-1.site_id: unknown site 'x'`) with
the HTTP status the API answers with.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec

from actors.notify.channels import unusable
from actors.rules.geofence import compile_zones
from core.errors import ConfigError, VigilError
from core.fleet import (
    Device,
    Fleet,
    Guard,
    Sensor,
    Site,
    Tenant,
    Zone,
    check_fleet,
    geojson_problem,
)

#: The collections the API edits, and their entity types.
TYPES: dict[str, type[msgspec.Struct]] = {
    "tenants": Tenant,
    "sites": Site,
    "guards": Guard,
    "devices": Device,
    "sensors": Sensor,
}


class FleetEditError(VigilError):
    """An edit that is refused; `field` names what was wrong, `status` the HTTP answer."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        named = message if message.startswith(f"{field}: ") else f"{field}: {message}"
        super().__init__(named)
        self.field = field
        self.message = message
        self.status = self.http_status = status

    def __reduce__(self) -> Any:  # pickled across Ray calls with all three
        return (type(self), (self.field, self.message, self.status))


def tenant_of(fleet: Fleet, collection: str, item: Any) -> int | None:
    """The tenant owning an entity (sensors through their site)."""
    if collection == "tenants":
        return int(item.id)
    if collection == "sensors":
        site = next((s for s in fleet.sites if s.id == item.site_id), None)
        return site.client_id if site else None
    return int(item.client_id)


def visible(fleet: Fleet, collection: str, tenant: int | None) -> list[Any]:
    items = getattr(fleet, _checked(collection))
    return [i for i in items if tenant is None or tenant_of(fleet, collection, i) == tenant]


def find(fleet: Fleet, collection: str, item_id: str, tenant: int | None) -> Any:
    """The entity, if it exists and `tenant` may see it; else FleetEditError (404)."""
    for item in visible(fleet, collection, tenant):
        if str(item.id) == str(item_id):
            return item
    raise FleetEditError(f"{collection}/{item_id}", "no such entity", 404)


def put(
    fleet: Fleet,
    collection: str,
    item_id: str | None,
    body: Any,
    tenant: int | None,
    create: bool,
) -> tuple[Fleet, Any]:
    """Create (`create`) or replace an entity from a JSON body; returns the new fleet
    and the entity. `item_id` (from the URL) wins over the body's id."""
    kind = TYPES[_checked(collection)]
    if not isinstance(body, dict):
        raise FleetEditError("body", f"expected a JSON object, got {type(body).__name__}", 400)
    body = dict(body)
    if item_id is not None:
        if "id" in body and str(body["id"]) != str(item_id):
            raise FleetEditError("id", f"{body['id']!r} differs from the URL's {item_id!r}", 400)
        body["id"] = int(item_id) if collection == "tenants" and item_id.isdigit() else item_id
    if tenant is not None and collection in ("sites", "guards", "devices"):
        body.setdefault("client_id", tenant)
    try:
        item: Any = msgspec.convert(body, kind)
    except msgspec.ValidationError as exc:
        raise FleetEditError(_field_of(str(exc)), str(exc), 400) from None
    where = f"{collection}/{item.id}"
    if collection == "tenants" and tenant is not None and create:
        raise FleetEditError("id", "only an admin of every tenant may create tenants", 403)
    owner = tenant_of(fleet, collection, item)
    if tenant is not None and owner != tenant:
        if collection == "sensors":
            raise FleetEditError("site_id", f"unknown site {item.site_id!r}")  # type: ignore[attr-defined]
        raise FleetEditError("client_id", f"you may only edit tenant {tenant}'s fleet", 403)
    items = list(getattr(fleet, collection))
    index = next((i for i, x in enumerate(items) if str(x.id) == str(item.id)), None)
    if create and index is not None:
        raise FleetEditError("id", f"{item.id!r} exists already", 409)
    if not create:
        if index is None or (
            tenant is not None and tenant_of(fleet, collection, items[index]) != tenant
        ):
            raise FleetEditError(where, "no such entity", 404)
        items[index] = item
    else:
        items.append(item)
    _check_references(fleet, collection, item, tenant)
    if isinstance(item, Site):
        _check_zones(item)
    own = f"{collection}[{len(items) - 1 if index is None else index}]."
    changed = _checked_fleet(msgspec.structs.replace(fleet, **{collection: items}), where, own=own)
    _check_channels(changed, item if isinstance(item, Tenant) else None)
    return changed, item


def delete(fleet: Fleet, collection: str, item_id: str, tenant: int | None) -> Fleet:
    item = find(fleet, collection, item_id, tenant)
    if collection == "tenants" and tenant is not None:
        raise FleetEditError("id", "only an admin of every tenant may delete tenants", 403)
    items = [x for x in getattr(fleet, collection) if x is not item]
    where = f"{collection}/{item_id}"
    return _checked_fleet(msgspec.structs.replace(fleet, **{collection: items}), where, 409)


def zones_from_geojson(collection: Any) -> list[Zone]:
    """A GeoJSON FeatureCollection of Polygons and Points (with `properties.radius_m`)."""
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise FleetEditError("type", "expected a GeoJSON FeatureCollection", 400)
    features = collection.get("features")
    if not isinstance(features, list):
        raise FleetEditError("features", "expected a list of Features", 400)
    zones = []
    for i, feature in enumerate(features):
        key = f"features[{i}]"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise FleetEditError(f"{key}.type", "expected a GeoJSON Feature", 400)
        props = feature.get("properties") or {}
        zone_id = feature.get("id", props.get("id"))
        if not isinstance(zone_id, str | int) or not str(zone_id):
            raise FleetEditError(f"{key}.id", "every zone needs an id", 400)
        geometry = feature.get("geometry")
        if not isinstance(geometry, dict):
            raise FleetEditError(f"{key}.geometry", "expected a GeoJSON geometry object", 400)
        radius = props.get("radius_m")
        if radius is not None and not isinstance(radius, int | float):
            raise FleetEditError(f"{key}.properties.radius_m", "expected a number", 400)
        zone = Zone(id=str(zone_id), geometry=geometry, name=str(props.get("name", "")))
        zone = msgspec.structs.replace(zone, radius_m=float(radius) if radius else None)
        problem = geojson_problem(zone)
        if problem:
            raise FleetEditError(f"{key}.geometry", problem, 400)
        zones.append(zone)
    return zones


def zones_to_geojson(site: Site) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": zone.id,
                "geometry": zone.geometry,
                "properties": {"name": zone.name, "radius_m": zone.radius_m, "site_id": site.id},
            }
            for zone in site.zones
        ],
    }


def as_json(item: Any) -> Any:
    return msgspec.to_builtins(item)


# -- checks ------------------------------------------------------------------------------


def _check_references(fleet: Fleet, collection: str, item: Any, tenant: int | None) -> None:
    """References to another tenant's entities read as unknown: nothing is revealed."""
    mine: Callable[[str], list[Any]] = lambda name: visible(fleet, name, tenant)  # noqa: E731
    if collection in ("guards", "sensors") and item.site_id not in {s.id for s in mine("sites")}:
        raise FleetEditError("site_id", f"unknown site {item.site_id!r}")
    devices = {d.id for d in mine("devices")}
    if collection == "guards" and item.device_id and item.device_id not in devices:
        raise FleetEditError("device_id", f"unknown device {item.device_id!r}")
    tenants = {t.id for t in fleet.tenants}
    if collection in ("sites", "guards", "devices") and item.client_id not in tenants:
        raise FleetEditError("client_id", f"unknown tenant {item.client_id!r}")


def _check_zones(site: Site) -> None:
    for i, zone in enumerate(site.zones):
        problem = geojson_problem(zone)
        if problem:
            raise FleetEditError(f"zones[{i}].geometry", problem)
    try:
        compile_zones(site)  # shapely: self-intersecting rings and the like
    except ConfigError as exc:
        raise FleetEditError("zones", str(exc)) from None


def _check_channels(fleet: Fleet, edited: Tenant | None) -> None:
    """Every channel is one the notifier can deliver through: an edit it could not use is
    refused here, never accepted and dropped at the first alarm."""
    for tenant in fleet.tenants:
        for j, channel in enumerate(tenant.channels):
            problem = unusable(channel)
            if problem:
                field = f"channels[{j}].url"
                if edited is None or tenant.id != edited.id:
                    field = f"tenants/{tenant.id}.{field}"
                raise FleetEditError(field, problem)


def _checked_fleet(fleet: Fleet, where: str, status: int = 422, own: str = "") -> Fleet:
    """The whole fleet checked; a problem of the edited entity (`own`, its place in the
    fleet's list, e.g. `tenants[0].`) is named by its field alone (`escalation[0].after_s`)."""
    try:
        check_fleet(fleet, where)
    except ConfigError as exc:
        message = str(exc).removeprefix(f"{where}: ")
        if own:
            message = message.removeprefix(own)
        raise FleetEditError(_field_of(message), message, status) from None
    return fleet


def _field_of(message: str) -> str:
    """`$.site_id` or `guards[3].site_id: ...` -> the field's name."""
    found = re.search(r"at `\$\.?([^`]*)`", message)
    if found:
        return found.group(1) or "body"
    found = re.search(r"field `([^`]+)`", message)
    if found:
        return found.group(1)
    head = message.split(":", 1)[0].strip()
    return head if head and " " not in head else "body"


def _checked(collection: str) -> str:
    if collection not in TYPES:
        raise FleetEditError("collection", f"unknown collection {collection!r}", 404)
    return collection
