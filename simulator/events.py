"""What the simulator sends and what it says should follow: messages and ground truth."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from core.alerts import AlertKind


class Scenario(StrEnum):
    """Families of traffic (and of injected events) a run includes."""

    GPS = "gps"  # guards' fixes on patrol rounds, exits and returns
    PANIC = "panic"  # devices' own alarms
    SENSORS = "sensors"  # readings with daily patterns, smoke, doors after hours, motion
    OFFLINE = "offline"  # telemetry, draining batteries, devices going silent or offline
    ANOMALY = "anomaly"  # readings the anomaly model should flag

    @staticmethod
    def chosen(names: list[str]) -> frozenset[Scenario]:
        """`all` or scenario names; ValueError names an unknown one."""
        if not names or "all" in names:
            return frozenset(Scenario)
        try:
            return frozenset(Scenario(n) for n in names)
        except ValueError:
            known = ", ".join(["all", *Scenario])
            bad = next(n for n in names if n not in set(Scenario))
            raise ValueError(f"unknown scenario {bad!r} (known: {known})") from None


class Event(StrEnum):
    """Injected events; each becomes one truth record."""

    EXIT = "exit"  # a guard walks out of its patrol zone
    RETURN = "return"  # ... and back in
    PANIC = "panic"
    SOS = "sos"
    BATTERY_LOW = "battery_low"
    STATUS_OFFLINE = "status_offline"  # the device (or its broker last will) says offline
    STATUS_ONLINE = "status_online"
    SILENT = "silent"  # the device stops sending
    HEARD_AGAIN = "heard_again"  # ... and sends again
    SMOKE = "smoke"
    SMOKE_CLEARED = "smoke_cleared"  # the smoke sensor back to normal (vigil ends the alarm)
    DOOR_AFTER_HOURS = "door_after_hours"
    MOTION_ARMED = "motion_armed"
    SENSOR_SPIKE = "sensor_spike"  # a numeric reading far off its daily pattern
    BATTERY_COLLAPSE = "battery_collapse"  # a battery losing most of its charge at once


@dataclass(frozen=True)
class Outgoing:
    """One MQTT message, stamped `ts` (epoch s), with what the simulator knows about it."""

    topic: str
    payload: dict[str, Any] | str
    ts: float
    #: For a fix: the guard's true position (lat, lon); never published.
    true_position: tuple[float, float] | None = None
    #: The injected events this message carries.
    truths: tuple[Truth, ...] = ()

    def body(self) -> bytes:
        if isinstance(self.payload, str):
            return self.payload.encode()
        return json.dumps(self.payload, separators=(",", ":")).encode()


@dataclass
class Draft:
    """A message before its place in the round (and so its stamp) is known."""

    topic: str
    payload: dict[str, Any] | str
    device_id: str | None  # whose liveness it shows
    truths: list[dict[str, Any]] = field(default_factory=list)  # Truth fields but ts, topic
    true_position: tuple[float, float] | None = None


@dataclass(frozen=True)
class Truth:
    """An injected event, the message carrying it and the alert it should cause."""

    event: Event
    entity_type: str  # guard, device or sensor
    entity_id: str
    ts: float  # epoch s: the carrying message's stamp (for a silence, when it is due)
    topic: str  # the carrying message's; "" for a silence (no message carries it)
    #: The alert vigil should raise, None when the event should raise none.
    alert: AlertKind | None
    #: Who that alert is about (a carried device's alarm is raised on its guard).
    alert_entity: str
    client_id: int
    scope: str = ""  # the zone of a crossing
    note: str = ""

    def to_json(self) -> str:
        row = asdict(self)
        row["event"], row["alert"] = str(self.event), self.alert and str(self.alert)
        return json.dumps(row, separators=(",", ":"))
