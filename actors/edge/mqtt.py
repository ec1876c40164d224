"""vigil's MQTT edge: the one place a paho client is made, connected and kept connected.

paho stays inside this module. Messages leave it as frozen `Message` values; a handler
that raises is logged and counted here and never reaches paho (whose network thread
ends on a callback's exception). The network loop is an explicit loop on a thread of
the owner's `Threads`, so it beats a heartbeat, reconnects after 1-5 s, and a loop that
dies ends its actor (core/loops.py) instead of leaving a deaf client behind.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core.broker import BrokerAddress
from core.credentials import Credentials
from core.errors import StartupError
from core.loops import Threads
from core.settings import Settings

log = logging.getLogger("vigil.mqtt")

RECONNECT_MIN_S, RECONNECT_MAX_S = 1.0, 5.0  # paho's own default waits up to two minutes
#: Ingest slots' sessions outlive a restart of the slot by far: it takes its queue back.
SESSION_EXPIRY_S = 7 * 24 * 3600
MAX_QUEUED = 10_000  # messages paho holds for publishing while the broker is away


class Message(msgspec.Struct, frozen=True):
    topic: str
    payload: bytes
    mid: int
    qos: int


def claim_sessions(
    broker: BrokerAddress, sessions: Mapping[str, Sequence[str]], expiry_s: int = SESSION_EXPIRY_S
) -> None:
    """Make sure the broker holds each persistent session with its subscriptions, as the
    first thing after it starts: Mosquitto 2.0 restores an offline session's queue from
    its persistence file but not its shared subscriptions, so until the slot reconnects,
    what devices publish has no subscriber and is dropped (docs/reliability.md)."""
    for client_id, filters in sessions.items():
        subscribed = threading.Event()
        # Manual acks, never given: what the broker hands this stand-in (the session's
        # queue) stays unacknowledged and goes to the slot itself when it reconnects.
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.on_connect = lambda c, *_, f=filters: c.subscribe([(t, 1) for t in f])
        refused: list[str] = []

        def on_subscribe(*args: Any, done: Any = subscribed, out: Any = refused) -> None:
            out.extend(str(code) for code in args[3] if code.is_failure)  # reason codes
            done.set()

        client.on_subscribe = on_subscribe
        broker.configure(client)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = expiry_s
        props.ReceiveMaximum = 1  # as little of the queue as the broker allows
        client.connect(broker.host, broker.port, keepalive=10, clean_start=False, properties=props)
        client.loop_start()
        try:
            if not subscribed.wait(10) or refused:
                raise StartupError(
                    f"mosquitto: could not restore the session of {client_id} {refused}"
                )
        finally:
            client.disconnect()
            client.loop_stop()


class LeanClient(mqtt.Client):
    """paho with a lean hot path, where an ingest slot spent most of its CPU.

    paho reads each packet with three or more `recv` calls (its type byte, its length
    byte by byte, its body) and one `select`; this client reads the socket 64 KiB at a
    time, hands paho its bytes from memory and reads on while they last. A QoS 0/1
    PUBLISH goes straight to `on_raw` (topic bytes, payload, mid, qos) without paho's
    MQTTMessage, property objects and debug formatting (vigil reads no publish
    properties); anything else takes paho's own path. `ack_all` sends the PUBACKs of a
    batch as one write. Bytes read ahead are dropped with the connection they came on.
    """

    READ = 1 << 16

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_raw: Callable[[bytes, bytes, int, int], None] | None = None
        self._ahead = bytearray()
        self._ahead_of: object = None  # the socket the bytes came from

    def ack_all(self, mids: Sequence[int]) -> None:
        """PUBACK (success, MQTT 5's short form) for QoS 1 messages, in one packet write."""
        if mids:
            data = b"".join(_PUBACK.pack(0x40, 2, mid) for mid in mids)
            self._packet_queue(PacketTypes.PUBACK << 4, data, 0, 0)

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._sock is not self._ahead_of:
            self._ahead.clear()
            self._ahead_of = self._sock
        if not self._ahead:
            data = super()._sock_recv(self.READ)  # BlockingIOError: nothing to read yet
            if not data:
                return data  # the broker closed the connection
            self._ahead += data
        chunk = bytes(self._ahead[:bufsize])
        del self._ahead[:bufsize]
        return chunk

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while rc == mqtt.MQTT_ERR_SUCCESS and self._ahead and self._sock is self._ahead_of:
            rc = super().loop_read(max_packets)
        return rc

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        command, packet = self._in_packet["command"], self._in_packet["packet"]
        qos = (command & 0x06) >> 1
        parsed = _parse_publish(packet, qos) if self.on_raw is not None and qos < 2 else None
        if parsed is None:  # QoS 2, no raw handler or a packet to refuse: paho's own way
            return super()._handle_publish()
        topic, mid, payload = parsed
        with self._in_callback_mutex:
            self.on_raw(topic, payload, mid, qos)  # type: ignore[misc]
        return mqtt.MQTT_ERR_SUCCESS


_PUBACK = struct.Struct("!BBH")


def _parse_publish(packet: bytes | bytearray, qos: int) -> tuple[bytes, int, bytes] | None:
    """Topic, packet id and payload of an MQTT 5 PUBLISH's variable header and payload;
    None if it does not parse (paho then refuses it as it always has)."""
    if len(packet) < 2:
        return None
    pos = 2 + int.from_bytes(packet[:2], "big")
    topic = bytes(packet[2:pos])
    mid = 0
    if qos:
        mid = int.from_bytes(packet[pos : pos + 2], "big")
        pos += 2
    length, shift = 0, 0  # the properties' length, a variable byte integer
    for _ in range(4):
        if pos >= len(packet):
            return None
        byte = packet[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    else:
        return None
    pos += length
    if pos > len(packet) or (qos and mid == 0):
        return None
    return topic, mid, bytes(packet[pos:])


class Mqtt:
    """One MQTT v5 client with a persistent session under a stable client id."""

    def __init__(
        self,
        settings: Settings,
        client_id: str,
        threads: Threads,
        on_message: Callable[[Message], None] | None = None,
        subscriptions: Sequence[str] = (),
        *,
        manual_ack: bool = False,
        session_expiry_s: int = 3600,
        receive_maximum: int | None = None,
        login: str = "",
    ) -> None:
        """`login`: on the broker vigil keeps the accounts of (`broker_accounts`), log in as
        this one of vigil's own (core/credentials.py) instead of `broker_url`'s."""
        self.client_id = client_id
        self.threads = threads
        self.stats: Counter[str] = Counter({"connects": 0, "handler_failures": 0})
        self._handler = on_message
        self._subscriptions = list(subscriptions)
        self._stopping = False
        client = LeanClient(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=manual_ack,
        )
        client.max_queued_messages_set(MAX_QUEUED)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_raw = self._on_raw
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = session_expiry_s
        if receive_maximum is not None:
            props.ReceiveMaximum = receive_maximum
        address = settings.broker_address
        if login and settings.broker_accounts:
            address = Credentials(settings.data_dir).login(address, login)
        address.configure(client)  # the login and TLS of mqtts://user:password@host
        client.connect_async(
            address.host, address.port, keepalive=30, clean_start=False, properties=props
        )
        self.client = client
        threads.start(f"mqtt-{client_id}", self._network_loop)

    @property
    def connected(self) -> bool:
        return self.client.is_connected()

    def ack(self, mid: int, qos: int) -> None:
        if qos:
            self.client.ack(mid, qos)

    def ack_all(self, messages: Sequence[tuple[int, int]]) -> None:
        """Acknowledge (mid, qos) pairs: the QoS 1 ones in one write."""
        self.client.ack_all([mid for mid, qos in messages if qos == 1])
        for mid, qos in messages:
            if qos == 2:
                self.client.ack(mid, qos)

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> bool:
        """Queue a message; paho keeps it (up to MAX_QUEUED) while the broker is away."""
        info = self.client.publish(topic, payload, qos=qos)
        ok = info.rc == mqtt.MQTT_ERR_SUCCESS
        self.stats["published" if ok else "publish_failures"] += 1
        return ok

    def stop(self) -> None:
        """Disconnect for good; the owner is shutting down, so its threads end quietly."""
        self._stopping = True
        self.threads.stop()
        self.client.disconnect()

    # -- paho's side -----------------------------------------------------------------------

    def _network_loop(self) -> None:
        """Read and write the socket; after a lost connection wait 1-5 s and reconnect."""
        name = f"mqtt-{self.client_id}"
        delay = RECONNECT_MIN_S
        connected_once = False
        while not self._stopping:
            self.threads.beat(name)
            try:
                if not connected_once:
                    self.client.reconnect()  # the first connect, with connect_async's arguments
                    connected_once = True
                rc = self.client.loop(timeout=1.0)
            except OSError as exc:
                rc = mqtt.MQTT_ERR_CONN_LOST
                log.warning("%s: broker unreachable: %s", self.client_id, exc)
            if rc == mqtt.MQTT_ERR_SUCCESS:
                delay = RECONNECT_MIN_S
                continue
            if self._stopping:
                break
            self.stats["disconnects"] += 1
            self._sleep(delay, name)
            delay = min(delay * 2, RECONNECT_MAX_S)
            try:
                self.client.reconnect()
            except OSError as exc:
                log.warning("%s: reconnecting failed: %s", self.client_id, exc)

    def _sleep(self, seconds: float, name: str) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            self.threads.beat(name)
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.stats["refused"] += 1
            log.error("broker refused %s: %s", self.client_id, reason)
            return
        self.stats["connects"] += 1
        if self._subscriptions:
            client.subscribe([(topic, 1) for topic in self._subscriptions])

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._on_raw(msg._topic, msg.payload, msg.mid, msg.qos)

    def _on_raw(self, topic: bytes, payload: bytes | bytearray, mid: int, qos: int) -> None:
        if self._handler is None:
            return
        try:
            # paho decodes the topic strictly; the broker should refuse bad UTF-8, but a
            # topic that does not decode still becomes a message (and so a dead letter).
            name = topic.decode("utf-8", errors="replace")
            self._handler(Message(name, bytes(payload), mid, qos))
        except Exception:  # never into paho: its thread would end
            self.stats["handler_failures"] += 1
            log.exception("%s: handling a message on %r failed", self.client_id, topic)
