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
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")

#: Topic filters vigil's ingest pool subscribes to (broad, so unknown topics become dead letters).
UPLINK_FILTERS = ("guard/#", "device/#", "sensor/#")
SHARE_GROUP = "vigil"


def shared(topic_filter: str, group: str = SHARE_GROUP) -> str:
    return f"$share/{group}/{topic_filter}"


def parse_topic(topic: str) -> Topic:
    """Split `topic` into kind and entity id; raise BadMessage('unknown_topic') otherwise."""
    parts = topic.split("/")
    if len(parts) < 3:
        raise BadMessage("unknown_topic", topic)
    kind = _GRAMMAR.get((parts[0], *parts[2:]))
    if kind is None:
        raise BadMessage("unknown_topic", topic)
    if not _ID.fullmatch(parts[1]):
        raise BadMessage("unknown_topic", f"bad entity id {parts[1]!r} in {topic}")
    return Topic(kind, EntityType(parts[0]), parts[1])


def downlink_topic(device_id: str) -> str:
    return f"device/{device_id}/cmd"
