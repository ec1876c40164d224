"""The geofence rule: which zones a fix is in (facts), then enter/exit (transitions).

`compile_zones` turns a site's GeoJSON zones into local-metre shapely geometry once;
`locate` says, per fix, INSIDE / OUTSIDE / UNSURE for each zone; `update` compares
those facts with the last confident state and raises one alert per real crossing.
See docs/geofence.md for why a fix near the border is UNSURE.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from core.alerts import Alert, AlertKind, make_alert
from core.errors import ConfigError
from core.fleet import Guard, Site, Zone, geojson_problem
from core.records import GuardLocation

# WGS84 ellipsoid. Local scales use its radii of curvature at the zone's centre
# rather than a mean sphere, which alone would be off by up to 0.5% in scale.
_A = 6_378_137.0
_E2 = 6.694_379_990_14e-3
_RAD = math.pi / 180.0
# A circle becomes a polygon of 4 * 32 sides: the chord sags at most r * 3e-4 inside
# the true circle (1.2 cm for a 40 m gate), far below GPS accuracy.
_QUAD_SEGS = 32


class Where(StrEnum):
    INSIDE = "inside"
    OUTSIDE = "outside"
    UNSURE = "unsure"


@dataclass(frozen=True, slots=True)
class CompiledZone:
    """A zone in local metres (x east, y north) around (lat0, lon0), ready to query."""

    id: str
    name: str
    lat0: float
    lon0: float
    m_per_deg_lat: float
    m_per_deg_lon: float
    polygon: BaseGeometry  # prepared
    boundary: BaseGeometry  # prepared; every ring, holes included
    bounds: tuple[float, float, float, float]  # (minx, miny, maxx, maxy) in metres

    def project(self, lat: float, lon: float) -> tuple[float, float]:
        """Equirectangular projection of (lat, lon) to this zone's local metres."""
        dlon = (lon - self.lon0 + 180.0) % 360.0 - 180.0  # a zone may straddle ±180°
        return dlon * self.m_per_deg_lon, (lat - self.lat0) * self.m_per_deg_lat


def compile_zones(site: Site) -> tuple[CompiledZone, ...]:
    """Every zone of a site, projected and prepared; ConfigError names a bad zone."""
    return tuple(_compile(site.id, zone) for zone in site.zones)


def _compile(site_id: str, zone: Zone) -> CompiledZone:
    where = f"site {site_id!r}: zone {zone.id!r}"
    problem = geojson_problem(zone)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    kind = zone.geometry["type"]
    coordinates = zone.geometry["coordinates"]
    if kind == "Point":
        lon0, lat0 = float(coordinates[0]), float(coordinates[1])
        ky, kx = _scales(lat0)
        shape = shapely.buffer(shapely.Point(0.0, 0.0), zone.radius_m, quad_segs=_QUAD_SEGS)
    else:  # Polygon, the only other kind geojson_problem lets through
        rings = [_unwrapped(ring, ref=coordinates[0][0][0]) for ring in coordinates]
        in_degrees = shapely.Polygon(rings[0], holes=rings[1:])
        if not in_degrees.is_valid:
            reason = shapely.is_valid_reason(in_degrees)
            raise ConfigError(f"{where}: invalid polygon ({reason}, lon/lat degrees)")
        # The projection is exact at its centre; the area's centroid keeps errors smallest.
        centre = shapely.Polygon(rings[0]).centroid
        lon0, lat0 = centre.x, centre.y
        ky, kx = _scales(lat0)
        local = [[((lon - lon0) * kx, (lat - lat0) * ky) for lon, lat in ring] for ring in rings]
        shape = shapely.Polygon(local[0], holes=local[1:])
    boundary = shape.boundary
    minx, miny, maxx, maxy = shape.bounds
    shapely.prepare(shape)
    shapely.prepare(boundary)
    return CompiledZone(
        id=zone.id,
        name=zone.name or zone.id,
        lat0=lat0,
        lon0=lon0,
        m_per_deg_lat=ky,
        m_per_deg_lon=kx,
        polygon=shape,
        boundary=boundary,
        bounds=(minx, miny, maxx, maxy),
    )


def _scales(lat0: float) -> tuple[float, float]:
    """Metres per degree of latitude and of longitude at latitude lat0 (WGS84)."""
    s2 = math.sin(lat0 * _RAD) ** 2
    meridian = _A * (1.0 - _E2) / (1.0 - _E2 * s2) ** 1.5
    normal = _A / math.sqrt(1.0 - _E2 * s2)
    return meridian * _RAD, normal * math.cos(lat0 * _RAD) * _RAD


