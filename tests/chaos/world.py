"""The chaos run's fleet and the stream it publishes, with the ground truth of each message.

Guards `chaos-guard-NNNN` (devices `chaos-dev-NNNN`) patrol site-mg-road: `LEG` fixes in
the middle of the campus, then `LEG` fixes two kilometres north, and so on, so every
crossing is one exit or one enter even when a kill delays one fix behind a later one.
Each panic comes from a device that never panicked before, each smoke alarm from a sensor
that never alarmed, so each is exactly one alert (no dedup window joins two of them).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SITE = "site-mg-road"
INSIDE = (12.9716, 77.5946)
OUTSIDE = (12.9916, 77.5946)
LEG = 4  # fixes on each side of the fence
REPO = Path(__file__).resolve().parents[2]


def guard(n: int) -> str:
    return f"chaos-guard-{n:04d}"


def device(n: int) -> str:
    return f"chaos-dev-{n:04d}"


def fleet_file(path: Path, guards: int, smoke: int, smtp_port: int, http_port: int) -> Path:
    """The sample fleet plus the chaos entities; tenant 1's critical alerts go to a webhook
    and to one mailbox."""
    fleet = yaml.safe_load((REPO / "fleet" / "sample.yaml").read_text())
    mail = "from=vigil@chaos.example&to=noc@chaos.example&mode=insecure"
    fleet["tenants"][0]["channels"] = [
        {"id": "webhook", "url": f"json://127.0.0.1:{http_port}/chaos", "severities": ["critical"]},
        {
            "id": "email",
            "url": f"mailto://127.0.0.1:{smtp_port}?{mail}",
            "severities": ["critical"],
        },
    ]
    fleet["guards"] += [
        {"id": guard(n), "client_id": 1, "site_id": SITE, "name": guard(n), "device_id": device(n)}
        for n in range(guards)
    ]
    fleet["devices"] += [
        {"id": device(n), "client_id": 1, "class": "tracker"} for n in range(guards)
    ]
    fleet["sensors"] += [
        {"id": f"chaos-smoke-{n}", "site_id": SITE, "kind": "smoke"} for n in range(smoke)
    ]
    path.write_text(yaml.safe_dump(fleet))
    return path


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    table: str
    key: str  # the msg_key vigil gives it: entity#seq
    crossing: str = ""  # "exit" or "enter": the first fix of a new leg


@dataclass
class Truth:
    """What the published stream must become."""

    keys: dict[str, set[str]] = field(default_factory=dict)  # table -> msg keys
    panics: list[str] = field(default_factory=list)  # the guards whose device panicked
    smoke: list[str] = field(default_factory=list)  # sensors that alarmed
    exits: dict[str, int] = field(default_factory=dict)
    enters: dict[str, int] = field(default_factory=dict)

    def note(self, message: Message) -> None:
        """`message` was acknowledged by the broker: vigil owes what it stands for."""
        self.keys.setdefault(message.table, set()).add(message.key)
        if message.crossing:
            crossings = self.exits if message.crossing == "exit" else self.enters
            guard_id = message.key.split("#")[0]
            crossings[guard_id] = crossings.get(guard_id, 0) + 1


class Stream:
    """An endless mix: fixes of every guard in turn, telemetry, and on demand a panic or
    a smoke alarm from an entity not used before. Messages and crossings are noted in
    `truth` once the broker has acknowledged them (the caller says so); panics and smoke
    alarms when made, as they are always sent."""

    def __init__(self, guards: int, smoke: int) -> None:
        self.guards = guards
        self.truth = Truth()
        self._fixes = [0] * guards
        self._seq = itertools.count(1)
        self._panicked = iter(range(guards))
        self._smoke = iter(range(smoke))

    def bulk(self) -> Iterator[Message]:
        for n in itertools.cycle(range(self.guards)):
            yield self._fix(n)
            if n % 4 == 0:
                seq = next(self._seq)
                body = {"battery": 80, "signal": -70, "seq": seq}
                yield self._message(f"device/{device(n)}/telemetry", body, "device_telemetry")

    def panic(self) -> Message:
        n = next(self._panicked)
        self.truth.panics.append(guard(n))
        return self._message(f"device/{device(n)}/alert", {"type": "panic"}, "device_events")

    def smoke_alarm(self) -> Message:
        sensor = f"chaos-smoke-{next(self._smoke)}"
        self.truth.smoke.append(sensor)
        body = {"kind": "smoke", "value": True}
        return self._message(f"sensor/{sensor}/reading", body, "sensor_readings")

    def _fix(self, n: int) -> Message:
        count = self._fixes[n]
        self._fixes[n] += 1
        outside = (count // LEG) % 2 == 1
        crossing = "" if count == 0 or count % LEG else ("exit" if outside else "enter")
        lat, lon = OUTSIDE if outside else INSIDE
        body = {"lat": lat, "lon": lon, "accuracy": 5.0}
        return self._message(f"guard/{guard(n)}/gps", body, "guard_locations", crossing)

    def _message(self, topic: str, body: dict[str, Any], table: str, crossing: str = "") -> Message:
        # Stamped like a device does: a message the broker hands again after an ingest
        # slot's restart is received anew, and only its stamp says it is old.
        body["ts"] = round(time.time(), 6)
        seq = body.setdefault("seq", next(self._seq))
        entity = topic.split("/")[1]
        return Message(topic, json.dumps(body).encode(), table, f"{entity}#{seq}", crossing)
