"""The MQTT topic grammar (DESIGN.md, "MQTT contract"), in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from core.errors import BadMessage


class TopicKind(StrEnum):
    GPS = "gps"
    TELEMETRY = "telemetry"
    READING = "reading"
    ALERT = "alert"
    STATUS = "status"
    CMD = "cmd"
    CMD_ACK = "cmd_ack"
    OWNTRACKS = "owntracks"  # an OwnTracks phone's location, lwt, ...: owntracks/{user}/{device}
    OWNTRACKS_EVENT = "owntracks_event"  # its region transitions: .../event


class EntityType(StrEnum):
    GUARD = "guard"
    DEVICE = "device"
    SENSOR = "sensor"


@dataclass(frozen=True, slots=True)
class Topic:
    kind: TopicKind
    entity_type: EntityType
    entity_id: str


_GRAMMAR: dict[tuple[str, ...], TopicKind] = {
    ("guard", "gps"): TopicKind.GPS,
    ("device", "telemetry"): TopicKind.TELEMETRY,
    ("device", "alert"): TopicKind.ALERT,
    ("device", "status"): TopicKind.STATUS,
    ("sensor", "reading"): TopicKind.READING,
    ("device", "cmd"): TopicKind.CMD,
    ("device", "cmd", "ack"): TopicKind.CMD_ACK,
}
#: What an entity id (and each level of an OwnTracks topic) may be.
ENTITY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
#: OwnTracks' own topics (owntracks.org/booklet): what a phone publishes, what it reads.
_OWNTRACKS: dict[tuple[str, ...], TopicKind] = {
    (): TopicKind.OWNTRACKS,
    ("event",): TopicKind.OWNTRACKS_EVENT,
    ("cmd",): TopicKind.CMD,
}
OWNTRACKS_FILTERS = ("owntracks/+/+", "owntracks/+/+/event")

#: Topic filters vigil's ingest pool subscribes to (broad, so unknown topics become dead letters;
#: of OwnTracks', what phones send, not the commands vigil sends them).
UPLINK_FILTERS = ("guard/#", "device/#", "sensor/#", *OWNTRACKS_FILTERS)
SHARE_GROUP = "vigil"


def shared(topic_filter: str, group: str = SHARE_GROUP) -> str:
    return f"$share/{group}/{topic_filter}"


def parse_topic(topic: str) -> Topic:
    """Split `topic` into kind and entity id; raise BadMessage('unknown_topic') otherwise."""
    parts = topic.split("/")
    if len(parts) < 3:
        raise BadMessage("unknown_topic", topic)
    if parts[0] == "owntracks":
        return _owntracks(topic, parts)
    kind = _GRAMMAR.get((parts[0], *parts[2:]))
    if kind is None:
        raise BadMessage("unknown_topic", topic)
    if not ENTITY_ID.fullmatch(parts[1]):
        raise BadMessage("unknown_topic", f"bad entity id {parts[1]!r} in {topic}")
    return Topic(kind, EntityType(parts[0]), parts[1])


def _owntracks(topic: str, parts: list[str]) -> Topic:
    """`owntracks/{user}/{device}[/event|/cmd]`: a device's topic, its id `{user}/{device}`
    until the fleet says which device that phone is (core/trackers.py)."""
    kind = _OWNTRACKS.get(tuple(parts[3:]))
    if kind is None:
        raise BadMessage("unknown_topic", topic)
    if not (ENTITY_ID.fullmatch(parts[1]) and ENTITY_ID.fullmatch(parts[2])):
        raise BadMessage("unknown_topic", f"bad OwnTracks user/device in {topic}")
    return Topic(kind, EntityType.DEVICE, f"{parts[1]}/{parts[2]}")


def owntracks_topic(phone: str, sub: str = "") -> str:
    """An OwnTracks phone's topic (`phone` is its `{user}/{device}`), or one below it."""
    return f"owntracks/{phone}/{sub}" if sub else f"owntracks/{phone}"


def downlink_topic(device_id: str) -> str:
    return f"device/{device_id}/cmd"
