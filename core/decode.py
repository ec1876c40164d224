"""Uplink payloads (the MQTT contract) and the decoder that turns a message into a record.

msgspec does the parsing and the type and range checks; this module adds what a
schema cannot say: the id in the topic is authoritative, the tenant must match the
fleet, timestamps must not come from the future.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from core.errors import BadMessage
from core.fleet import FleetIndex
from core.records import (
    DeadLetter,
    DeviceEvent,
    DeviceStatus,
    DeviceTelemetry,
    GuardLocation,
    Record,
    SensorReading,
)
from core.settings import Settings
from core.topics import Topic, TopicKind, parse_topic

Lat = Annotated[float, Meta(ge=-90.0, le=90.0)]
Lon = Annotated[float, Meta(ge=-180.0, le=180.0)]
Percent = Annotated[float, Meta(ge=0.0, le=100.0)]
#: What an Arrow int64 column holds; a larger integer is a bad field, not an overflow later.
Int64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
#: A finite float: JSON has no infinity, but 1e400 parses as one.
Finite = Annotated[float, Meta(ge=-1e300, le=1e300)]
AnyId = Int64 | Annotated[str, Meta(max_length=64)]
Text = Annotated[str, Meta(min_length=1, max_length=64)]
Payload = bytes | bytearray
EPOCH_FLOOR_US = 946_684_800_000_000  # 2000-01-01: older clocks are unset, not history
#: Deepest JSON nesting accepted (docs/spine.md). vigil's payloads are flat; the decoder
#: recurses per level, and 5,000 levels end in RecursionError instead of a dead letter.
MAX_DEPTH = 32
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = re.compile(rb"[^\[\]{}]")


class _Common(msgspec.Struct, kw_only=True):
    client_id: AnyId | None = None
    timestamp: datetime | None = None
    ts: Annotated[float, Meta(ge=0, le=1e300)] | None = None
    seq: Annotated[int, Meta(ge=0, le=2**63 - 1)] | None = None


class GpsPayload(_Common, kw_only=True):
    lat: Lat
    lon: Lon
    accuracy: Annotated[float, Meta(ge=0.0, le=100_000.0)] | None = None
    speed: Annotated[float, Meta(ge=0.0, le=1_000.0)] | None = None
    heading: Annotated[float, Meta(ge=0.0, le=360.0)] | None = None
    battery: Percent | None = None
    guard_id: AnyId | None = None


class TelemetryPayload(_Common, kw_only=True):
    battery: Percent | None = None
    signal: Annotated[float, Meta(ge=-200.0, le=100.0)] | None = None
    temperature: Annotated[float, Meta(ge=-100.0, le=200.0)] | None = None
    device_id: AnyId | None = None


class ReadingPayload(_Common, kw_only=True):
    kind: Text
    value: bool | Finite | Annotated[str, Meta(max_length=64)] | None = None
    site_id: AnyId | None = None
    sensor_id: AnyId | None = None


class AlertPayload(_Common, kw_only=True):
    type: Text
    lat: Lat | None = None
    lon: Lon | None = None
    device_id: AnyId | None = None


class StatusPayload(_Common, kw_only=True):
    status: str
    device_id: AnyId | None = None


_TELEMETRY_KEYS = frozenset(TelemetryPayload.__struct_fields__)
_DECODERS = {
    kind: msgspec.json.Decoder(cls)
    for kind, cls in (
        (TopicKind.GPS, GpsPayload),
        (TopicKind.READING, ReadingPayload),
        (TopicKind.ALERT, AlertPayload),
    )
}
_ANY = msgspec.json.Decoder()


class Decoder:
    """Turns (topic, payload) into a Record, or raises BadMessage with the reason."""

    def __init__(self, fleet: FleetIndex, settings: Settings) -> None:
        self.fleet = fleet
        self.max_bytes = settings.max_payload_bytes
        self.skew_us = int(settings.max_future_skew_s * 1e6)
        self.keep_bytes = settings.dead_letter_payload_bytes

    def decode(self, topic_name: str, payload: Payload, received_at: int) -> Record | None:
        """The record for a message, None for vigil's own downlink traffic."""
        self.check_size(payload)
        topic = parse_topic(topic_name)
        if topic.kind in (TopicKind.CMD, TopicKind.CMD_ACK):
            return None
        tenant = self.fleet.tenant_of(topic.entity_type, topic.entity_id)
        if tenant is None:
            raise BadMessage("unknown_entity", f"{topic.entity_type} {topic.entity_id!r}")
        if topic.kind is TopicKind.STATUS:
            return self._status(topic, payload, tenant, received_at)
        try:
            if topic.kind is TopicKind.TELEMETRY:
                raw = _ANY.decode(payload)
                body: Any = msgspec.convert(raw, TelemetryPayload)
            else:
                raw = None
                body = _DECODERS[topic.kind].decode(payload)
        except msgspec.ValidationError as exc:
            raise BadMessage("invalid_field", str(exc)) from None
        except msgspec.DecodeError as exc:
            raise BadMessage("invalid_json", str(exc)) from None
        _check_tenant(body.client_id, tenant)
        ts = self._event_time(body, received_at)
        key = msg_key(topic.entity_id, body.seq, ts, payload)
        common: dict[str, Any] = {
            "ts": ts,
            "received_at": received_at,
            "msg_key": key,
            "client_id": tenant,
        }
        if topic.kind is TopicKind.GPS:
            _check_same("guard_id", body.guard_id, topic)
            return GuardLocation(
                guard_id=topic.entity_id,
                lat=body.lat,
                lon=body.lon,
                accuracy=body.accuracy,
                speed=body.speed,
                heading=body.heading,
                battery=body.battery,
                seq=body.seq,
                **common,
            )
        if topic.kind is TopicKind.TELEMETRY:
            _check_same("device_id", body.device_id, topic)
            extra = {k: v for k, v in raw.items() if k not in _TELEMETRY_KEYS}
            return DeviceTelemetry(
                device_id=topic.entity_id,
                battery=body.battery,
                signal=body.signal,
                temperature=body.temperature,
                extra=msgspec.json.encode(extra).decode() if extra else None,
                seq=body.seq,
                **common,
            )
        if topic.kind is TopicKind.READING:
            _check_same("sensor_id", body.sensor_id, topic)
            sensor = self.fleet.sensors[topic.entity_id]
            if body.site_id is not None and str(body.site_id) != sensor.site_id:
                raise BadMessage(
                    "spoofed_id", f"site_id {body.site_id!r} is not {sensor.site_id!r}"
                )
            if body.kind != sensor.kind:
                raise BadMessage("invalid_field", f"kind {body.kind!r} is not {sensor.kind!r}")
            value = body.value
            return SensorReading(
                sensor_id=topic.entity_id,
                site_id=sensor.site_id,
                kind=body.kind,
                value=None if isinstance(value, str) else (None if value is None else float(value)),
                value_text=value if isinstance(value, str) else None,
                seq=body.seq,
                **common,
            )
        _check_same("device_id", body.device_id, topic)
        if (body.lat is None) != (body.lon is None):
            raise BadMessage("invalid_field", "lat and lon come together - at `$.lat`")
        return DeviceEvent(
            device_id=topic.entity_id,
            type=body.type.lower(),
            lat=body.lat,
            lon=body.lon,
            seq=body.seq,
            **common,
        )

    def check_size(self, payload: Payload) -> None:
        """BadMessage for a payload too large or too deeply nested to decode."""
        if len(payload) > self.max_bytes:
            raise BadMessage("oversized", f"{len(payload)} bytes > {self.max_bytes}")
        check_depth(payload)

    def dead_letter(
        self, topic: str, payload: Payload, error: BadMessage, received_at: int
    ) -> DeadLetter:
        return DeadLetter(
            received_at=received_at,
            topic=topic[:256],
            reason=error.reason,
            detail=error.detail[:512],
            payload=payload[: self.keep_bytes].decode("utf-8", errors="replace"),
        )

    def _status(
        self, topic: Topic, payload: Payload, tenant: int, received_at: int
    ) -> DeviceStatus:
        text = payload.strip().decode("utf-8", errors="replace")
        if text.startswith(("{", '"')):
            try:
                raw = _ANY.decode(payload)
                if isinstance(raw, str):
                    text = raw
                else:
                    body = msgspec.convert(raw, StatusPayload)
                    _check_tenant(body.client_id, tenant)
                    _check_same("device_id", body.device_id, topic)
                    text = body.status
            except msgspec.DecodeError as exc:
                raise BadMessage("invalid_field", str(exc)) from None
        if text not in ("online", "offline"):
            raise BadMessage(
                "invalid_field", f"status must be online or offline, got {text[:40]!r}"
            )
        key = msg_key(topic.entity_id, None, received_at, payload)
        return DeviceStatus(
            device_id=topic.entity_id,
            client_id=tenant,
            online=text == "online",
            ts=received_at,
            received_at=received_at,
            msg_key=key,
        )

    def _event_time(self, body: _Common, received_at: int) -> int:
        if body.timestamp is not None:
            ts = datetime_us(body.timestamp)
        elif body.ts is not None:
            ts = int(body.ts * 1_000_000)
        else:
            return received_at
        return self.checked_time(ts, received_at)

    def checked_time(self, ts: int, received_at: int) -> int:
        """`ts` (µs) if it is a believable time for a message received at `received_at`."""
        if ts > received_at + self.skew_us:
            raise BadMessage("future_timestamp", f"{ts - received_at} us ahead of the clock")
        if ts < EPOCH_FLOOR_US:
            raise BadMessage("invalid_field", "timestamp before 2000-01-01 - at `$.timestamp`")
        return ts


