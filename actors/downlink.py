"""Downlink: commands to devices on `device/{id}/cmd`, their replies from `device/{id}/cmd/ack`.

paho stays inside this module: replies are converted at the boundary into frozen
`CommandReply` values, bad ones are counted and dropped. The client keeps a
persistent session under a stable id, so replies sent while its actor restarts
wait at the broker.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core.errors import BadMessage
from core.settings import Settings
from core.topics import TopicKind, downlink_topic, parse_topic

log = logging.getLogger("vigil.downlink")

REPLY_FILTER = "device/+/cmd/ack"
SESSION_EXPIRY_S = 3600
MAX_QUEUED = 10_000  # commands paho holds while the broker is away


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
    status = body.status or ("ok" if body.ok in (None, True) else "failed")
    return CommandReply(device_id=parsed.entity_id, cmd_id=body.cmd_id, status=status[:64])


class Downlink:
    def __init__(
        self, settings: Settings, on_reply: Callable[[CommandReply], None], client_id: str
    ) -> None:
        self.on_reply = on_reply
        self.stats: Counter[str] = Counter()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.max_queued_messages_set(MAX_QUEUED)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        host, port = settings.broker
        self.client.connect_async(host, port, keepalive=30, clean_start=False, properties=props)
        self.client.loop_start()

    def send(self, device_id: str, cmd_id: str, cmd_type: str, args: dict[str, Any]) -> None:
        """Publish a command (QoS 1); paho keeps it while the broker is unreachable."""
        payload = json.dumps({"cmd_id": cmd_id, "type": cmd_type, "args": args})
        info = self.client.publish(downlink_topic(device_id), payload, qos=1)
        self.stats["sent" if info.rc == mqtt.MQTT_ERR_SUCCESS else "send_failures"] += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the downlink client: %s", reason)
            return
        self.stats["connects"] += 1
        client.subscribe(REPLY_FILTER, qos=1)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
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
