"""IngestActor: one member of the MQTT shared subscription, from broker to shards and lake.

A message is decoded into records (vigil's contract, or an OwnTracks phone's own:
core/trackers.py) or a dead letter and handed to the intake (actors/intake.py), which
batches, sends and tells this slot when to acknowledge it to the broker: only once it
is durable and applied. The broker may have at most `receive_maximum` unacknowledged
messages out to this client, so when the intake slows its acknowledgements the broker
holds the rest (back-pressure).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from typing import Any

import ray

from actors.edge.mqtt import SESSION_EXPIRY_S, Message, Mqtt
from actors.intake import Intake, internal
from core import heap, names
from core.errors import BadMessage
from core.records import DeadLetter, Record
from core.settings import Settings
from core.topics import UPLINK_FILTERS, shared

log = logging.getLogger("vigil.ingest")


def ingest_sessions(settings: Settings) -> dict[str, list[str]]:
    """Each ingest slot's persistent MQTT session: its client id and its subscriptions."""
    shared_filters = [shared(f) for f in UPLINK_FILTERS]
    return {names.ingest(slot): shared_filters for slot in range(settings.ingest_actors)}


@ray.remote
class IngestActor(Intake):
    def __init__(self, slot: int, settings: Settings) -> None:
        super().__init__(names.ingest(slot), settings)
        self.slot = slot
        self.mqtt = Mqtt(
            settings,
            self.name,
            self.threads,
            self._on_message,
            ingest_sessions(settings)[self.name],
            manual_ack=True,
            session_expiry_s=SESSION_EXPIRY_S,
            receive_maximum=settings.receive_maximum,
        )
        heap.settle()

    # -- receiving (paho's thread) -------------------------------------------------------------

    def _on_message(self, msg: Message) -> None:
        now = time.time_ns() // 1000
        self.stats["received"] += 1
        items = self._decode(msg, now)
        if not items:  # vigil's own downlink traffic
            self.mqtt.ack(msg.mid, msg.qos)
            self.stats["acked"] += 1
            return
        self._accept((msg.mid, msg.qos), items)

    def _decode(self, msg: Message, now: int) -> list[Record] | list[DeadLetter]:
        try:
            return self.decoder.records(msg.topic, msg.payload, now)
        except BadMessage as error:
            return [self._dead_letter(msg.topic, msg.payload, error, now)]
        except Exception as exc:  # a decoder bug must not stop the stream: a dead letter
            log.exception("decoding a message on %r failed", msg.topic)
            return [self._dead_letter(msg.topic, msg.payload, internal(exc, "decode"), now)]

    def _acknowledge(self, tokens: list[Hashable]) -> None:
        self.mqtt.ack_all(tokens)  # type: ignore[arg-type]  # this slot's tokens: (mid, qos)

    # -- health --------------------------------------------------------------------------------

    def get_stats(self) -> dict[str, Any]:
        return {**self.stats_of_intake(), **self.mqtt.stats, "connected": self.mqtt.connected}

    def stop(self) -> None:
        self.threads.stop()
        self.mqtt.stop()
