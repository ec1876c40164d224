"""A QoS 1 publisher for tests that need more than a few messages (paho, acks awaited)."""

from __future__ import annotations

import json
from collections.abc import Iterable

import paho.mqtt.client as mqtt

from core.broker import BrokerAddress


def publish_all(
    broker: BrokerAddress, messages: Iterable[tuple[str, str | bytes]], qos: int = 1
) -> int:
    """Publish every (topic, payload) and return once the broker has acknowledged all."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    broker.configure(client)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        sent = [client.publish(topic, payload, qos=qos) for topic, payload in messages]
        for info in sent:
            info.wait_for_publish(timeout=60)
            if not info.is_published():
                raise AssertionError(f"message {info.mid} not acknowledged by the broker")
        return len(sent)
    finally:
        client.disconnect()
        client.loop_stop()


BASE_TS = 1_780_000_000.0


def gps_stream(guards: list[str], total: int, offset: int = 0) -> list[tuple[str, str]]:
    """`total` fixes over `guards` in turn, numbered from `offset` (so each is its own row)."""
    return [
        (
            f"guard/{guards[i % len(guards)]}/gps",
            json.dumps({"lat": 12.9716, "lon": 77.5946, "seq": offset + i, "ts": BASE_TS + i}),
        )
        for i in range(total)
    ]
