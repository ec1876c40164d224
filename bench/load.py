"""Paced load: what vigil costs (CPU per message) and how fast it alerts, at an offered rate.

vigil is started as an operator starts it (`vigil up` in a subprocess, its own broker,
Ray, actors and Serve app) with N guards. A realistic mix is published at `--rate`
msg/s for `--seconds`, QoS 1, by raw-socket publisher processes (bench/mqttload.py):
GPS fixes of every guard (a share, 1 % by default, well outside the guard's zone and
the next fix back inside, so each is one exit and one enter), device telemetry,
temperature readings, and a panic every few seconds. Measured:

- CPU of vigil's whole process tree (every descendant of `vigil up`: Mosquitto, Ray's
  GCS, raylet, dashboard and workers, the Serve processes), read from /proc every 0.5 s
  and at the window's ends; a process that exits is counted through its parent's
  cutime/cstime once reaped. Over the steady window (after `--warmup`): µs per
  message published, % of one core, and the share of each process;
- alert latency: each geofence alert's frame on the NOC feed (the WebSocket gateway,
  an admin token for every tenant, positions taken and acknowledged as the NOC page
  does; the client runs in a process of its own) minus the fix's `ts`; a crossing that
  repeats an open alert (same guard and zone within the dedup window) arrives as its
  `repeated` event and counts the same;
- critical lane: each panic's publish (handed to the socket) -> its alert frame;
- lost: messages the broker acknowledged (PUBACK) that are not in the lake (distinct
  `msg_key`s in storage.catalog's views, counted again once vigil has stopped), and
  alerts: every alert the workload calls for (their ids are computed with
  core.alerts.make_alert) seen once, none unexpected.

Reference, in the same run once vigil has stopped: the same paced mix through a
Mosquitto of vigil's configuration (cli.broker) to a bare paho subscriber that decodes
every message and checks each fix against its guard's zone (a box): CPU per message
of broker and subscriber, its crossing and panic latency (now - `ts`).

    .venv/bin/python bench/load.py --rate 2000 --seconds 60
    .venv/bin/python bench/load.py --sweep          # 500 ... msg/s, until one fails

Sustainable: every alert right, alert p99 <= 500 ms, nothing lost. docs/performance.md
explains the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import shapely
import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.mqttload import Schedule, login_env, packet_id, publish_packet  # noqa: E402
from bench.stats import summary  # noqa: E402
from core.alerts import AlertKind, make_alert  # noqa: E402
from core.broker import BrokerAddress  # noqa: E402
from core.credentials import INGEST, SIMULATOR, Credentials  # noqa: E402
from core.fleet import Fleet, Guard, Sensor, Site, load_fleet  # noqa: E402
from simulator.fleet import simulated_fleet  # noqa: E402
from simulator.phones import Phones  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PYTHON = ROOT / ".venv" / "bin" / "python"
MQTTLOAD = ROOT / "bench" / "mqttload.py"
OSMANDLOAD = ROOT / "bench" / "osmandload.py"
#: A plan's "topic" for a Traccar Client request of the device that follows.
HTTP = "http:"
SWEEP = [500, 1000, 2000, 3000, 5000, 7500, 10000, 15000]
TABLES = ("guard_locations", "device_telemetry", "sensor_readings", "device_events")
CLEARANCE_M = 60.0  # every fix this far from every zone border: never "unsure"
SUSTAINABLE_P99_MS = 500.0
IN_WINDOW = "WHERE epoch_us(ts) BETWEEN ? AND ?"
#: The alerts this workload raises; any other alert of these kinds is unexpected.
OUR_KINDS = {str(AlertKind.GEOFENCE_EXIT), str(AlertKind.GEOFENCE_ENTER), str(AlertKind.PANIC)}
CLK = os.sysconf("SC_CLK_TCK")
ACKED = re.compile(r'\[\{"type":"positions","v":(\d+)')
console = Console(stderr=True)


# -- the workload -------------------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    outside: float = 0.01  # share of fixes outside the guard's zone
    telemetry: float = 0.15  # share of messages that are device telemetry
    readings: float = 0.05  # ... sensor readings; the rest are fixes
    panic_every_s: float = 2.0
    # The fixes around an excursion are this far apart at least (s): ingest runs in parallel,
    # and a fix overtaking an older one of the same guard hides that one (docs/geofence.md).
    excursion_s: float = 1.0  # outside -> back inside
    settle_s: float = 0.5  # last inside -> outside


@dataclass
class Spot:
    """Where a site's guards stand: fixes inside exactly `zones_in`, fixes outside all."""

    inside: list[tuple[float, float]]
    outside: list[tuple[float, float]]
    zones_in: frozenset[str]
    box: tuple[float, float, float, float]  # (min lon, min lat, max lon, max lat), main zone


@dataclass
class GuardState:
    guard: Guard
    spot: Spot
    zones: frozenset[str] | None = None  # None until its first fix
    not_before: float = 0.0  # its next fix no sooner than this
    leaving: bool = False  # its next fix is outside
    seq: int = 0
    at: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class Expected:
    kind: str
    entity: str
    ts: float  # epoch s of the triggering message


@dataclass
class Plan:
    """One step's traffic: a schedule per publisher, and what vigil should make of it."""

    start: float
    end: float
    schedules: list[Schedule]
    tables: list[list[str]]  # per publisher, the table of each message, in sending order
    expected: dict[str, Expected]  # alert_id -> what raised it
    panics: set[str]  # alert ids of the panics
    http: int = 0  # the last this many schedules are HTTP requests (bench/osmandload.py)

    def published_between(self, t0: float, t1: float) -> int:
        return sum(sum(1 for d in s.dues if t0 <= d < t1) for s in self.schedules)

    @property
    def total(self) -> int:
        return sum(len(s.dues) for s in self.schedules)


