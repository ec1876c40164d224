"""The phones' own protocols: OwnTracks over MQTT, Traccar Client (OsmAnd) over HTTP.

Both become the records vigil's own contract makes (core/decode.py), with the
protocol in their `source` column: a fix moves the guard carrying the device, a
battery level is the device's telemetry, an `alarm` is the device's alarm on the
critical lane, OwnTracks' last will marks the device offline. What a phone sends and
vigil does not read is a dead letter naming what was wrong, like any bad message.

- OwnTracks (owntracks.org/booklet/tech/json): `owntracks/{user}/{device}` carries
  `{"_type": "location", "lat", "lon", "tst", "acc", "vel" (km/h), "cog", "batt", ...}`
  and `{"_type": "lwt", "tst"}`; `.../event` carries `{"_type": "transition", ...}`,
  the fix where the phone saw itself cross one of its own regions. The fleet's
  `devices[].owntracks` says which device `{user}/{device}` is.
- Traccar Client (traccar.org/osmand): `id`, `lat`, `lon`, `timestamp`, `accuracy`,
  `speed` (knots), `bearing`, `batt`, `alarm` as query or form parameters, or its
  newer JSON body `{"location": {"timestamp", "coords": {"latitude", "longitude",
  "accuracy", "speed" (m/s), "heading"}, "battery": {"level" (0-1)}, "extras"},
  "device_id"}` (`location` may be a list: fixes the phone kept while offline).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from core.decode import (
    Decoder,
    Finite,
    Lat,
    Lon,
    Payload,
    Percent,
    Text,
    datetime_us,
    msg_key,
)
from core.errors import BadMessage
from core.records import DeviceEvent, DeviceStatus, DeviceTelemetry, GuardLocation, Record
from core.topics import TopicKind, parse_topic

OWNTRACKS, OSMAND = "owntracks", "osmand"
KNOT_MPS = 1852 / 3600
Accuracy = Annotated[float, Meta(ge=0.0, le=100_000.0)]
Epoch = Annotated[int, Meta(ge=0, le=2**41)]  # seconds, or milliseconds past 2**31


# -- OwnTracks -------------------------------------------------------------------------------


class _OwnTracks(msgspec.Struct, tag_field="_type", kw_only=True):
    tst: Epoch


class OwnTracksLocation(_OwnTracks, tag="location", kw_only=True):
    lat: Lat
    lon: Lon
    acc: Accuracy | None = None
    vel: Finite | None = None  # km/h
    cog: Finite | None = None
    batt: Percent | None = None


class OwnTracksTransition(OwnTracksLocation, tag="transition", kw_only=True):
    event: Text


class OwnTracksLwt(_OwnTracks, tag="lwt", kw_only=True):
    pass


#: vigil's downlink commands an OwnTracks phone understands, in its own format (the
#: others, such as `alarm_ack`, have no OwnTracks equivalent and are not sent to it).
OWNTRACKS_COMMANDS: dict[str, dict[str, str]] = {
    "report_location": {"_type": "cmd", "action": "reportLocation"},
}

_OWNTRACKS = msgspec.json.Decoder(OwnTracksLocation | OwnTracksTransition | OwnTracksLwt)


# -- Traccar Client (OsmAnd) -------------------------------------------------------------------


class OsmandQuery(msgspec.Struct, kw_only=True):
    """The query or form parameters of one request (all strings, converted leniently)."""

    id: Text | None = None
    deviceid: Text | None = None
    lat: Lat
    lon: Lon
    timestamp: str | None = None
    accuracy: Accuracy | None = None
    speed: Finite | None = None  # knots
    bearing: Finite | None = None
    heading: Finite | None = None
    batt: Percent | None = None
    alarm: Text | None = None


class _Coords(msgspec.Struct, kw_only=True):
    latitude: Lat
    longitude: Lon
    accuracy: Accuracy | None = None
    speed: Finite | None = None  # m/s, -1 when unknown
    heading: Finite | None = None  # -1 when unknown


class _Battery(msgspec.Struct, kw_only=True):
    level: Finite | None = None  # 0-1, -1 when unknown


class _JsonFix(msgspec.Struct, kw_only=True):
    timestamp: datetime | None = None
    coords: _Coords
    battery: _Battery | None = None
    extras: dict[str, Any] | None = None


class OsmandJson(msgspec.Struct, kw_only=True):
    location: _JsonFix | list[_JsonFix]
    device_id: Text | None = None


_OSMAND_JSON = msgspec.json.Decoder(OsmandJson)


class Fix(msgspec.Struct, frozen=True, kw_only=True):
    """One position report of a phone, in vigil's units, whatever the protocol."""

    ts: int  # µs
    lat: float
    lon: float
    accuracy: float | None = None
    speed: float | None = None  # m/s
    heading: float | None = None
    battery: float | None = None  # %
    alarm: str | None = None


