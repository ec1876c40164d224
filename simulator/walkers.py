"""A guard on foot: a patrol round inside the zone, now and then out of it and back.

The walker moves in its site's local metres (simulator/geo.py). A fix reports where
the walker truly is plus noise within the accuracy it reports. An exit is a straight
walk from the round to a point well outside every zone, a few fixes there, and the
walk back: the fix at which the true position first lies on the other side of the
patrol zone's border carries the truth of the crossing.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum

import shapely

from core.fleet import Guard
from simulator import geo

#: Spread of a receiver's accuracy around its typical value (lognormal sigma).
ACCURACY_SPREAD = 0.25
MIN_ACCURACY_M = 2.0


class Phase(StrEnum):
    PATROL = "patrol"
    OUT = "out"  # walking out of the zone
    OUTSIDE = "outside"
    BACK = "back"  # walking back to where it left its round


@dataclass
class Fix:
    """One fix: the true and the reported position, and a crossing it carries, if any."""

    true_lat: float
    true_lon: float
    lat: float
    lon: float
    accuracy: float
    speed: float
    heading: float
    crossed: str = ""  # "exit" or "return" of the patrol zone at this fix


@dataclass
class Walker:
    guard: Guard
    ground: geo.Ground
    area: shapely.geometry.base.BaseGeometry  # where the round may go
    route: list[tuple[float, float]]
    accuracy_m: float  # the receiver's typical accuracy
    x: float = 0.0
    y: float = 0.0
    leg: int = 1  # index of the waypoint walked to
    phase: Phase = Phase.PATROL
    target: tuple[float, float] | None = None
    home: tuple[float, float] | None = None
    outside_left: int = 0
    inside: bool = True  # the true position is inside the patrol zone
    heading: float = 0.0

    @staticmethod
    def place(guard: Guard, ground: geo.Ground, clear_m: float, rng: random.Random) -> Walker:
        """A walker at the start of a fresh round; ValueError when no round fits."""
        area = geo.patrol_area(ground, clear_m)
        if area.is_empty:
            raise ValueError(
                f"guard {guard.id!r}: zone {ground.patrol_zone!r} of site {ground.site_id!r} "
                f"is too small to patrol {clear_m:.0f} m from every border"
            )
        route = geo.route(area, rng)
        walker = Walker(guard, ground, area, route, rng.uniform(4.0, 9.0))
        walker.x, walker.y = route[0]
        walker.leg = 1 % len(route)
        return walker

    @property
    def patrolling(self) -> bool:
        return self.phase == Phase.PATROL

    def start_exit(self, clear_m: float, rng: random.Random) -> bool:
        """Leave the round for a point outside the zone; False when none is reachable."""
        target = geo.excursion(self.ground, (self.x, self.y), clear_m, rng)
        if target is None:
            return False
        self.phase, self.target, self.home = Phase.OUT, target, (self.x, self.y)
        return True

    def step(self, metres: float, outside_rounds: int) -> None:
        """Walk `metres` along the round, or out, or back."""
        if self.phase == Phase.OUTSIDE:
            self.outside_left -= 1
            if self.outside_left <= 0:
                self.phase = Phase.BACK
            return
        if self.phase == Phase.OUT and self.target and self._towards(self.target, metres):
            self.phase, self.outside_left = Phase.OUTSIDE, outside_rounds
            return
        if self.phase == Phase.BACK and self.home and self._towards(self.home, metres):
            self.phase, self.target, self.home = Phase.PATROL, None, None
            return
        if self.phase == Phase.PATROL:
            left = metres
            while left > 0 and len(self.route) > 1:
                waypoint = self.route[self.leg]
                distance = math.hypot(waypoint[0] - self.x, waypoint[1] - self.y)
                if distance > left:
                    self._towards(waypoint, left)
                    break
                self.x, self.y = waypoint
                left -= distance
                self.leg = (self.leg + 1) % len(self.route)

    def _towards(self, point: tuple[float, float], metres: float) -> bool:
        """Move up to `metres` towards `point`; True once there."""
        dx, dy = point[0] - self.x, point[1] - self.y
        distance = math.hypot(dx, dy)
        if distance > 0:
            self.heading = math.degrees(math.atan2(dx, dy)) % 360.0
        if distance <= metres:
            self.x, self.y = point
            return True
        self.x += dx / distance * metres
        self.y += dy / distance * metres
        return False

    def fix(self, speed_mps: float, max_accuracy_m: float, rng: random.Random) -> Fix:
        """Report where the walker is, and note whether this fix crossed the border."""
        accuracy = self.accuracy_m * rng.lognormvariate(0.0, ACCURACY_SPREAD)
        accuracy = round(min(max(accuracy, MIN_ACCURACY_M), max_accuracy_m), 1)
        x, y, _ = geo.noisy(self.x, self.y, accuracy, rng)
        true_lat, true_lon = self.ground.to_latlon(self.x, self.y)
        lat, lon = self.ground.to_latlon(x, y)
        inside = self.ground.patrol.contains(shapely.Point(self.x, self.y))
        crossed = ""
        if inside != self.inside:
            crossed = "return" if inside else "exit"
            self.inside = inside
        moving = 0.0 if self.phase == Phase.OUTSIDE else speed_mps
        return Fix(
            true_lat,
            true_lon,
            round(lat, 6),
            round(lon, 6),
            accuracy,
            round(moving, 1),
            round(self.heading, 1),
            crossed,
        )