def datetime_us(when: datetime) -> int:
    """µs since the epoch; a time without a zone is UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1_000_000)


def check_depth(payload: Payload) -> None:
    """BadMessage('too_deep') for JSON nested deeper than MAX_DEPTH."""
    if payload.count(b"[") + payload.count(b"{") <= MAX_DEPTH:
        return  # the common case, two C-speed counts: it cannot be deeper than that
    brackets = _NOT_BRACKETS.sub(b"", _STRINGS.sub(b"", bytes(payload)))
    depth = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > MAX_DEPTH:
            raise BadMessage("too_deep", f"JSON nested deeper than {MAX_DEPTH} levels")


def _bare(entity_id: str, prefix: str) -> str:
    for sep in ("-", "_"):
        if entity_id.startswith(prefix + sep):
            return entity_id[len(prefix) + 1 :]
    return entity_id


def _check_same(field: str, payload_id: AnyId | None, topic: Topic) -> None:
    """The topic names the entity; a payload naming another one is a spoofing attempt."""
    if payload_id is None:
        return
    prefix = topic.entity_type.value
    if _bare(str(payload_id), prefix) != _bare(topic.entity_id, prefix):
        raise BadMessage("spoofed_id", f"{field} {payload_id!r} does not name {topic.entity_id!r}")


def _check_tenant(client_id: AnyId | None, tenant: int) -> None:
    if client_id is not None and str(client_id) != str(tenant):
        raise BadMessage("spoofed_id", f"client_id {client_id!r} is not the entity's tenant")


def msg_key(entity_id: str, seq: int | None, ts: int, payload: Payload) -> str:
    """De-duplication key: (entity, seq) when the device counts, else (entity, ts, hash)."""
    if seq is not None:
        return f"{entity_id}#{seq}"
    return f"{entity_id}@{ts}:{hashlib.blake2b(payload, digest_size=8).hexdigest()}"