class PhoneDecoder(Decoder):
    """vigil's contract and the phones' protocols: a message or a request becomes records."""

    def records(self, topic_name: str, payload: Payload, received_at: int) -> list[Record]:
        """What an MQTT message becomes (none for vigil's own downlink traffic)."""
        if not topic_name.startswith("owntracks/"):
            record = self.decode(topic_name, payload, received_at)
            return [] if record is None else [record]
        self.check_size(payload)
        topic = parse_topic(topic_name)
        if topic.kind is TopicKind.CMD:
            return []
        device = self.fleet.owntracks.get(topic.entity_id)
        if device is None:
            raise BadMessage("unknown_entity", f"OwnTracks phone {topic.entity_id!r}")
        try:
            body = _OWNTRACKS.decode(payload)
        except msgspec.ValidationError as exc:
            raise BadMessage("invalid_field", str(exc)) from None
        except msgspec.DecodeError as exc:
            raise BadMessage("invalid_json", str(exc)) from None
        if isinstance(body, OwnTracksLwt):
            key = msg_key(device, None, received_at, payload)
            tenant = self.fleet.devices[device].client_id
            return [
                DeviceStatus(
                    device_id=device,
                    client_id=tenant,
                    online=False,
                    ts=received_at,
                    received_at=received_at,
                    msg_key=key,
                    source=OWNTRACKS,
                )
            ]
        fix = Fix(
            ts=self.checked_time(epoch_us(body.tst), received_at),
            lat=body.lat,
            lon=body.lon,
            accuracy=body.acc,
            speed=None if body.vel is None or body.vel < 0 else body.vel / 3.6,
            heading=_bearing(body.cog),
            battery=body.batt,
        )
        return self.fix_records(device, fix, payload, received_at, OWNTRACKS)

    def osmand(
        self, device: str, query: dict[str, str], body: Payload, received_at: int
    ) -> list[Record]:
        """What one Traccar Client request of `device` (its login) becomes: the query or
        form parameters, or the JSON body. BadMessage names the parameter at fault."""
        self.check_size(body)
        if query:
            fixes, claimed, raw = self._osmand_query(query, received_at)
        else:
            fixes, claimed, raw = self._osmand_json(body, received_at)
        if claimed is not None and claimed != device:
            raise BadMessage("spoofed_id", f"id {claimed!r} is not the login {device!r}")
        return [
            record
            for i, fix in enumerate(fixes)
            for record in self.fix_records(device, fix, raw + b"#%d" % i, received_at, OSMAND)
        ]

    def fix_records(
        self, device: str, fix: Fix, payload: Payload, received_at: int, source: str
    ) -> list[Record]:
        """A phone's fix as vigil's records: the guard's location, the device's battery
        and alarm. A phone no guard carries has nobody to move: only its alarm counts."""
        tenant = self.fleet.devices[device].client_id
        guard = self.fleet.device_guard.get(device)
        common: dict[str, Any] = {
            "ts": fix.ts,
            "received_at": received_at,
            "client_id": tenant,
            "source": source,
        }
        found: list[Record] = []
        if fix.alarm is not None:
            found.append(
                DeviceEvent(
                    device_id=device,
                    type=fix.alarm.lower(),
                    lat=fix.lat,
                    lon=fix.lon,
                    msg_key=msg_key(device, None, fix.ts, payload + b"!alarm"),
                    **common,
                )
            )
        if guard is None and not found:
            raise BadMessage("unknown_entity", f"device {device!r} is carried by no guard")
        if guard is not None:
            found.append(
                GuardLocation(
                    guard_id=guard,
                    lat=fix.lat,
                    lon=fix.lon,
                    accuracy=fix.accuracy,
                    speed=fix.speed,
                    heading=fix.heading,
                    battery=fix.battery,
                    msg_key=msg_key(guard, None, fix.ts, payload),
                    **common,
                )
            )
        if fix.battery is not None:
            found.append(
                DeviceTelemetry(
                    device_id=device,
                    battery=fix.battery,
                    msg_key=msg_key(device, None, fix.ts, payload),
                    **common,
                )
            )
        return found

    def _osmand_query(
        self, query: dict[str, str], received_at: int
    ) -> tuple[list[Fix], str | None, bytes]:
        try:
            params = msgspec.convert(query, OsmandQuery, strict=False)
        except msgspec.ValidationError as exc:
            raise BadMessage("invalid_field", str(exc)) from None
        ts = received_at
        if params.timestamp:
            ts = self.checked_time(_osmand_time(params.timestamp), received_at)
        fix = Fix(
            ts=ts,
            lat=params.lat,
            lon=params.lon,
            accuracy=params.accuracy,
            speed=None if params.speed is None or params.speed < 0 else params.speed * KNOT_MPS,
            heading=_bearing(params.bearing if params.bearing is not None else params.heading),
            battery=params.batt,
            alarm=params.alarm,
        )
        raw = "&".join(f"{k}={v}" for k, v in sorted(query.items())).encode()
        return [fix], params.id or params.deviceid, raw

    def _osmand_json(self, body: Payload, received_at: int) -> tuple[list[Fix], str | None, bytes]:
        if not body.strip():
            raise BadMessage("invalid_field", "no fix: neither lat and lon parameters nor a body")
        try:
            request = _OSMAND_JSON.decode(body)
        except msgspec.ValidationError as exc:
            raise BadMessage("invalid_field", str(exc)) from None
        except msgspec.DecodeError as exc:
            raise BadMessage("invalid_json", str(exc)) from None
        located = request.location if isinstance(request.location, list) else [request.location]
        fixes = []
        for one in located:
            coords, battery = one.coords, one.battery
            level = None if battery is None or battery.level is None else battery.level * 100
            alarm = (one.extras or {}).get("alarm")
            fixes.append(
                Fix(
                    ts=self.checked_time(
                        received_at if one.timestamp is None else datetime_us(one.timestamp),
                        received_at,
                    ),
                    lat=coords.latitude,
                    lon=coords.longitude,
                    accuracy=coords.accuracy,
                    speed=None if coords.speed is None or coords.speed < 0 else coords.speed,
                    heading=_bearing(coords.heading),
                    battery=level if level is not None and 0 <= level <= 100 else None,
                    alarm=str(alarm)[:64] if alarm else None,
                )
            )
        return fixes, request.device_id, bytes(body)


def epoch_us(value: int) -> int:
    """µs of an epoch in seconds, or in milliseconds when too large for seconds (Traccar's
    rule: below 2**31 it is seconds)."""
    return value * 1_000_000 if value < 2**31 else value * 1_000


def _osmand_time(text: str) -> int:
    """Traccar Client's `timestamp`: epoch seconds or milliseconds, ISO 8601, or
    `yyyy-MM-dd HH:mm:ss` (UTC)."""
    if text.isdigit():
        return epoch_us(int(text[:15]))
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadMessage("invalid_field", f"timestamp {text[:40]!r} - at `$.timestamp`") from None
    return datetime_us(when if when.tzinfo else when.replace(tzinfo=UTC))


def _bearing(value: float | None) -> float | None:
    """A heading in degrees; phones send -1 (or nothing) when they do not know it."""
    return value if value is not None and 0 <= value <= 360 else None
