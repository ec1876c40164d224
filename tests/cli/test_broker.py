"""vigil's own Mosquitto across a restart: an ingest slot's shared subscription is there
from the broker's first moment, so what devices publish before the slot reconnects waits
for it instead of being dropped (Mosquitto 2.0 restores the session, not the share), and
what was queued for it before the restart still reaches it."""

from __future__ import annotations

import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cli.broker import Mosquitto, free_port
from tests.conftest import wait_for

SHARE = "$share/vigil/guard/#"


def slot(port: int, got: list[bytes]) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="slot", protocol=mqtt.MQTTv5)
    client.on_message = lambda _c, _u, m: got.append(m.payload)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    return client


def publish(port: int, payload: bytes) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish("guard/g-1/gps", payload, qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def test_a_message_published_right_after_a_broker_restart_reaches_the_slot(
    tmp_path: Path,
) -> None:
    broker = Mosquitto(tmp_path, free_port(), sessions={"slot": [SHARE]}).start()
    try:
        got: list[bytes] = []
        subscribed = threading.Event()
        client = slot(broker.port, got)
        client.on_subscribe = lambda *_: subscribed.set()
        client.subscribe(SHARE, qos=1)
        assert subscribed.wait(10)
        client.disconnect()
        client.loop_stop()
        publish(broker.port, b"queued for the slot before the restart")
        broker.stop()
        broker.start()  # holds the slot's session again: must not take its queue away
        publish(broker.port, b"after the restart, before the slot is back")
        client = slot(broker.port, got)
        wait_for(lambda: len(got) >= 2, 10, "both messages delivered to the returning slot")
        assert sorted(got) == [
            b"after the restart, before the slot is back",
            b"queued for the slot before the restart",
        ]
        client.disconnect()
        client.loop_stop()
    finally:
        broker.stop()
