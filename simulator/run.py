"""Drives a simulated fleet over MQTT: guards patrol their site, devices report, sensors fire.

Each guard walks inside its site's patrol zone and now and then strays out and back
(geofence exits and enters), trackers send telemetry with a slowly draining battery,
site sensors report, and once in a while a guard presses the panic button.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from core.broker import BrokerAddress
from core.fleet import Fleet, Guard

METRES_PER_DEGREE = 111_320.0
SLICES = 20  # a tick's fixes go out in this many even slices


@dataclass
class Walker:
    guard: Guard
    centre: tuple[float, float]  # lat, lon
    radius_m: float
    lat: float
    lon: float
    heading: float
    battery: float
    straying: int = 0  # fixes left outside the zone


def _patrol_area(fleet: Fleet, guard: Guard) -> tuple[tuple[float, float], float]:
    site = next(s for s in fleet.sites if s.id == guard.site_id)
    zone = next(z for z in site.zones if z.geometry["type"] == "Polygon")
    ring = zone.geometry["coordinates"][0]
    lats = [p[1] for p in ring]
    lons = [p[0] for p in ring]
    centre = ((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2)
    half = min(max(lats) - min(lats), max(lons) - min(lons)) / 2 * METRES_PER_DEGREE
    return centre, half * 0.6


class Simulator:
    """Publishes the fleet's traffic from a background thread until `stop()`."""

    def __init__(
        self,
        fleet: Fleet,
        broker: BrokerAddress,
        interval_s: float = 5.0,
        panic_every_s: float = 120.0,
        seed: int = 7,
    ) -> None:
        self.fleet = fleet
        self.interval_s = interval_s
        self.panic_every_s = panic_every_s
        self.rng = random.Random(seed)
        self.walkers = []
        for guard in fleet.guards:
            if not guard.id.startswith("sim-"):
                continue
            centre, radius = _patrol_area(fleet, guard)
            self.walkers.append(
                Walker(
                    guard,
                    centre,
                    radius,
                    centre[0],
                    centre[1],
                    self.rng.uniform(0, 360),
                    self.rng.uniform(60, 100),
                )
            )
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="vigil-simulator")
        broker.configure(self.client)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.published = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)

    def start(self) -> Simulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.client.loop_stop()
        self.client.disconnect()

    def _publish(self, topic: str, payload: dict[str, object]) -> None:
        self.client.publish(topic, json.dumps(payload), qos=1)
        self.published += 1

    def _run(self) -> None:
        """Every `interval_s`, a fix from each guard (and telemetry every sixth): spread
        over the interval in `SLICES` even slices, as devices that do not report in
        step would, not in one burst that a panic would queue behind."""
        tick = 0
        while not self._stop.is_set():
            started = time.monotonic()
            count = len(self.walkers)
            size = max(1, math.ceil(count / SLICES))
            for first in range(0, count, size):
                now = time.time()
                for walker in self.walkers[first : first + size]:
                    self._walk(walker, now, tick)
                slot = started + self.interval_s * (first + size) / count
                if self._stop.wait(max(0.0, slot - time.monotonic())):
                    return
            now = time.time()
            self._sensors(now, tick)
            if self.walkers and self.rng.random() < self.interval_s / self.panic_every_s:
                walker = self.rng.choice(self.walkers)
                if walker.guard.device_id:
                    self._publish(
                        f"device/{walker.guard.device_id}/alert",
                        {"type": "panic", "lat": walker.lat, "lon": walker.lon, "ts": now},
                    )
            tick += 1
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def _walk(self, walker: Walker, now: float, tick: int) -> None:
        self._step(walker)
        guard = walker.guard
        self._publish(
            f"guard/{guard.id}/gps",
            {
                "lat": round(walker.lat, 6),
                "lon": round(walker.lon, 6),
                "accuracy": round(self.rng.uniform(4, 15), 1),
                "ts": now,
            },
        )
        if tick % 6 == 0 and guard.device_id:
            walker.battery = max(0.0, walker.battery - self.rng.uniform(0, 0.5))
            self._publish(
                f"device/{guard.device_id}/telemetry",
                {
                    "battery": round(walker.battery, 1),
                    "signal": round(self.rng.uniform(-100, -60)),
                    "ts": now,
                },
            )

    def _sensors(self, now: float, tick: int) -> None:
        for sensor in self.fleet.sensors:
            topic = f"sensor/{sensor.id}/reading"
            if sensor.kind == "temperature" and tick % 6 == 0:
                self._publish(
                    topic,
                    {"kind": "temperature", "value": round(self.rng.gauss(24, 1), 2), "ts": now},
                )
            elif sensor.kind in ("door", "motion") and self.rng.random() < 0.05:
                self._publish(
                    topic, {"kind": sensor.kind, "value": self.rng.random() < 0.5, "ts": now}
                )

    def _step(self, walker: Walker) -> None:
        """A few metres on; now and then a stray well outside the zone and back."""
        if walker.straying:
            walker.straying -= 1
            if not walker.straying:
                walker.lat, walker.lon = walker.centre
            return
        if self.rng.random() < 0.002:
            walker.straying = 3
            walker.lat = walker.centre[0] + 5 * walker.radius_m / METRES_PER_DEGREE
            return
        walker.heading = (walker.heading + self.rng.gauss(0, 25)) % 360
        step = self.rng.uniform(1, 6)
        dlat = step * math.cos(math.radians(walker.heading)) / METRES_PER_DEGREE
        dlon = (
            step
            * math.sin(math.radians(walker.heading))
            / (METRES_PER_DEGREE * math.cos(math.radians(walker.lat)))
        )
        lat, lon = walker.lat + dlat, walker.lon + dlon
        north = (lat - walker.centre[0]) * METRES_PER_DEGREE
        east = (lon - walker.centre[1]) * METRES_PER_DEGREE * math.cos(math.radians(lat))
        if math.hypot(north, east) > walker.radius_m:  # turn back at the edge of the beat
            walker.heading = (walker.heading + 180) % 360
            return
        walker.lat, walker.lon = lat, lon
