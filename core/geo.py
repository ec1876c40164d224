"""Distances on the Earth, for rules that compare two positions (lone worker, buddies)."""

from __future__ import annotations

import math

#: The mean Earth radius (IUGG): over the few hundred metres these rules compare, the
#: sphere is off from the ellipsoid by under 0.5 %, far below GPS noise.
EARTH_RADIUS_M = 6_371_008.8


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres between two (lat, lon) in degrees (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
