"""Typed records: what an uplink message becomes once decoded and checked.

Field names are the lake's column names (see core.schemas); times are integer
microseconds since the epoch, UTC. Each record class names its table.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec


class Record(msgspec.Struct, frozen=True, kw_only=True):
    TABLE: ClassVar[str]
    #: The kind of entity the record is about (the topic's first level).
    ENTITY: ClassVar[str]
    #: True for messages that travel on the critical lane (panic, SOS, smoke, ...).
    CRITICAL: ClassVar[bool] = False

    ts: int
    received_at: int
    msg_key: str
    #: How it came: "mqtt" (vigil's own contract), "owntracks" or "osmand" (core/trackers.py).
    source: str = "mqtt"

    @property
    def entity_id(self) -> str:
        raise NotImplementedError

    @property
    def critical(self) -> bool:
        return self.CRITICAL


class GuardLocation(Record, frozen=True, kw_only=True):
    TABLE = "guard_locations"
    ENTITY = "guard"
    guard_id: str
    client_id: int
    lat: float
    lon: float
    accuracy: float | None = None
    speed: float | None = None
    heading: float | None = None
    battery: float | None = None
    seq: int | None = None

    @property
    def entity_id(self) -> str:
        return self.guard_id


class DeviceTelemetry(Record, frozen=True, kw_only=True):
    TABLE = "device_telemetry"
    ENTITY = "device"
    device_id: str
    client_id: int
    battery: float | None = None
    signal: float | None = None
    temperature: float | None = None
    extra: str | None = None  # the payload's other keys, as JSON
    seq: int | None = None

    @property
    def entity_id(self) -> str:
        return self.device_id


class SensorReading(Record, frozen=True, kw_only=True):
    TABLE = "sensor_readings"
    ENTITY = "sensor"
    sensor_id: str
    client_id: int
    site_id: str
    kind: str
    value: float | None = None
    value_text: str | None = None
    seq: int | None = None

    @property
    def entity_id(self) -> str:
        return self.sensor_id

    @property
    def active(self) -> bool:
        """True for a reading that reports the condition (smoke seen, door open, motion)."""
        if self.value_text is not None:
            return self.value_text.lower() in ("open", "on", "true", "detected", "alarm", "yes")
        return bool(self.value)

    @property
    def critical(self) -> bool:
        return self.kind == "smoke" and self.active


#: The `type` of a device event that is a guard's check-in (the lone-worker watchdog), not
#: an alarm.
CHECKIN = "checkin"


class DeviceEvent(Record, frozen=True, kw_only=True):
    """A device's own alarm message (panic button, SOS, man down, tamper, ...), or a
    guard's check-in (`type` "checkin", the only one that is not critical)."""

    TABLE = "device_events"
    ENTITY = "device"
    CRITICAL = True
    device_id: str
    client_id: int
    type: str
    lat: float | None = None
    lon: float | None = None
    seq: int | None = None

    @property
    def entity_id(self) -> str:
        return self.device_id

    @property
    def critical(self) -> bool:
        return self.type != CHECKIN


class DeviceStatus(Record, frozen=True, kw_only=True):
    TABLE = "device_status"
    ENTITY = "device"
    device_id: str
    client_id: int
    online: bool

    @property
    def entity_id(self) -> str:
        return self.device_id


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """A message that could not be applied, with the reason and what was received."""

    TABLE: ClassVar[str] = "dead_letters"
    received_at: int
    topic: str
    reason: str
    detail: str
    payload: str


#: The record of each uplink message kind, and the tables that hold them.
MESSAGE_RECORDS: tuple[type[Record], ...] = (
    GuardLocation,
    DeviceTelemetry,
    SensorReading,
    DeviceEvent,
    DeviceStatus,
)
MESSAGE_TABLES = tuple(cls.TABLE for cls in MESSAGE_RECORDS)
