"""vigil's MQTT client reads ahead and parses PUBLISH itself: through a real Mosquitto,
whatever is published (any topic, any payload up to 200 KiB, with or without MQTT 5
properties, QoS 0 and 1, in bursts) arrives whole and in order, and a batch acknowledged
with `ack_all` is never delivered again."""

from __future__ import annotations

import queue
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from actors.edge.mqtt import Message, Mqtt
from core.loops import Threads
from core.settings import Settings
from tests.conftest import TESTS, wait_for

LEVEL = st.text(  # Mosquitto drops a client whose topic holds a control character
    st.characters(whitelist_categories=("L", "N", "P", "S", "Zs"), blacklist_characters="+#/"),
    min_size=1,
    max_size=12,
)
PAYLOAD = st.one_of(
    st.binary(max_size=300),
    st.integers(60_000, 200_000).map(lambda n: bytes(range(256)) * (n // 256)),
)
MESSAGE = st.tuples(st.lists(LEVEL, min_size=1, max_size=3), PAYLOAD, st.sampled_from([0, 1]))


class Subscriber:
    """An Mqtt client with manual acks on `probe/<run>/#`, messages into a queue."""

    def __init__(self, settings: Settings, client_id: str, root: str) -> None:
        self.got: queue.Queue[Message] = queue.Queue()
        self.threads = Threads(client_id)
        self.mqtt = Mqtt(
            settings,
            client_id,
            self.threads,
            self.got.put,
            [f"{root}/#"],
            manual_ack=True,
            session_expiry_s=60,
        )
        wait_for(lambda: self.mqtt.stats["connects"] > 0, 10, "the subscriber connected")

    def take(self, n: int, timeout: float = 10) -> list[Message]:
        deadline = time.monotonic() + timeout
        out: list[Message] = []
        while len(out) < n:
            out.append(self.got.get(timeout=max(0.01, deadline - time.monotonic())))
        return out

    def stop(self) -> None:
        self.mqtt.stop()


def publisher(broker: Any) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    broker.login(TESTS.username).configure(client)
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MESSAGE, min_size=1, max_size=40), st.booleans())
def test_whatever_is_published_arrives_whole_and_in_order(
    broker: Any, messages: list[tuple[list[str], bytes, int]], with_properties: bool
) -> None:
    root = f"probe/{uuid.uuid4().hex[:8]}"
    sub = Subscriber(
        Settings(broker_url=broker.login(TESTS.username).url), f"probe-{uuid.uuid4().hex[:8]}", root
    )
    pub = publisher(broker)
    try:
        props = Properties(PacketTypes.PUBLISH)
        if with_properties:
            props.UserProperty = [("k", "v" * 40)]
            props.ContentType = "application/json"
        sent = []
        for levels, payload, qos in messages:
            topic = "/".join([root, *levels])
            info = pub.publish(topic, payload, qos=qos, properties=props)
            info.wait_for_publish(10)  # one at a time: the order is the broker's to keep
            sent.append((topic, payload, qos))
        got = sub.take(len(sent))
        assert [(m.topic, m.payload) for m in got] == [(t, p) for t, p, _ in sent]
        sub.mqtt.ack_all([(m.mid, m.qos) for m in got])
    finally:
        pub.loop_stop()
        pub.disconnect()
        sub.stop()


def test_a_batch_acknowledged_with_ack_all_is_not_delivered_again(broker: Any) -> None:
    root = f"probe/{uuid.uuid4().hex[:8]}"
    client_id = f"probe-{uuid.uuid4().hex[:8]}"
    sub = Subscriber(Settings(broker_url=broker.login(TESTS.username).url), client_id, root)
    pub = publisher(broker)
    try:
        for i in range(300):
            pub.publish(f"{root}/m", str(i).encode(), qos=1).wait_for_publish(10)
        first = sub.take(300)
        sub.mqtt.ack_all([(m.mid, m.qos) for m in first[:200]])  # the rest stays unacked
        # The broker reads a socket in order: once it answers this, it has the acks.
        sub.mqtt.client.publish(f"{root}-done", b"", qos=1).wait_for_publish(10)
    finally:
        sub.stop()
    again = Subscriber(
        Settings(broker_url=broker.login(TESTS.username).url), client_id, root
    )  # the same session
    try:
        redelivered = again.take(100)
        assert sorted(m.payload for m in redelivered) == sorted(
            str(i).encode() for i in range(200, 300)
        )
        assert again.got.empty()
    finally:
        pub.loop_stop()
        pub.disconnect()
        again.stop()
