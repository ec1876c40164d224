"""Downlink: commands to devices on `device/{id}/cmd`, their replies from `device/{id}/cmd/ack`.

The MQTT client is the shared one (actors/edge/mqtt.py): a persistent session under a stable
id, so replies sent while the owning actor restarts wait at the broker, and a network
loop on the owner's `Threads`, so a dead or stuck loop shows in its stats and ends the
actor. Replies are converted at the boundary into frozen `CommandReply` values; a bad
one (whatever is wrong with it) is counted by its reason and dropped.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec

from actors.edge.mqtt import Message, Mqtt
from core.credentials import DOWNLINK
from core.errors import BadMessage
from core.loops import Threads
from core.settings import Settings
from core.topics import TopicKind, downlink_topic, owntracks_topic, parse_topic
from core.trackers import OWNTRACKS_COMMANDS

log = logging.getLogger("vigil.downlink")

REPLY_FILTER = "device/+/cmd/ack"
SESSION_EXPIRY_S = 3600


class CommandReply(msgspec.Struct, frozen=True, kw_only=True):
    device_id: str
    cmd_id: str
    status: str  # "ok", "failed", ... as the device says


class _ReplyPayload(msgspec.Struct, kw_only=True):
    cmd_id: str
    status: str | None = None
    ok: bool | None = None


def parse_reply(topic: str, payload: bytes | bytearray) -> CommandReply:
    """A reply from the device named in `topic`; BadMessage says what was wrong."""
    parsed = parse_topic(topic)
    if parsed.kind != TopicKind.CMD_ACK:
        raise BadMessage("unknown_topic", topic)
    try:
        body = msgspec.json.decode(payload, type=_ReplyPayload)
    except msgspec.DecodeError as exc:
        raise BadMessage("invalid_field", str(exc)) from exc
    except RecursionError as exc:  # msgspec recurses per level while skipping a deep field
        raise BadMessage("too_deep", "reply nested too deeply to decode") from exc
    status = body.status or ("ok" if body.ok in (None, True) else "failed")
    return CommandReply(device_id=parsed.entity_id, cmd_id=body.cmd_id, status=status[:64])


class Downlink:
    def __init__(
        self,
        settings: Settings,
        on_reply: Callable[[CommandReply], None],
        client_id: str,
        threads: Threads,
    ) -> None:
        self.on_reply = on_reply
        #: OwnTracks phones among the devices (FleetIndex.phone_of): the owner keeps it current.
        self.phones: dict[str, str] = {}
        self.stats: Counter[str] = Counter({"sent": 0, "replies": 0, "reply_failures": 0})
        self.mqtt = Mqtt(
            settings,
            client_id,
            threads,
            self._on_message,
            [REPLY_FILTER],
            session_expiry_s=SESSION_EXPIRY_S,
            login=DOWNLINK,  # publishes commands, reads replies, nothing else
        )

    @property
    def connected(self) -> bool:
        return self.mqtt.connected

    def send(self, device_id: str, cmd_id: str, cmd_type: str, args: dict[str, Any]) -> bool:
        """Publish a command (QoS 1); the client keeps it while the broker is unreachable.
        An OwnTracks phone gets it on its own `cmd` topic in its own format, or not at all
        when OwnTracks has no such command (False)."""
        phone = self.phones.get(device_id)
        if phone is None:
            topic = downlink_topic(device_id)
            payload = json.dumps({"cmd_id": cmd_id, "type": cmd_type, "args": args})
        elif cmd_type in OWNTRACKS_COMMANDS:
            topic = owntracks_topic(phone, "cmd")
            payload = json.dumps(OWNTRACKS_COMMANDS[cmd_type])
        else:
            self.stats["not_for_owntracks"] += 1
            return False
        ok = self.mqtt.publish(topic, payload, qos=1)
        self.stats["sent" if ok else "send_failures"] += 1
        return ok

    def report(self) -> dict[str, Any]:
        """Counters of commands and replies, of the MQTT client, and whether it is connected."""
        return {**self.stats, **self.mqtt.stats, "connected": self.connected}

    def close(self) -> None:
        self.mqtt.stop()

    def _on_message(self, msg: Message) -> None:
        try:
            reply = parse_reply(msg.topic, msg.payload)
        except BadMessage as error:
            self.stats[f"bad_replies.{error.reason}"] += 1
            return
        self.stats["replies"] += 1
        try:
            self.on_reply(reply)
        except Exception:
            self.stats["reply_failures"] += 1
            log.exception("recording reply %s from %s failed", reply.cmd_id, reply.device_id)