def spot_of(site: Site) -> Spot:
    """Points well inside the site's first Polygon zone (and in no other zone but the
    ones they are in by far), and points well outside every zone."""
    main = next(z for z in site.zones if z.geometry["type"] == "Polygon")
    ring = main.geometry["coordinates"][0]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    box = (min(lons), min(lats), max(lons), max(lats))
    lon0, lat0 = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    kx, ky = 111_320.0 * math.cos(math.radians(lat0)), 110_574.0  # metres per degree
    shapes = {}
    for zone in site.zones:
        coords = zone.geometry["coordinates"]
        if zone.geometry["type"] == "Point":
            centre = shapely.Point((coords[0] - lon0) * kx, (coords[1] - lat0) * ky)
            shapes[zone.id] = centre.buffer(zone.radius_m or 0.0)
        else:
            rings = [[((x - lon0) * kx, (y - lat0) * ky) for x, y in r] for r in coords]
            shapes[zone.id] = shapely.Polygon(rings[0], holes=rings[1:])

    def membership(lat: float, lon: float) -> frozenset[str] | None:
        point = shapely.Point((lon - lon0) * kx, (lat - lat0) * ky)
        if any(s.boundary.distance(point) < CLEARANCE_M for s in shapes.values()):
            return None  # too near a border: a fix there might be "unsure"
        return frozenset(zid for zid, s in shapes.items() if s.contains(point))

    hx, hy = (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
    grid = [(-0.25, -0.25), (-0.25, 0.25), (0.25, -0.25), (0.25, 0.25), (0, 0), (0.1, -0.2)]
    inside = [(lat0 + fy * hy, lon0 + fx * hx) for fx, fy in grid]
    outside = [(box[3] + 1.2 * hy, lon0 + fx * hx) for fx in (-0.3, 0.0, 0.3)]
    inside = [p for p in inside if membership(*p) == frozenset({main.id})]
    outside = [p for p in outside if membership(*p) == frozenset()]
    if not inside or not outside:
        raise SystemExit(f"site {site.id}: no fix well inside / outside zone {main.id}")
    return Spot(inside, outside, frozenset({main.id}), box)


def bench_fleet(guards: int, owntracks: float = 0.0) -> tuple[Fleet, list[Guard], list[Sensor]]:
    """The sample fleet plus `guards` simulated guards and one temperature sensor per ten;
    `owntracks` % of their devices OwnTracks phones."""
    every = round(100 / owntracks) if owntracks else 0
    base = simulated_fleet(load_fleet(ROOT / "fleet" / "sample.yaml"), guards, every)
    ours = [g for g in base.guards if g.id.startswith("sim-guard-")]
    sites = sorted({g.site_id for g in ours})
    sensors = [
        Sensor(id=f"load-temp-{n:04d}", site_id=sites[n % len(sites)], kind="temperature")
        for n in range(1, max(1, guards // 10) + 1)
    ]
    return base.adding(sensors=sensors), ours, sensors


def write_fleet(fleet: Fleet, path: Path) -> None:
    path.write_text(yaml.safe_dump(msgspec.to_builtins(fleet), sort_keys=False))


class Workload:
    """The generator: keeps every entity's state (zones, seq, battery) across steps, so
    the steps of a sweep continue one stream."""

    def __init__(
        self,
        fleet: Fleet,
        guards: list[Guard],
        sensors: list[Sensor],
        mix: Mix,
        pubs: int,
        phones: Phones | None = None,
    ) -> None:
        self.mix = mix
        self.pubs = pubs
        #: Devices speaking OwnTracks (over MQTT) and Traccar Client (over HTTP, one more
        #: schedule: bench/osmandload.py), and the passwords the latter log in with.
        self.phones = phones or Phones(Fleet())
        self.schedules = pubs + (1 if self.phones.osmand else 0)
        self.password_of: Callable[[str], str] = lambda _device: ""
        self.rng = random.Random(12)
        sites = {s.id: s for s in fleet.sites}
        spots = {site_id: spot_of(sites[site_id]) for site_id in {g.site_id for g in guards}}
        self.guards = {g.id: GuardState(g, spots[g.site_id]) for g in guards}
        self.queue: deque[GuardState] = deque(self.guards.values())
        self.devices = [g.device_id or g.id for g in guards]
        self.sensors = sensors
        self.seq: Counter[str] = Counter()
        self.battery = dict.fromkeys(self.devices, 95.0)
        self.counters = Counter[str]()
        self.pending = 0  # excursions drawn but not made yet
        self.panicked = 0

    def zones(self) -> dict[str, list[float]]:
        """Each guard's main zone as a box, for the reference subscriber."""
        return {g: list(s.spot.box) for g, s in self.guards.items()}

    def plan(self, rate: float, seconds: float, start: float) -> Plan:
        n = int(rate * seconds)
        dues: list[list[float]] = [[] for _ in range(self.schedules)]
        packets: list[list[bytes]] = [[] for _ in range(self.schedules)]
        tables: list[list[str]] = [[] for _ in range(self.schedules)]
        timed: list[dict[int, str]] = [{} for _ in range(self.schedules)]
        expected: dict[str, Expected] = {}
        panics: set[str] = set()
        every = max(1, round(self.mix.panic_every_s * rate))
        for i in range(n):
            due = start + i / rate
            text = f"{due:.6f}"
            ts_us = int(float(text) * 1_000_000)
            if i % every == every // 2:
                entity, topic, body, table, alerts = self._panic(text, ts_us)
                panics.update(alert_id for alert_id, _, _ in alerts)
            else:
                pick = self.rng.random()
                if pick < self.mix.telemetry:
                    entity, topic, body, table, alerts = self._telemetry(text)
                elif pick < self.mix.telemetry + self.mix.readings:
                    entity, topic, body, table, alerts = self._reading(text)
                else:
                    entity, topic, body, table, alerts = self._fix(due, text, ts_us)
            for alert_id, kind, who in alerts:
                expected[alert_id] = Expected(kind, who, ts_us / 1e6)
            p = zlib.crc32(entity.encode()) % self.pubs
            if topic.startswith(HTTP):  # a Traccar Client request, not an MQTT message
                p, device = self.pubs, topic[len(HTTP) :]
                packet = b"\0".join([device.encode(), self.password_of(device).encode(), body])
            else:
                packet = publish_packet(topic, body, packet_id(len(dues[p])))
            if alerts and table == "device_events":
                timed[p][len(dues[p])] = alerts[0][0]
            packets[p].append(packet)
            dues[p].append(due)
            tables[p].append(table)
        schedules = [Schedule(dues[p], packets[p], timed[p]) for p in range(self.schedules)]
        http = self.schedules - self.pubs
        return Plan(start, start + seconds, schedules, tables, expected, panics, http)

    def _next_seq(self, entity: str) -> int:
        self.seq[entity] += 1
        return self.seq[entity]

    def _fix(self, due: float, text: str, ts_us: int) -> Any:
        for _ in range(len(self.queue)):
            state = self.queue.popleft()
            self.queue.append(state)
            if state.not_before <= due:
                break
        guard, spot = state.guard, state.spot
        device = guard.device_id or ""
        phone = self.phones.owntracks.get(device)
        if phone is not None:  # OwnTracks' `tst` is whole seconds: one fix a second at most
            ts_us = int(due) * 1_000_000
            state.not_before = max(state.not_before, math.floor(due) + 1.0)
        elif device in self.phones.osmand:  # Traccar Client's timestamp: milliseconds
            ts_us = int(due * 1000) * 1000
        if self.rng.random() < self.mix.outside:  # a random guard, not every 100th fix's
            self.pending += 1
        if state.leaving:  # its last fix inside was `settle_s` ago at least: out now
            state.leaving = False
            lat, lon = self.rng.choice(spot.outside)
            zones: frozenset[str] = frozenset()
            state.not_before = max(state.not_before, due + self.mix.excursion_s)
        else:
            lat, lon = self.rng.choice(spot.inside)
            zones = spot.zones_in
            if self.pending and state.zones == spot.zones_in:  # this one goes out next
                self.pending -= 1
                state.leaving = True
                state.not_before = max(state.not_before, due + self.mix.settle_s)
        alerts = []
        if state.zones is not None and zones != state.zones:
            for zone_id in sorted(zones ^ state.zones):
                kind = AlertKind.GEOFENCE_ENTER if zone_id in zones else AlertKind.GEOFENCE_EXIT
                alert = make_alert(
                    kind,
                    entity_id=guard.id,
                    client_id=guard.client_id,
                    site_id=guard.site_id,
                    ts=ts_us,
                    scope=zone_id,
                )
                alerts.append((alert.alert_id, str(kind), guard.id))
        state.zones, state.at = zones, (lat, lon)
        heading = self.rng.randrange(360)
        if phone is not None:
            location = f'"lat": {lat:.6f}, "lon": {lon:.6f}, "acc": 5, "vel": 4, "cog": {heading}'
            body = f'{{"_type": "location", {location}, "tst": {int(due)}}}'
            return guard.id, f"owntracks/{phone}", body.encode(), "guard_locations", alerts
        if device in self.phones.osmand:
            query = f"id={device}&lat={lat:.6f}&lon={lon:.6f}&timestamp={ts_us // 1000}"
            query += f"&accuracy=5&speed=2.3&bearing={heading}"
            return guard.id, HTTP + device, query.encode(), "guard_locations", alerts
        body = (
            f'{{"lat": {lat:.6f}, "lon": {lon:.6f}, "accuracy": 5.0, "speed": 1.2, '
            f'"heading": {heading}, "seq": {self._next_seq(guard.id)}, '
            f'"ts": {text}}}'
        )
        return guard.id, f"guard/{guard.id}/gps", body.encode(), "guard_locations", alerts

    def _telemetry(self, text: str) -> Any:
        self.counters["telemetry"] += 1
        device = self.devices[self.counters["telemetry"] % len(self.devices)]
        self.battery[device] = max(60.0, self.battery[device] - 0.01)
        body = (
            f'{{"battery": {self.battery[device]:.2f}, "signal": {-70 - self.rng.randrange(10)}, '
            f'"temperature": {30 + self.rng.random() * 3:.1f}, "seq": {self._next_seq(device)}, '
            f'"ts": {text}}}'
        )
        return device, f"device/{device}/telemetry", body.encode(), "device_telemetry", []

    def _reading(self, text: str) -> Any:
        self.counters["readings"] += 1
        sensor = self.sensors[self.counters["readings"] % len(self.sensors)]
        body = (
            f'{{"kind": "temperature", "value": {22 + self.rng.random() * 4:.2f}, '
            f'"seq": {self._next_seq(sensor.id)}, "ts": {text}}}'
        )
        return sensor.id, f"sensor/{sensor.id}/reading", body.encode(), "sensor_readings", []

    def _panic(self, text: str, ts_us: int) -> Any:
        """A panic from the next guard's device: a guard presses once per run, so every
        panic is a new alert (a repeat within the dedup window would only count)."""
        state = list(self.guards.values())[self.panicked % len(self.guards)]
        self.panicked += 1
        guard = state.guard
        device = guard.device_id or guard.id
        lat, lon = state.at if state.zones is not None else state.spot.inside[0]
        http = device in self.phones.osmand
        if http:  # Traccar Client's alarm: a fix with `alarm`, its timestamp in ms
            ts_us = int(float(text) * 1000) * 1000
        alert = make_alert(
            AlertKind.PANIC,
            entity_id=guard.id,
            client_id=guard.client_id,
            site_id=guard.site_id,
            ts=ts_us,
            scope=device,
            device_id=device,
        )
        body = (
            f'{{"type": "panic", "lat": {lat:.6f}, "lon": {lon:.6f}, '
            f'"seq": {self._next_seq(device)}, "ts": {text}}}'
        )
        alerts = [(alert.alert_id, str(AlertKind.PANIC), guard.id)]
        if http:
            query = f"id={device}&lat={lat:.6f}&lon={lon:.6f}&timestamp={ts_us // 1000}"
            return device, HTTP + device, f"{query}&alarm=panic".encode(), "device_events", alerts
        return device, f"device/{device}/alert", body.encode(), "device_events", alerts


# -- vigil, as an operator runs it ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Vigil:
    """`vigil up` in a subprocess of its own, on free ports, with its own data dir."""

    READY = "press Ctrl-C to stop"

    def __init__(self, folder: Path, fleet: Path) -> None:
        self.data = folder / "data"
        self.log = folder / "vigil-up.log"
        self.fleet = fleet
        self.ports = {
            name: free_port() for name in ("mqtt", "http", "ws", "osmand", "ray-dashboard")
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.command: list[str] = []

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 240.0) -> float:
        """Start and wait for "ready"; returns the seconds it took."""
        command = [
            str(PYTHON), "-m", "cli.main", "up",
            "--data", str(self.data), "--fleet", str(self.fleet),
            "--mqtt-port", str(self.ports["mqtt"]), "--http-port", str(self.ports["http"]),
            "--ws-port", str(self.ports["ws"]), "--osmand-port", str(self.ports["osmand"]),
            "--ray-dashboard-port", str(self.ports["ray-dashboard"]),
        ]  # fmt: skip
        self.command = [str(Path(command[0]).relative_to(ROOT)), *command[1:]]
        started = time.monotonic()
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        while time.monotonic() - started < timeout:
            text = self.log.read_text(errors="replace")
            if self.READY in text:
                return time.monotonic() - started
            if self.process.poll() is not None:
                raise SystemExit(f"vigil up exited with {self.process.returncode}:\n{text[-3000:]}")
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"vigil up not ready after {timeout:.0f} s; see {self.log}")

    def token(self) -> str:
        command = [
            str(PYTHON), "-m", "cli.main", "token", "create",
            "--role", "admin", "--tenant", "*", "--data", str(self.data),
        ]  # fmt: skip
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
        return done.stdout.strip().splitlines()[-1]

    def stop(self, timeout: float = 120.0) -> float:
        """SIGTERM, as Ctrl-C would; wait for it to exit; returns the seconds it took."""
        if self.process is None or self.process.poll() is not None:
            return 0.0
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            console.print(f"[red]vigil up did not stop within {timeout:.0f} s: killed[/]")
            self.process.kill()
            self.process.wait()
        return time.monotonic() - started


# -- CPU of a process tree, from /proc ------------------------------------------------------


def read_proc() -> dict[int, tuple[int, int, int, str]]:
    """Every process: pid -> (ppid, own ticks, reaped children's ticks, comm)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[0] is state (field 3); utime, stime, cutime, cstime are fields 14-17
        own = int(fields[11]) + int(fields[12])
        found[int(entry)] = (int(fields[1]), own, int(fields[13]) + int(fields[14]), comm)
    return found


def label_of(pid: int, comm: str) -> str:
    """A readable name: Ray's worker titles (ray::IngestActor), else the program or script."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return comm
    words = [a.decode(errors="replace") for a in argv if a]
    if not words:
        return comm
    first = words[0]
    if first.startswith("ray") and not first.startswith("raylet"):  # a process title
        name = first.split(" (")[0].split(" ")[0]
        if name.startswith("ray-dashboard-"):
            return "ray-dashboard-* (the dashboard's modules)"
        return name.split(".")[0] if name.startswith("ray::") else name
    program = Path(first).name
    if program.startswith("python") and "-c" in words:
        return "python -c " + words[words.index("-c") + 1][:40]
    if program.startswith("python"):
        rest = [w for w in words[1:] if not w.startswith("-")]
        if "-m" in words:
            return " ".join(words[words.index("-m") + 1 : words.index("-m") + 3])
        return Path(rest[0]).name if rest else program
    return program


def start_time(pid: int) -> int:
    """A process's start time (field 22 of its stat), 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat[stat.rindex(")") + 2 :].split()[19])


@dataclass
class Sample:
    at: float
    total: int  # ticks of the tree, reaped children included
    own: dict[int, int]  # pid -> own ticks


class TreeCpu:
    """Samples a process and all its descendants every `every` s (and on demand)."""

    def __init__(self, root: int, every: float = 0.5) -> None:
        self.root = root
        self.every = every
        self.labels: dict[int, str] = {}
        self.last: dict[int, int] = {}  # a pid's own ticks when last seen
        self.started: dict[int, int] = {}  # pid -> its start time (ticks after boot)
        self.series: list[tuple[float, int]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-cpu", daemon=True)

    def start(self) -> TreeCpu:
        self.sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def sample(self) -> Sample:
        procs = read_proc()
        children: dict[int, list[int]] = {}
        for pid, (ppid, *_rest) in procs.items():
            children.setdefault(ppid, []).append(pid)
        tree, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            if pid in procs:
                tree.append(pid)
                todo.extend(children.get(pid, []))
        with self._lock:
            own = {}
            for pid in tree:
                if pid not in self.started:
                    self.started[pid] = start_time(pid)
                own[pid] = procs[pid][1]
                self.last[pid] = own[pid]
                label = label_of(pid, procs[pid][3])  # again: a worker becomes an actor
                if label != "ray::IDLE" or pid not in self.labels:
                    self.labels[pid] = label
            sample = Sample(time.time(), sum(procs[p][1] + procs[p][2] for p in tree), own)
            self.series.append((sample.at, sample.total))
        return sample

    def survivors(self) -> list[tuple[int, str]]:
        """Processes of the tree that still run (same pid, same start time)."""
        alive = []
        with self._lock:
            for pid, started in self.started.items():
                if start_time(pid) == started:
                    alive.append((pid, self.labels.get(pid, "")))
        return alive

    def pss_by_process(self, sample: Sample, field: str = "Pss") -> dict[str, float]:
        """Proportional set size (MB; shared pages split among the processes) per process
        label, largest first; `field="Rss"`: resident set size instead."""
        per: Counter[str] = Counter()
        for pid in sample.own:
            try:
                text = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue
            kb = sum(
                int(line.split()[1]) for line in text.splitlines() if line.startswith(f"{field}:")
            )
            with self._lock:
                per[self.labels.get(pid, str(pid))] += kb / 1024
        return {label: round(mb, 1) for label, mb in per.most_common()}

    def processes(self) -> list[str]:
        with self._lock:
            return [f"{pid} {label}" for pid, label in sorted(self.labels.items())]

    def window(self, s0: Sample, s1: Sample) -> dict[str, Any]:
        """CPU seconds between two samples, in all and per process label."""
        per: Counter[str] = Counter()
        with self._lock:
            for pid in set(s0.own) | set(s1.own):
                now = s1.own.get(pid, self.last.get(pid, 0))
                per[self.labels.get(pid, str(pid))] += now - s0.own.get(pid, 0)
        total = (s1.total - s0.total) / CLK
        seconds = s1.at - s0.at
        by = {k: round(100 * v / CLK / seconds, 1) for k, v in per.most_common() if v}
        return {"cpu_s": total, "seconds": seconds, "pct_by_process": by}


# -- the NOC feed ----------------------------------------------------------------------------


class Feed:
    """One NOC client on the live feed, in a process of its own (so that nothing the bench
    does meanwhile delays it): notes when each alert (or repeat) frame arrived.

    It takes positions and acknowledges them, as the NOC page does (ack=1)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.arrivals: dict[str, float] = {}  # alert id (or a repeat's ref) -> first arrival
        self.about: dict[str, tuple[str, str]] = {}  # the same id -> (kind, entity)
        self.extra: list[tuple[str, float]] = []  # (id, arrival) of frames beyond the first
        self.reconnects = 0
        self.ready = threading.Event()
        context = multiprocessing.get_context("spawn")
        self._events: Any = context.Queue()
        self._stop = context.Event()
        self._process = context.Process(
            target=listen, args=(url, self._events, self._stop), name="feed", daemon=True
        )
        self._reader = threading.Thread(target=self._read, name="feed-reader", daemon=True)

    def start(self, timeout: float = 60.0) -> Feed:
        self._process.start()
        self._reader.start()
        if not self.ready.wait(timeout):
            raise SystemExit(f"no hello from the feed within {timeout:.0f} s")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
        self._events.put(None)
        self._reader.join(10)

    def _read(self) -> None:
        while (event := self._events.get()) is not None:
            what, key, kind, entity, at = event
            if what == "hello":
                self.ready.set()
            elif what == "closed":
                self.reconnects += 1
                console.print(f"[yellow]feed closed ({key}); reconnecting[/]")
            elif key in self.arrivals:
                self.extra.append((key, at))
            else:
                self.arrivals[key] = at
                self.about[key] = (kind, entity)


def listen(url: str, events: Any, stop: Any) -> None:
    """The feed process: read frames, report each alert's arrival; after a close,
    reconnect from the last seq seen (as the page does)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    seq, epoch = 0, ""

    def note(frame: dict[str, Any], now: float) -> None:
        nonlocal seq, epoch
        kind, data = frame.get("type"), frame.get("data") or {}
        if kind == "hello":
            epoch = data.get("epoch", "")
            events.put(("hello", "", "", "", now))
            return
        seq = max(seq, int(frame.get("seq") or 0))
        key = ""
        if kind == "alert":
            key = data.get("alert_id", "")
        elif kind == "alert_event" and data.get("type") == "repeated":
            key = data.get("ref", "")  # the repeat of an open alert: the new occurrence's id
        if key:
            events.put(("alert", key, str(data.get("kind")), str(data.get("entity_id")), now))

    async def read() -> None:
        while True:
            resume = f"&since={seq}&epoch={epoch}" if seq else ""
            try:
                async with connect(url + resume, max_size=None, compression=None) as ws:
                    async for text in ws:
                        now = time.time()
                        assert isinstance(text, str)
                        acked = ACKED.match(text)
                        if acked:
                            await ws.send('{"type":"ack","v":' + acked.group(1) + "}")
                            continue
                        for frame in json.loads(text):
                            note(frame, now)
            except (ConnectionClosed, OSError) as exc:
                events.put(("closed", repr(exc), "", "", time.time()))
            await asyncio.sleep(0.5)

    async def main() -> None:
        task = asyncio.create_task(read())
        while not stop.is_set():
            await asyncio.sleep(0.2)
        task.cancel()

    asyncio.run(main())


# -- one step -------------------------------------------------------------------------------


@dataclass
class Step:
    rate: float
    plan: Plan
    window: tuple[float, float]
    published: int = 0
    cpu: dict[str, Any] = field(default_factory=dict)
    pubs: list[dict[str, Any]] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)  # RSS samples in the window
    done_at: float = 0.0  # when its alerts and its rows were all in (or the drain gave up)


def publishers(
    plan: Plan, broker: BrokerAddress, folder: Path, tag: str, osmand_url: str = ""
) -> list[subprocess.Popen[bytes]]:
    """One raw publisher process per schedule, logged in as `broker` says."""
    procs = []
    env = login_env(broker.username, broker.password)
    for p, schedule in enumerate(plan.schedules):
        path = folder / f"{tag}-pub{p}.pickle"
        schedule.save(path)
        command = [
            str(PYTHON), str(MQTTLOAD), "publish", "--port", str(broker.port),
            "--schedule", str(path), "--out", str(path.with_suffix(".json")),
            "--client-id", f"vigil-load-{tag}-{p}",
        ]  # fmt: skip
        if p >= len(plan.tables) - plan.http:  # Traccar Client phones: HTTP to the ingress
            command = [str(PYTHON), str(OSMANDLOAD), "--url", osmand_url, *command[5:9]]
        procs.append(subprocess.Popen(command, cwd=ROOT, env=env))
    return procs


def collect(procs: list[subprocess.Popen[bytes]], folder: Path, tag: str) -> list[dict[str, Any]]:
    results = []
    for p, proc in enumerate(procs):
        if proc.wait(300) != 0:
            raise SystemExit(f"publisher {p} exited with {proc.returncode}")
        results.append(json.loads((folder / f"{tag}-pub{p}.json").read_text()))
    return results


def lead_s(messages: float) -> float:
    """How far ahead to plan the start: the payloads carry their due time as `ts`, so the
    plan is made first (~20 µs a message), then the publishers start and connect."""
    return 3.0 + 50e-6 * messages


def sleep_until(when: float) -> None:
    time.sleep(max(0.0, when - time.time()))


def run_step(
    work: Workload,
    cpu: TreeCpu,
    broker: BrokerAddress,
    rate: float,
    args: argparse.Namespace,
    tag: str,
) -> Step:
    start = time.time() + lead_s(rate * args.seconds)
    plan = work.plan(rate, args.seconds, start)
    osmand = f"http://127.0.0.1:{args.osmand_port}/" if plan.http else ""
    procs = publishers(plan, broker, args.tmp, tag, osmand)
    t0, t1 = start + args.warmup, start + args.seconds
    step = Step(rate, plan, (t0, t1), plan.published_between(t0, t1))
    sleep_until(t0)
    s0, p0 = cpu.sample(), sum(proc_ticks(p.pid) for p in procs)
    every = getattr(args, "memory_every", 0.0)  # bench/soak.py: memory over the window
    step.memory = []
    while every and time.time() + every < t1:
        time.sleep(every)
        rss = cpu.pss_by_process(cpu.sample(), "Rss")
        step.memory.append({"at_s": round(time.time() - t0, 1), "rss_mb": rss})
    sleep_until(t1)
    s1, p1 = cpu.sample(), sum(proc_ticks(p.pid) for p in procs)
    step.cpu = cpu.window(s0, s1)
    step.cpu["pss_by_process"] = cpu.pss_by_process(s1)
    step.cpu["pss_mb"] = round(sum(step.cpu["pss_by_process"].values()))
    step.cpu["processes"] = len(s1.own)
    step.cpu["publishers_pct"] = round(100 * (p1 - p0) / CLK / (s1.at - s0.at), 1)
    step.pubs = collect(procs, args.tmp, tag)
    return step


def wait_alerts(feed: Feed, step: Step, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and not all(a in feed.arrivals for a in step.plan.expected):
        time.sleep(0.2)


def lake_counts(data: Path, windows: list[tuple[float, float]]) -> list[dict[str, int]]:
    """Distinct messages per table whose `ts` falls in each window (one snapshot)."""
    from storage.catalog import Catalog

    catalog = Catalog(data)
    try:
        catalog.refresh()
        found = []
        for t0, t1 in windows:
            lo, hi = int(t0 * 1e6), int(t1 * 1e6)
            row = {}
            for table in TABLES:
                sql = f"SELECT count(DISTINCT msg_key) FROM {table} {IN_WINDOW}"
                row[table] = int(catalog.con.execute(sql, [lo, hi]).fetchone()[0])  # type: ignore[index]
            found.append(row)
        return found
    finally:
        catalog.close()


def acked_by_table(step: Step) -> Counter[str]:
    acked: Counter[str] = Counter()
    for tables, result in zip(step.plan.tables, step.pubs, strict=True):
        if "acked_index" in result:  # HTTP requests, answered out of order
            acked.update(tables[i] for i in result["acked_index"])
        else:
            acked.update(tables[: result["acked"]])  # the broker acknowledges in order
    return acked


def wait_lake(data: Path, step: Step, timeout: float) -> None:
    want = acked_by_table(step)
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = lake_counts(data, [(step.plan.start - 1, step.plan.end + 1)])[0]
        if all(got[t] >= n for t, n in want.items()):
            return
        time.sleep(1.0)


def unexpected(step: Step, feed: Feed, known: set[str]) -> tuple[list[tuple[str, str]], int]:
    """(kind, guard) of the alerts of the workload's kinds and guards arriving during the
    step that no message called for, and how many frames repeated an id already seen."""
    t0, t1 = step.plan.start, step.done_at
    odd = [
        feed.about[key]
        for key, at in feed.arrivals.items()
        if t0 <= at <= t1
        and key not in known
        and feed.about[key][0] in OUR_KINDS
        and feed.about[key][1].startswith("sim-guard-")
    ]
    again = sum(1 for _, at in feed.extra if t0 <= at <= t1)
    return odd, again


def results(step: Step, feed: Feed, lake: dict[str, int], known: set[str]) -> dict[str, Any]:
    plan = step.plan
    sent_at = {k: v for r in step.pubs for k, v in r["sent_at"].items()}
    geo, crit = [], []
    by_10s: dict[int, list[float]] = {}  # alert latencies by 10 s of the run: a backlog grows
    for alert_id, exp in plan.expected.items():
        arrived = feed.arrivals.get(alert_id)
        if arrived is None:
            continue
        if alert_id in plan.panics:
            if alert_id in sent_at:
                crit.append(1000 * (arrived - sent_at[alert_id]))
        else:
            geo.append(1000 * (arrived - exp.ts))
            by_10s.setdefault(int((exp.ts - plan.start) // 10), []).append(geo[-1])
    seen = sum(1 for a in plan.expected if a in feed.arrivals)
    missing = [e for a, e in plan.expected.items() if a not in feed.arrivals]
    acked = acked_by_table(step)
    lost = sum(max(0, n - lake.get(t, 0)) for t, n in acked.items())
    alerts, critical = summary(geo), summary(crit)
    cpu_s = step.cpu["cpu_s"]
    row = {
        "rate": step.rate,
        "seconds": round(plan.end - plan.start, 1),
        "cpu_us_per_msg": round(cpu_s / max(1, step.published) * 1e6, 1),
        "cpu_pct_one_core": round(100 * cpu_s / step.cpu["seconds"], 1),
        "p50_alert_ms": alerts["p50_ms"],
        "p99_alert_ms": alerts["p99_ms"],
        "max_alert_ms": alerts["max_ms"],
        "p50_alert_ms_by_10s": [summary(by_10s[k])["p50_ms"] for k in sorted(by_10s)],
        "critical_p50_ms": critical["p50_ms"],
        "critical_p99_ms": critical["p99_ms"],
        "critical_max_ms": critical["max_ms"],
        "lost": lost,
        "published": plan.total,
        "acked": sum(r["acked"] for r in step.pubs),
        "in_lake": sum(lake.values()),
        "alerts_expected": len(plan.expected),
        "alerts_seen": seen,
        "geofence_alerts": len(geo),
        "panics": len(crit),
        "publisher_lag_p99_ms": max(r["lag_p99_ms"] for r in step.pubs),
        "publishers_pct_one_core": step.cpu["publishers_pct"],  # not counted as vigil's
        "cpu_window_s": round(step.cpu["seconds"], 1),
        "memory_pss_mb": step.cpu["pss_mb"],  # every process of the tree, at the window's end
        "memory_pss_mb_by_process": step.cpu["pss_by_process"],
        "memory_rss_series": step.memory,  # with memory_every (bench/soak.py), else empty
        "process_count": step.cpu["processes"],
        "cpu_pct_by_process": step.cpu["pct_by_process"],
    }
    odd, row["alerts_repeated_frames"] = unexpected(step, feed, known)
    row["alerts_unexpected"] = len(odd)
    # A missing crossing whose guard got an unexpected alert of its kind: raised on a later
    # fix, the crossing's own fix having been overtaken by a newer one (docs/geofence.md).
    later = Counter(odd)
    row["alerts_on_a_later_fix"] = 0
    for e in missing:
        if later[(e.kind, e.entity)]:
            later[(e.kind, e.entity)] -= 1
            row["alerts_on_a_later_fix"] += 1
    row["feed_reconnects"] = feed.reconnects
    row["missing_sample"] = [f"{e.kind} {e.entity} ts={e.ts:.6f}" for e in missing[:20]]
    row["alerts_right"] = (seen == len(plan.expected) and not odd) and not row[
        "alerts_repeated_frames"
    ]
    row["sustainable"] = bool(
        row["alerts_right"] and lost == 0 and alerts["p99_ms"] <= SUSTAINABLE_P99_MS
    )
    return row


# -- the reference ---------------------------------------------------------------------------


def proc_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(f) for f in fields[11:15])


def run_reference(work: Workload, rate: float, args: argparse.Namespace) -> dict[str, Any]:
    """The same paced mix to a Mosquitto of vigil's configuration and a bare subscriber."""
    from cli.broker import Mosquitto

    folder = args.tmp / f"ref-{rate:g}"
    # vigil's broker configuration, logins and ACLs included: the same cost per message.
    logins = Credentials(folder)
    broker = Mosquitto(folder / "broker", free_port(), accounts=logins.service_accounts()).start()
    assert broker.process is not None
    out = folder / "sub.json"
    zones = folder / "zones.json"
    zones.write_text(json.dumps(work.zones()))
    command = [str(PYTHON), str(MQTTLOAD), "subscribe", "--port", str(broker.port)]
    sub = subprocess.Popen(
        [*command, "--zones", str(zones), "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env=login_env(INGEST, logins.password(INGEST)),
    )
    try:
        assert sub.stdout is not None
        sub.stdout.readline()  # "subscribed"
        seconds = args.reference_seconds
        start = time.time() + lead_s(rate * seconds)
        plan = work.plan(rate, seconds, start)
        procs = publishers(plan, broker.login(SIMULATOR), folder, "ref")
        t0, t1 = start + min(args.warmup, seconds / 3), start + seconds
        sleep_until(t0)
        ticks0 = (proc_ticks(sub.pid), proc_ticks(broker.process.pid), time.time())
        sleep_until(t1)
        ticks1 = (proc_ticks(sub.pid), proc_ticks(broker.process.pid), time.time())
        pubs = collect(procs, folder, "ref")
        time.sleep(1.0)  # the last messages reach the subscriber
        sub.send_signal(signal.SIGTERM)
        sub.wait(30)
        got = json.loads(out.read_text())
    finally:
        if sub.poll() is None:
            sub.kill()
        broker.stop()
    published = plan.published_between(t0, t1)
    sub_s, broker_s = (ticks1[0] - ticks0[0]) / CLK, (ticks1[1] - ticks0[1]) / CLK
    wall = ticks1[2] - ticks0[2]
    crossings = summary([1000 * x for x in got["crossings"]])
    panics = summary([1000 * x for x in got["panics"]])
    return {
        "rate": rate,
        "seconds": seconds,
        "published": plan.total,
        "acked": sum(p["acked"] for p in pubs),
        "received": got["received"],
        "subscriber_us_per_msg": round(sub_s / max(1, published) * 1e6, 1),
        "broker_us_per_msg": round(broker_s / max(1, published) * 1e6, 1),
        "subscriber_pct_one_core": round(100 * sub_s / wall, 1),
        "broker_pct_one_core": round(100 * broker_s / wall, 1),
        "p50_crossing_ms": crossings["p50_ms"],
        "p99_crossing_ms": crossings["p99_ms"],
        "max_crossing_ms": crossings["max_ms"],
        "critical_p50_ms": panics["p50_ms"],
        "critical_p99_ms": panics["p99_ms"],
        "critical_max_ms": panics["max_ms"],
        "crossings": len(got["crossings"]),
    }


# -- the run ---------------------------------------------------------------------------------


def one_step(guards: int, seconds: float, prefix: str, **more: Any) -> argparse.Namespace:
    """This bench's options for one paced step and no reference run (bench/scale.py and
    bench/soak.py), `more` overriding them; a temporary folder of its own."""
    options = {
        "guards": guards,
        "outside": 0.01,
        "panic_every": 2.0,
        "warmup": 5.0,
        "publishers": 2,
        "owntracks": 0.0,
        "osmand": 0.0,
        "sweep": False,
        "sweep_all": False,
        "seconds": seconds,
        "reference_seconds": 0.0,
        "no_reference": True,
        "settle": 10.0,
        "drain": 60.0,
    }
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    return argparse.Namespace(**(options | more), tmp=tmp)


def run(args: argparse.Namespace, rates: list[float]) -> dict[str, Any]:
    fleet, guards, sensors = bench_fleet(args.guards, args.owntracks)
    fleet_path = args.tmp / "fleet.yaml"
    write_fleet(fleet, fleet_path)
    mix = Mix(outside=args.outside, panic_every_s=args.panic_every)
    phones = Phones(fleet, args.osmand)
    phones.osmand &= {g.device_id for g in guards}  # the workload's own guards' devices
    work = Workload(fleet, guards, sensors, mix, args.publishers, phones)
    vigil = Vigil(args.tmp, fleet_path)
    console.print(f"vigil up with {args.guards} guards (ports {vigil.ports})…")
    ready_s = vigil.start()
    console.print(f"ready in {ready_s:.1f} s")
    args.osmand_port = vigil.ports["osmand"]
    work.password_of = Credentials(vigil.data).password  # Traccar Client's logins
    # The load comes from the simulator's login, as `vigil up --simulate` sends it.
    simulator = Credentials(vigil.data).login(
        BrokerAddress("127.0.0.1", vigil.ports["mqtt"]), SIMULATOR
    )
    steps: list[Step] = []
    rows: list[dict[str, Any]] = []
    known: set[str] = set()
    cpu: TreeCpu | None = None
    try:
        token = vigil.token()
        feed = Feed(f"ws://127.0.0.1:{vigil.ports['ws']}/ws?token={token}&ack=1").start()
        cpu = TreeCpu(vigil.pid).start()
        time.sleep(args.settle)  # start-up work (compilation, first checkpoints) dies down
        idle0 = cpu.sample()
        time.sleep(5.0)
        idle = cpu.window(idle0, cpu.sample())
        processes = cpu.processes()
        for n, rate in enumerate(rates):
            console.print(f"vigil: {rate:g} msg/s for {args.seconds:g} s…")
            step = run_step(work, cpu, simulator, rate, args, f"s{n}")
            steps.append(step)
            wait_alerts(feed, step, args.drain)
            wait_lake(vigil.data, step, args.drain)
            step.done_at = time.time()
            known.update(step.plan.expected)
            lake = lake_counts(vigil.data, [(step.plan.start - 1, step.plan.end + 1)])[0]
            row = results(step, feed, lake, known)
            rows.append(row)
            console.print(_brief(row))
            if args.sweep and not row["sustainable"] and not args.sweep_all:
                break
        processes = sorted(set(processes) | set(cpu.processes()))
        cpu.stop()
        feed.stop()
    finally:
        stop_s = vigil.stop()
        left = cpu.survivors() if cpu else []
        deadline = time.time() + 10.0  # the dashboard's helpers end a moment after
        while left and time.time() < deadline and cpu:
            time.sleep(0.5)
            left = cpu.survivors()
        if left:  # what `vigil up` started and left behind: ours to end
            console.print(f"[red]still running after vigil up exited: {left}; terminated[/]")
            for pid, _ in left:
                os.kill(pid, signal.SIGTERM)
    # Counted again once vigil has stopped: what is in the lake for good.
    finals = lake_counts(vigil.data, [(s.plan.start - 1, s.plan.end + 1) for s in steps])
    for row, step, lake in zip(rows, steps, finals, strict=True):
        final = results(step, feed, lake, known)
        row["lost"], row["in_lake"] = final["lost"], final["in_lake"]
        row["sustainable"] = final["sustainable"]
        if not args.no_reference:  # once vigil is gone: the machine is the reference's alone
            console.print(f"reference: Mosquitto + bare subscriber at {step.rate:g} msg/s…")
            ref_work = Workload(fleet, guards, sensors, mix, args.publishers)
            row["reference"] = run_reference(ref_work, step.rate, args)
    return {
        "guards": args.guards,
        "outside_share": args.outside,
        "panic_every_s": args.panic_every,
        "publishers": args.publishers,
        "owntracks_pct": args.owntracks,  # of the guards' devices: OwnTracks phones (MQTT)
        "osmand_pct": args.osmand,  # ... Traccar Client phones (HTTP); the rest native
        "phones": {"owntracks": len(phones.owntracks), "osmand": len(phones.osmand)},
        "vigil_up": " ".join(vigil.command),
        "ready_s": round(ready_s, 1),
        "stop_s": round(stop_s, 1),
        "left_running": [f"{pid} {label}" for pid, label in left],
        "idle_cpu_pct_one_core": round(100 * idle["cpu_s"] / idle["seconds"], 1),
        "idle_pct_by_process": idle["pct_by_process"],
        "processes": processes,
        "rows": rows,
    }


def _brief(row: dict[str, Any]) -> str:
    return (
        f"  {row['rate']:g} msg/s: {row['cpu_us_per_msg']} µs/msg ({row['cpu_pct_one_core']} %), "
        f"alerts p99 {row['p99_alert_ms']} ms, critical p99 {row['critical_p99_ms']} ms, "
        f"alerts {row['alerts_seen']}/{row['alerts_expected']}, lost {row['lost']}"
    )


def table(result: dict[str, Any]) -> Table:
    out = Table(title=f"Paced load, {result['guards']} guards, QoS 1, this machine")
    for name in (
        "msg/s", "consumer", "CPU % of 1 core", "CPU µs/msg", "alert ms p50 / p99 / max",
        "critical ms p50 / p99 / max", "lost", "alerts seen",
    ):  # fmt: skip
        out.add_column(name, justify="left" if name == "consumer" else "right")
    for row in result["rows"]:
        out.add_row(
            f"{row['rate']:g}",
            "vigil (whole process tree)",
            f"{row['cpu_pct_one_core']}",
            f"{row['cpu_us_per_msg']}",
            f"{row['p50_alert_ms']} / {row['p99_alert_ms']} / {row['max_alert_ms']}",
            f"{row['critical_p50_ms']} / {row['critical_p99_ms']} / {row['critical_max_ms']}",
            f"{row['lost']}",
            f"{row['alerts_seen']} / {row['alerts_expected']}"
            + (f" (+{row['alerts_unexpected']} other)" if row["alerts_unexpected"] else ""),
        )
        ref = row.get("reference") or {}
        if ref:
            out.add_row(
                "",
                "reference: Mosquitto + bare paho",
                f"{ref['broker_pct_one_core']} + {ref['subscriber_pct_one_core']}",
                f"{ref['broker_us_per_msg']} + {ref['subscriber_us_per_msg']}",
                f"{ref['p50_crossing_ms']} / {ref['p99_crossing_ms']} / {ref['max_crossing_ms']}",
                f"{ref['critical_p50_ms']} / {ref['critical_p99_ms']} / {ref['critical_max_ms']}",
                f"{ref['published'] - ref['received']}",
                f"{ref['crossings']} crossings",
            )
    return out


def breakdown(result: dict[str, Any]) -> Table:
    out = Table(title="vigil's CPU by process (% of one core; idle = before the load)")
    out.add_column("process")
    out.add_column("idle", justify="right")
    rows = result["rows"]
    for row in rows:
        out.add_column(f"{row['rate']:g} msg/s", justify="right")
    names: Counter[str] = Counter()
    for row in rows:
        names.update(row["cpu_pct_by_process"])
    for name, _ in names.most_common():
        cells = [f"{row['cpu_pct_by_process'].get(name, 0)}" for row in rows]
        out.add_row(name, f"{result['idle_pct_by_process'].get(name, 0)}", *cells)
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    rates = [r["rate"] for r in rows]
    fig, left = plt.subplots(figsize=(8, 4.5))
    left.plot(rates, [r["p50_alert_ms"] for r in rows], "o-", label="alert p50")
    left.plot(rates, [r["p99_alert_ms"] for r in rows], "s-", label="alert p99")
    left.plot(rates, [r["critical_p99_ms"] for r in rows], "^--", label="critical (panic) p99")
    left.axhline(SUSTAINABLE_P99_MS, color="grey", linestyle=":", label="500 ms")
    left.set_yscale("log")
    left.set_xlabel("offered load (msg/s)")
    left.set_ylabel("latency to the NOC feed (ms)")
    right = left.twinx()
    right.plot(rates, [r["cpu_pct_one_core"] for r in rows], "k.-", label="vigil CPU")
    refs = [r.get("reference") or {} for r in rows]
    if all(refs):
        right.plot(
            rates,
            [x["subscriber_pct_one_core"] + x["broker_pct_one_core"] for x in refs],
            "k.:",
            label="reference CPU (broker + bare subscriber)",
        )
    right.set_ylabel("CPU (% of one core; the machine has 2)")
    right.set_ylim(0, 200)
    lines = left.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    left.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=8)
    best = result.get("max_sustainable_rate")
    left.set_title(
        f"bench/load.py: vigil, {result['guards']} guards; max sustainable: {best:g} msg/s"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=2000.0, help="msg/s offered")
    parser.add_argument(
        "--seconds", type=float, default=None, help="of load per rate (60; 30 per --sweep step)"
    )
    parser.add_argument("--guards", type=int, default=1000)
    parser.add_argument("--outside", type=float, default=0.01, help="share of fixes outside")
    parser.add_argument("--panic-every", type=float, default=2.0, help="s between panics")
    parser.add_argument("--warmup", type=float, default=5.0, help="s of load before the window")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes")
    parser.add_argument(
        "--owntracks", type=float, default=0.0, help="%% of devices that are OwnTracks phones"
    )
    parser.add_argument(
        "--osmand", type=float, default=0.0, help="%% of devices that are Traccar Client phones"
    )
    parser.add_argument("--sweep", action="store_true", help=f"rates {SWEEP} until one fails")
    parser.add_argument("--rates", default="", help="comma-separated rates for --sweep")
    parser.add_argument("--sweep-all", action="store_true", help="do not stop at a failure")
    parser.add_argument("--reference-seconds", type=float, default=20.0)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--settle", type=float, default=10.0, help="s idle after ready")
    parser.add_argument("--drain", type=float, default=60.0, help="s to wait for alerts, lake")
    parser.add_argument("--out", type=Path, default=RESULTS / "load.json")
    parser.add_argument("--png", type=Path, default=RESULTS / "load.png")
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    args = parser.parse_args()
    if args.sweep:
        rates = [float(r) for r in args.rates.split(",")] if args.rates else list(map(float, SWEEP))
    else:
        rates = [args.rate]
    if args.seconds is None:
        args.seconds = 30.0 if args.sweep else 60.0
    args.reference_seconds = min(args.reference_seconds, args.seconds)
    args.tmp = Path(tempfile.mkdtemp(prefix="vigil-load-"))
    try:
        result = run(args, rates)
    finally:
        if not args.keep:
            shutil.rmtree(args.tmp, ignore_errors=True)
        else:
            console.print(f"kept {args.tmp}")
    result["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["command"] = " ".join(sys.argv)
    out = Console(width=max(Console().width, 150))
    if args.sweep:
        good = [r["rate"] for r in result["rows"]]
        ok = 0.0
        for rate, row in zip(good, result["rows"], strict=True):
            if not row["sustainable"]:
                break
            ok = rate
        result["max_sustainable_rate"] = ok
    out.print(table(result))
    out.print(breakdown(result))
    if args.sweep:
        out.print(f"max sustainable rate: {result['max_sustainable_rate']:g} msg/s")
    single = result["rows"][0] if not args.sweep else {}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(single | result, indent=2) + "\n")
    out.print(f"written {args.out}")
    if args.sweep:
        plot(result, args.png)
        out.print(f"written {args.png}")


if __name__ == "__main__":
    main()