def _unwrapped(ring: list[Any], ref: float) -> list[tuple[float, float]]:
    """A ring's (lon, lat) pairs, longitudes made continuous around `ref` (±180° safe)."""
    return [(ref + (p[0] - ref + 180.0) % 360.0 - 180.0, float(p[1])) for p in ring]


def locate(
    zones: Sequence[CompiledZone],
    lat: float,
    lon: float,
    accuracy_m: float | None,
    margin_m: float,
) -> dict[str, Where]:
    """Where a fix is relative to each zone, by zone id.

    A fix closer to the border than u = max(accuracy_m, margin_m) is UNSURE: the
    guard may be on either side. A missing or NaN accuracy counts as 0, and a fix
    with NaN coordinates is UNSURE everywhere.
    """
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return dict.fromkeys((zone.id for zone in zones), Where.UNSURE)
    band = margin_m
    if accuracy_m is not None and accuracy_m > band:
        band = accuracy_m
    facts: dict[str, Where] = {}
    for zone in zones:
        x, y = zone.project(lat, lon)
        minx, miny, maxx, maxy = zone.bounds
        if x < minx - band or x > maxx + band or y < miny - band or y > maxy + band:
            # Farther than u from the bounding box, so from the border: no GEOS call.
            facts[zone.id] = Where.OUTSIDE
            continue
        # Geometry methods take shapely 2.2's scalar path: much faster per call than
        # the ufuncs (shapely.distance, shapely.contains_xy) for a single point.
        point = shapely.points((x, y))
        if not zone.boundary.distance(point) > band:
            facts[zone.id] = Where.UNSURE
        elif zone.polygon.contains(point):
            facts[zone.id] = Where.INSIDE
        else:
            facts[zone.id] = Where.OUTSIDE
    return facts


def fix_time(fix: GuardLocation) -> int:
    """When a fix was taken, for ordering: the device's stamp, but never later than vigil
    received it, so one fix stamped in the future cannot hide the fixes after it."""
    return min(fix.ts, fix.received_at)


@dataclass(frozen=True, slots=True)
class GeofenceState:
    """One guard's geofence memory. Never mutated: `update` returns a new one."""

    #: Last confident state per zone id (True = inside); absent means unknown yet.
    inside: Mapping[str, bool] = field(default_factory=dict)
    #: Microseconds of the newest fix applied.
    last_ts: int = 0


def update(
    state: GeofenceState,
    fix: GuardLocation,
    facts: Mapping[str, Where],
    guard: Guard,
    zone_names: Mapping[str, str] | None = None,
) -> tuple[GeofenceState, list[Alert]]:
    """Apply one fix's facts to a guard's state; one alert per confident crossing."""
    if fix.guard_id != guard.id:
        raise ValueError(f"fix of guard {fix.guard_id!r} applied to guard {guard.id!r}")
    when = fix_time(fix)
    if when <= state.last_ts:
        # Ingest runs in parallel, so fixes arrive out of order; an older fix must
        # neither undo nor re-raise what a newer one decided.
        return state, []
    changed: dict[str, bool] | None = None  # copied only when a zone changes
    alerts: list[Alert] = []
    for zone_id, where in facts.items():
        if where == Where.UNSURE:  # == not `is`: facts may arrive as plain strings
            continue  # the hysteresis band: keep whatever was last known
        now_inside = where == Where.INSIDE
        before = state.inside.get(zone_id)
        if before == now_inside:
            continue
        if changed is None:
            changed = dict(state.inside)
        changed[zone_id] = now_inside
        if before is None:
            continue  # first confident fix for this zone: learn it silently
        kind = AlertKind.GEOFENCE_ENTER if now_inside else AlertKind.GEOFENCE_EXIT
        name = (zone_names or {}).get(zone_id) or zone_id
        alerts.append(
            make_alert(
                kind,
                entity_id=guard.id,
                client_id=guard.client_id,
                site_id=guard.site_id,
                ts=fix.ts,
                lat=fix.lat,
                lon=fix.lon,
                scope=zone_id,
                detail=name,
            )
        )
    inside = state.inside if changed is None else changed
    return GeofenceState(inside=inside, last_ts=when), alerts
