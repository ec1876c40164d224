"""The load bench's two MQTT processes: a paced raw publisher and a bare paho subscriber.

    python bench/mqttload.py publish --port P --schedule FILE --out FILE
    python bench/mqttload.py subscribe --port P --zones FILE --out FILE   (until SIGTERM)

Both log in as MQTTLOAD_USERNAME / MQTTLOAD_PASSWORD when they are set.

The publisher speaks MQTT 3.1.1 on a plain socket: the PUBLISH packets (QoS 1, packet
ids in sending order) are encoded before the start, so at each wake-up it sends every
packet that is due in one `sendall` and counts the broker's PUBACKs; a Python paho
publisher would cost ~50 µs per message and become the bottleneck on two cores.
At most `WINDOW` messages are unacknowledged (QoS 1 packet ids are 16 bits).

The subscriber is the reference: paho, QoS 1, decodes every payload (json), checks
each fix against its guard's zone (a bounding box) and notes, for each crossing and
each panic, now - the message's `ts`. Its CPU is what a bare consumer of the same
stream costs.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import select
import signal
import socket
import struct
import threading
import time
from bisect import bisect_right
from pathlib import Path
from typing import Any

WINDOW = 60_000  # unacknowledged messages at most (packet ids wrap at 65,535)
LOGIN_ENV = ("MQTTLOAD_USERNAME", "MQTTLOAD_PASSWORD")
TICK_S = 0.0005  # the shortest sleep between two sends
ACK_WAIT_S = 60.0  # after the last send, how long the PUBACKs may take


# -- packets ------------------------------------------------------------------------------


def _length(n: int) -> bytes:
    """MQTT's variable-length integer."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_packet(client_id: str, username: str = "", password: str = "") -> bytes:
    """Protocol "MQTT" level 4, clean session, keep-alive 0 (none: the run is short), and
    a login when `username` is given."""
    flags = 0x02 | (0xC0 if username else 0)
    fields = [client_id] + ([username, password] if username else [])
    payload = b"".join(struct.pack("!H", len(f.encode())) + f.encode() for f in fields)
    body = b"\x00\x04MQTT\x04" + bytes([flags]) + b"\x00\x00" + payload
    return b"\x10" + _length(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """A QoS 1 PUBLISH."""
    name = topic.encode()
    body = struct.pack("!H", len(name)) + name + struct.pack("!H", packet_id) + payload
    return b"\x32" + _length(len(body)) + body


def packet_id(index: int) -> int:
    """The packet id of a connection's index-th message (1..65535, then again)."""
    return index % 65_535 + 1


class Schedule:
    """What one publisher sends: due times (epoch s, ascending), packets, and which of
    them to time (their send time is reported by key: the panics)."""

    def __init__(self, dues: list[float], packets: list[bytes], timed: dict[int, str]) -> None:
        self.dues = dues
        self.packets = packets
        self.timed = timed

    def save(self, path: Path) -> None:
        path.write_bytes(pickle.dumps((self.dues, self.packets, self.timed), protocol=5))

    @classmethod
    def load(cls, path: Path) -> Schedule:
        dues, packets, timed = pickle.loads(path.read_bytes())
        return cls(dues, packets, timed)


# -- the publisher ------------------------------------------------------------------------


class Acks:
    """Reads PUBACKs from the socket; counts them (the broker acknowledges in order)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.count = 0
        self.out_of_order = 0

    def read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("the broker closed the connection")
        self.buffer += data
        buf = self.buffer
        at = 0
        while len(buf) - at >= 2:
            kind, size = buf[at], buf[at + 1]  # PUBACKs are 4 bytes: remaining length 2
            if size & 0x80:
                raise ConnectionError(f"unexpected packet 0x{kind:02x} from the broker")
            if len(buf) - at < 2 + size:
                break
            if kind == 0x40:
                got = (buf[at + 2] << 8) | buf[at + 3]
                if got != packet_id(self.count):
                    self.out_of_order += 1
                self.count += 1
            at += 2 + size
        del buf[:at]


def publish(port: int, schedule: Schedule, client_id: str) -> dict[str, Any]:
    dues, packets, timed = schedule.dues, schedule.packets, schedule.timed
    n = len(packets)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_packet(client_id, *login()))
    connack = sock.recv(4)
    if len(connack) < 4 or connack[0] != 0x20 or connack[3] != 0:
        raise ConnectionError(f"CONNACK refused: {connack!r}")
    acks = Acks(sock)
    sent_at: dict[str, float] = {}
    lags: list[float] = []  # how late each send was, per wake-up that sent
    i = 0
    if dues:
        time.sleep(max(0.0, dues[0] - time.time()))
    while i < n:
        now = time.time()
        j = min(bisect_right(dues, now, i), acks.count + WINDOW)
        if j > i:
            lags.append(now - dues[i])
            sock.sendall(b"".join(packets[i:j]))
            for k in range(i, j):
                key = timed.get(k)
                if key is not None:
                    sent_at[key] = now
            i = j
        wait = dues[i] - time.time() if i < n else 0.0
        acks.read(max(TICK_S, min(wait, 0.05)))
    ended = time.time()
    deadline = ended + ACK_WAIT_S
    while acks.count < n and time.time() < deadline:
        acks.read(0.05)
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    lags.sort()
    return {
        "sent": n,
        "acked": acks.count,
        "out_of_order_acks": acks.out_of_order,
        "first_due": dues[0] if dues else 0.0,
        "last_sent": ended,
        "lag_p99_ms": round(1000 * lags[int(0.99 * (len(lags) - 1))], 2) if lags else 0.0,
        "lag_max_ms": round(1000 * lags[-1], 2) if lags else 0.0,
        "sent_at": sent_at,
    }


# -- the reference subscriber -------------------------------------------------------------


def subscribe(port: int, zones: dict[str, list[float]], out: Path) -> None:
    """Until SIGTERM: count, decode, check fixes against their zone; then write `out`."""
    import paho.mqtt.client as mqtt

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    inside: dict[str, bool] = {}
    state: dict[str, Any] = {"received": 0, "crossings": [], "panics": []}
    crossings: list[float] = state["crossings"]
    panics: list[float] = state["panics"]

    def on_message(_client: Any, _userdata: Any, message: Any) -> None:
        state["received"] += 1
        body = json.loads(message.payload)
        topic = message.topic
        if topic.endswith("/gps"):
            guard = topic[6:-4]
            box = zones.get(guard)
            if box is None:
                return
            now_in = box[0] <= body["lon"] <= box[2] and box[1] <= body["lat"] <= box[3]
            before = inside.get(guard)
            inside[guard] = now_in
            if before is not None and before != now_in:
                crossings.append(time.time() - body["ts"])
        elif topic.endswith("/alert") and body.get("type") == "panic":
            panics.append(time.time() - body["ts"])

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"vigil-load-ref-{os.getpid()}"
    )
    client.on_message = on_message
    username, password = login()
    if username:
        client.username_pw_set(username, password)
    client.connect("127.0.0.1", port)
    client.subscribe(
        [
            ("guard/+/gps", 1),
            ("device/+/telemetry", 1),
            ("device/+/alert", 1),
            ("sensor/+/reading", 1),
        ]
    )
    client.loop_start()
    print("subscribed", flush=True)
    stop.wait()
    client.loop_stop()
    client.disconnect()
    out.write_text(json.dumps(state))


def login_env(username: str | None, password: str | None) -> dict[str, str]:
    """The environment that gives these processes a login."""
    return {**os.environ, LOGIN_ENV[0]: username or "", LOGIN_ENV[1]: password or ""}


def login() -> tuple[str, str]:
    """The broker login, from the environment (not the command line, which `ps` shows)."""
    return os.environ.get(LOGIN_ENV[0], ""), os.environ.get(LOGIN_ENV[1], "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pub = sub.add_parser("publish")
    pub.add_argument("--port", type=int, required=True)
    pub.add_argument("--schedule", type=Path, required=True)
    pub.add_argument("--out", type=Path, required=True)
    pub.add_argument("--client-id", default=f"vigil-load-{os.getpid()}")
    ref = sub.add_parser("subscribe")
    ref.add_argument("--port", type=int, required=True)
    ref.add_argument("--zones", type=Path, required=True)
    ref.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "publish":
        result = publish(args.port, Schedule.load(args.schedule), args.client_id)
        args.out.write_text(json.dumps(result))
    else:
        subscribe(args.port, json.loads(args.zones.read_text()), args.out)


if __name__ == "__main__":
    main()
