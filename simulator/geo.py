"""A site's ground in local metres: its zones, where a guard may patrol, GPS noise.

Geometry is projected once per site around its patrol zone's centroid (x east, y north,
equirectangular with WGS84 radii of curvature: well under a metre off across a site).
The simulator keeps every route it draws a `clearance` away from every zone border, so
each fix it reports is confidently on the side it means (see `clearance`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import shapely
from shapely.geometry.base import BaseGeometry

from core.fleet import Site, Zone

_A = 6_378_137.0  # WGS84 semi-major axis (m)
_E2 = 6.694_379_990_14e-3  # WGS84 first eccentricity squared


def clearance(max_accuracy_m: float, margin_m: float) -> float:
    """How far from a border a route keeps. vigil reads a fix as unsure within
    u = max(accuracy, margin) of a border; a reported fix is at most its accuracy from
    the guard, so a guard more than accuracy + u away is read on its true side. 5 m more
    absorbs the rounding of coordinates to 6 decimals (0.1 m)."""
    return max_accuracy_m + max(max_accuracy_m, margin_m) + 5.0


@dataclass(frozen=True)
class Ground:
    """One site's zones in local metres around (lat0, lon0)."""

    site_id: str
    lat0: float
    lon0: float
    m_per_deg_lat: float
    m_per_deg_lon: float
    zones: dict[str, BaseGeometry]  # zone id -> area in metres
    patrol_zone: str

    def to_local(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.m_per_deg_lon, (lat - self.lat0) * self.m_per_deg_lat

    def to_latlon(self, x: float, y: float) -> tuple[float, float]:
        return self.lat0 + y / self.m_per_deg_lat, self.lon0 + x / self.m_per_deg_lon

    @property
    def patrol(self) -> BaseGeometry:
        return self.zones[self.patrol_zone]

    def others(self) -> BaseGeometry:
        """Every zone but the patrol zone, as one geometry (empty when there is none)."""
        rest = [g for z, g in self.zones.items() if z != self.patrol_zone]
        return shapely.union_all(rest) if rest else shapely.Polygon()


def scales(lat0: float) -> tuple[float, float]:
    """Metres per degree of latitude and of longitude at latitude lat0 (WGS84)."""
    s2 = math.sin(math.radians(lat0)) ** 2
    meridian = _A * (1.0 - _E2) / (1.0 - _E2 * s2) ** 1.5
    normal = _A / math.sqrt(1.0 - _E2 * s2)
    return math.radians(meridian), math.radians(normal * math.cos(math.radians(lat0)))


def ground(site: Site) -> Ground | None:
    """The site's zones in metres, patrolled in its largest zone; None without zones."""
    if not site.zones:
        return None
    first = site.zones[0].geometry
    lon0, lat0 = _anchor(first)
    ky, kx = scales(lat0)
    local = {z.id: _shape(z, lat0, lon0, ky, kx) for z in site.zones}
    patrol = max(local, key=lambda z: local[z].area)
    centre = local[patrol].centroid  # re-centre on the patrol zone: smallest errors there
    lat1, lon1 = lat0 + centre.y / ky, lon0 + centre.x / kx
    ky, kx = scales(lat1)
    local = {z.id: _shape(z, lat1, lon1, ky, kx) for z in site.zones}
    return Ground(site.id, lat1, lon1, ky, kx, local, patrol)


def _anchor(geometry: dict[str, object]) -> tuple[float, float]:
    coordinates: object = geometry["coordinates"]
    while isinstance(coordinates, list) and isinstance(coordinates[0], list):
        coordinates = coordinates[0]
    assert isinstance(coordinates, list)
    return float(coordinates[0]), float(coordinates[1])


def _shape(zone: Zone, lat0: float, lon0: float, ky: float, kx: float) -> BaseGeometry:
    def xy(p: list[float]) -> tuple[float, float]:
        return (p[0] - lon0) * kx, (p[1] - lat0) * ky

    coordinates = zone.geometry["coordinates"]
    if zone.geometry["type"] == "Point":
        return shapely.buffer(shapely.Point(xy(coordinates)), zone.radius_m or 0.0, quad_segs=32)
    rings = [[xy(p) for p in ring] for ring in coordinates]
    return shapely.Polygon(rings[0], holes=rings[1:])


def patrol_area(g: Ground, clear_m: float) -> BaseGeometry:
    """Where a guard may walk: inside the patrol zone and `clear_m` from every border."""
    area = g.patrol.buffer(-clear_m)
    others = g.others()
    if not others.is_empty:
        area = area.difference(others.boundary.buffer(clear_m))
    return area


def point_in(area: BaseGeometry, rng: random.Random, tries: int = 500) -> tuple[float, float]:
    minx, miny, maxx, maxy = area.bounds
    for _ in range(tries):
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if area.contains(shapely.Point(x, y)):
            return x, y
    point = area.representative_point()
    return point.x, point.y


def route(area: BaseGeometry, rng: random.Random, stops: int = 5) -> list[tuple[float, float]]:
    """A closed patrol round of `stops` waypoints, every leg inside `area`."""
    points = [point_in(area, rng)]
    while len(points) < stops:
        for _ in range(100):
            candidate = point_in(area, rng)
            if area.contains(shapely.LineString([points[-1], candidate])):
                points.append(candidate)
                break
        else:
            break  # a narrow or broken-up area: a shorter round
    while len(points) > 1 and not area.contains(shapely.LineString([points[-1], points[0]])):
        points.pop()
    return points


def excursion(
    g: Ground, start: tuple[float, float], clear_m: float, rng: random.Random
) -> tuple[float, float] | None:
    """A point `clear_m` or more outside every zone, reached from `start` on a straight leg
    that crosses the patrol zone's border once and no other zone: a real exit."""
    others = g.others()
    border = g.patrol.boundary
    for _ in range(60):
        angle = rng.uniform(0, 2 * math.pi)
        far = (start[0] + 100_000 * math.cos(angle), start[1] + 100_000 * math.sin(angle))
        ray = shapely.LineString([start, far])
        crossing = ray.intersection(border)
        if crossing.is_empty:
            continue
        d0 = shapely.Point(start).distance(crossing)
        if not _steep(border, start, angle, d0, clear_m):
            continue
        out = d0 + clear_m + rng.uniform(10, 40)
        target = (start[0] + out * math.cos(angle), start[1] + out * math.sin(angle))
        leg = shapely.LineString([start, target])
        crossings = leg.intersection(border)
        if shapely.get_num_geometries(crossings) != 1 or crossings.geom_type != "Point":
            continue
        if g.patrol.buffer(clear_m).contains(shapely.Point(target)):
            continue
        if not others.is_empty and leg.distance(others) <= clear_m:
            continue
        return target
    return None


def _steep(
    border: BaseGeometry, start: tuple[float, float], angle: float, d0: float, s: float
) -> bool:
    """The leg crosses the border at 45 degrees or more: `s` before and after the crossing
    it is at least 0.7 s from the border, so a guard is not long near it (unsure fixes)."""
    for d in (d0 - s, d0 + s):
        point = shapely.Point(start[0] + d * math.cos(angle), start[1] + d * math.sin(angle))
        if d < 0 or point.distance(border) < 0.7 * s:
            return False
    return True


def noisy(x: float, y: float, accuracy_m: float, rng: random.Random) -> tuple[float, float, float]:
    """A reported position and its offset (m): Gaussian with sigma accuracy / 2 per axis,
    drawn again when farther than the accuracy reported (a receiver's 2-sigma bound), less
    0.2 m for rounding the coordinates."""
    bound = max(accuracy_m - 0.2, 0.0)
    while True:
        dx, dy = rng.gauss(0, accuracy_m / 2), rng.gauss(0, accuracy_m / 2)
        offset = math.hypot(dx, dy)
        if offset <= bound:
            return x + dx, y + dy, offset
