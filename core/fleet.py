"""The fleet file: tenants, sites with zones and hours, guards, devices, sensors.

Loaded once, checked whole (every reference resolved, every zone well formed), and
indexed for the lookups ingest and the shards make per message.
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import yaml

from core.errors import ConfigError

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS: list[Day] = list(DAYS)
Armed = Literal["always", "after_hours", "never"]


class Hours(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Opening hours of a site, in the site's time zone."""

    open: str = "00:00"
    close: str = "24:00"
    days: list[Day] = msgspec.field(default_factory=lambda: list(ALL_DAYS))

    def contains(self, when: datetime, tz: ZoneInfo) -> bool:
        local = when.astimezone(tz)
        today = DAYS[local.weekday()] in self.days
        now = local.time()
        opens = _clock(self.open)
        if self.close == "24:00":
            return today and now >= opens
        closes = _clock(self.close)
        if opens <= closes:
            return today and opens <= now < closes
        # An overnight shift (e.g. 22:00-06:00) after midnight belongs to the day it started.
        yesterday = DAYS[(local.weekday() - 1) % 7] in self.days
        return (today and now >= opens) or (yesterday and now < closes)


class Zone(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A GeoJSON Polygon, or a Point with `radius_m` (a circle)."""

    id: str
    geometry: dict[str, Any]
    name: str = ""
    radius_m: float | None = None


class Tenant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: int
    name: str = ""


class Site(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    client_id: int
    name: str = ""
    timezone: str = "UTC"
    hours: Hours = Hours()
    zones: list[Zone] = []

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Guard(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    client_id: int
    site_id: str
    name: str = ""
    device_id: str | None = None


class Device(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    client_id: int
    device_class: str = msgspec.field(default="tracker", name="class")


class Sensor(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    site_id: str
    kind: str
    name: str = ""
    armed: Armed = "after_hours"


class Fleet(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tenants: list[Tenant] = []
    sites: list[Site] = []
    guards: list[Guard] = []
    devices: list[Device] = []
    sensors: list[Sensor] = []


def _clock(text: str) -> time:
    hours, _, minutes = text.partition(":")
    return time(int(hours) % 24, int(minutes or 0))


def load_fleet(path: Path) -> Fleet:
    """Read and check a fleet file; ConfigError names the offending key."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"fleet file {path}: {exc}") from exc
    return parse_fleet(raw or {}, source=str(path))


def parse_fleet(raw: dict[str, Any], source: str = "fleet") -> Fleet:
    try:
        fleet = msgspec.convert(raw, Fleet)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    check_fleet(fleet, source)
    return fleet


def check_fleet(fleet: Fleet, source: str = "fleet") -> None:
    tenants = {t.id for t in fleet.tenants}
    sites = {s.id: s for s in fleet.sites}
    devices = {d.id for d in fleet.devices}
    for i, site in enumerate(fleet.sites):
        if site.client_id not in tenants:
            raise ConfigError(f"{source}: sites[{i}].client_id: unknown tenant {site.client_id}")
        try:
            site.tz  # noqa: B018 - resolving the zone is the check
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"{source}: sites[{i}].timezone: {site.timezone!r}") from exc
        for j, zone in enumerate(site.zones):
            problem = geojson_problem(zone)
            if problem:
                raise ConfigError(f"{source}: sites[{i}].zones[{j}].geometry: {problem}")
        for key in (site.hours.open, site.hours.close):
            try:
                _clock(key)
            except ValueError as exc:
                raise ConfigError(f"{source}: sites[{i}].hours: bad time {key!r}") from exc
    for i, guard in enumerate(fleet.guards):
        if guard.site_id not in sites:
            raise ConfigError(f"{source}: guards[{i}].site_id: unknown site {guard.site_id!r}")
        if sites[guard.site_id].client_id != guard.client_id:
            raise ConfigError(f"{source}: guards[{i}].client_id: site belongs to another tenant")
        if guard.device_id and fleet.devices and guard.device_id not in devices:
            raise ConfigError(
                f"{source}: guards[{i}].device_id: unknown device {guard.device_id!r}"
            )
    for i, sensor in enumerate(fleet.sensors):
        if sensor.site_id not in sites:
            raise ConfigError(f"{source}: sensors[{i}].site_id: unknown site {sensor.site_id!r}")
    for name in ("sites", "guards", "devices", "sensors"):
        ids = [item.id for item in getattr(fleet, name)]
        if len(ids) != len(set(ids)):
            dup = next(x for x in ids if ids.count(x) > 1)
            raise ConfigError(f"{source}: {name}: id {dup!r} appears twice")


def geojson_problem(zone: Zone) -> str | None:
    """What is wrong with a zone's geometry, or None when it is usable."""
    geometry = zone.geometry
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind == "Point":
        if not _is_position(coordinates):
            return "Point needs coordinates [lon, lat]"
        if not zone.radius_m or zone.radius_m <= 0:
            return "a Point zone needs radius_m > 0"
        return None
    if kind == "Polygon":
        if not isinstance(coordinates, list) or not coordinates:
            return "Polygon needs a list of rings"
        for ring in coordinates:
            if not isinstance(ring, list) or len(ring) < 4 or not all(map(_is_position, ring)):
                return "each Polygon ring needs at least 4 [lon, lat] positions"
            if ring[0] != ring[-1]:
                return "a Polygon ring must end where it starts"
        return None
    return f"type must be Polygon or Point, got {kind!r}"


def _is_position(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) in (2, 3)
        and all(isinstance(v, int | float) for v in value)
        and -180 <= value[0] <= 180
        and -90 <= value[1] <= 90
    )


class FleetIndex:
    """The lookups made per message, built once from a Fleet."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.sites = {s.id: s for s in fleet.sites}
        self.guards = {g.id: g for g in fleet.guards}
        self.sensors = {s.id: s for s in fleet.sensors}
        self.devices = {d.id: d for d in fleet.devices}
        self.device_guard: dict[str, str] = {}
        for guard in fleet.guards:
            if guard.device_id:
                self.device_guard[guard.device_id] = guard.id
                self.devices.setdefault(guard.device_id, Device(guard.device_id, guard.client_id))

    def tenant_of(self, entity_type: str, entity_id: str) -> int | None:
        """The tenant owning an entity, or None when the fleet does not know it."""
        if entity_type == "guard":
            guard = self.guards.get(entity_id)
            return guard.client_id if guard else None
        if entity_type == "device":
            device = self.devices.get(entity_id)
            return device.client_id if device else None
        sensor = self.sensors.get(entity_id)
        return self.sites[sensor.site_id].client_id if sensor else None

    def route_key(self, entity_type: str, entity_id: str) -> str:
        """The key that picks an entity's shard: a guard and its devices share one,
        and so do the sensors of one site, so rules that join them stay local."""
        if entity_type == "device":
            return self.device_guard.get(entity_id, entity_id)
        if entity_type == "sensor":
            sensor = self.sensors.get(entity_id)
            return sensor.site_id if sensor else entity_id
        return entity_id
