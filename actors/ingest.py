"""IngestActor: one member of the MQTT shared subscription, from broker to shards and lake.

paho stays inside this module. A message is decoded into a typed record (or a dead
letter), batched per flush, and sent in one call to the storage writer and one
call per shard; only when both have returned is it acknowledged to the broker.
Critical messages (panic, SOS, smoke) skip the batch and travel at once on the
critical lane. The broker may have at most `receive_maximum` unacknowledged
messages out to this client and at most `inflight_batches` bulk batches are in
flight: when the shards or the writer fall behind, acknowledgements slow down and
the broker holds the rest (back-pressure, no unbounded queue here).
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
import time
import zlib
from collections import Counter, defaultdict
from typing import Any

import paho.mqtt.client as mqtt
import ray
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from actors.registry import current_fleet
from core import heap
from core.decode import Decoder
from core.errors import DEAD_LETTER_REASONS, BadMessage
from core.fleet import Fleet, FleetIndex
from core.metrics import SIZE_BUCKETS, Histogram
from core.records import DeadLetter, Record
from core.schemas import to_batch
from core.settings import Settings
from core.topics import UPLINK_FILTERS, shared

log = logging.getLogger("vigil.ingest")

Item = tuple[int, int, Record | DeadLetter]  # (mid, qos, what it became)
SESSION_EXPIRY_S = 7 * 24 * 3600  # a restarted slot takes its queued messages back


@ray.remote
class IngestActor:
    def __init__(
        self, slot: int, settings: Settings, fleet: Fleet, shards: list[Any], writer: Any
    ) -> None:
        self.slot = slot
        fleet = current_fleet(settings.namespace, fleet)  # edits since the start, on a restart
        self.index = FleetIndex(fleet)
        self.decoder = Decoder(self.index, settings)
        self.shards = shards
        self.writer = writer
        self.max_messages = settings.batch_max_messages
        self.max_wait = settings.batch_max_ms / 1000
        self.stats: Counter[str] = Counter()
        self.dead_letters: Counter[str] = Counter(dict.fromkeys(DEAD_LETTER_REASONS, 0))
        self.messages: Counter[str] = Counter()  # per table the message became a row of
        self.batch_sizes = Histogram(SIZE_BUCKETS)
        self.ack_latency = Histogram()  # receipt to PUBACK, oldest message of each batch
        self._shard_of: dict[str, int] = {}
        self._buffer: list[Item] = []
        self._oldest = 0.0
        self._cond = threading.Condition()
        self._window = threading.BoundedSemaphore(settings.inflight_batches)
        self._done: queue.Queue[tuple[list[Any], list[Item], bool]] = queue.Queue()
        self.client = self._connect(settings)
        for target, name in ((self._flush_loop, "flush"), (self._complete_loop, "complete")):
            threading.Thread(target=target, name=name, daemon=True).start()
        heap.settle()

    def update_fleet(self, fleet: Fleet) -> int:
        """A changed fleet (the API's fleet edits): new lookups for the next messages."""
        index = FleetIndex(fleet)
        decoder = copy.copy(self.decoder)
        decoder.fleet = index
        self.index, self.decoder, self._shard_of = index, decoder, {}
        return len(fleet.guards)

    def _connect(self, settings: Settings) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"vigil-ingest-{self.slot}",
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.on_connect = self._on_connect
        client.reconnect_delay_set(min_delay=1, max_delay=5)  # paho's default waits up to 2 min
        client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.ReceiveMaximum = settings.receive_maximum
        host, port = settings.broker
        client.connect_async(host, port, keepalive=30, clean_start=False, properties=props)
        client.loop_start()
        return client

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused ingest slot %s: %s", self.slot, reason)
            return
        self.stats["connects"] += 1
        client.subscribe([(shared(f), 1) for f in UPLINK_FILTERS])

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.time_ns() // 1000
        self.stats["received"] += 1
        item: Record | DeadLetter | None
        try:
            item = self.decoder.decode(msg.topic, msg.payload, now)
        except BadMessage as error:
            item = self.decoder.dead_letter(msg.topic, msg.payload, error, now)
            self.dead_letters[error.reason] += 1
        if item is not None:
            self.messages[item.TABLE] += 1
        if item is None:  # vigil's own downlink traffic
            self._ack([(msg.mid, msg.qos, None)])  # type: ignore[list-item]
            return
        if isinstance(item, Record) and item.critical:
            self.stats["critical"] += 1
            self._dispatch([(msg.mid, msg.qos, item)], critical=True)
            return
        with self._cond:
            if not self._buffer:
                self._oldest = time.monotonic()
                self._cond.notify()  # the flusher starts the batch's clock
            self._buffer.append((msg.mid, msg.qos, item))
            if len(self._buffer) >= self.max_messages:
                self._cond.notify()

    def _flush_loop(self) -> None:
        while True:
            with self._cond:
                while not self._buffer:
                    self._cond.wait()
                while len(self._buffer) < self.max_messages:
                    left = self._oldest + self.max_wait - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch, self._buffer = self._buffer, []
            self._window.acquire()  # back-pressure: at most `inflight_batches` in flight
            self.batch_sizes.observe(len(batch))
            self._dispatch(batch, critical=False)

    def _dispatch(self, batch: list[Item], critical: bool) -> None:
        self._done.put((self._submit(batch, critical), batch, critical))
        self.stats["batches"] += 1

    def _submit(self, batch: list[Item], critical: bool) -> list[Any]:
        """One writer call and one call per shard concerned; returns their refs."""
        tables: dict[str, list[Any]] = defaultdict(list)
        per_shard: dict[int, list[Record]] = defaultdict(list)
        for _, _, item in batch:
            tables[item.TABLE].append(item)
            if isinstance(item, Record):
                per_shard[self._shard(item)].append(item)
        refs = []
        for shard, records in per_shard.items():  # first: the shards are the alerts' path
            apply = self.shards[shard].apply_critical if critical else self.shards[shard].apply
            refs.append(apply.remote(records))
        frames = [(table, to_batch(table, rows)) for table, rows in tables.items()]
        write = self.writer.append_critical if critical else self.writer.append
        refs.append(write.remote(frames))
        return refs

    def _shard(self, record: Record) -> int:
        entity = record.entity_id
        shard = self._shard_of.get(entity)
        if shard is None:
            key = self.index.route_key(record.ENTITY, entity)
            shard = self._shard_of[entity] = zlib.crc32(key.encode()) % len(self.shards)
        return shard

    def _complete_loop(self) -> None:
        while True:
            refs, batch, critical = self._done.get()
            self._wait_applied(refs, batch, critical)
            self._ack(batch)
            if not critical:
                self._window.release()

    def _wait_applied(self, refs: list[Any], batch: list[Item], critical: bool) -> None:
        """Block until the batch is durable and applied; resend it until it is."""
        delay = 0.1
        while True:
            try:
                ray.get(refs)
                return
            except Exception:
                self.stats["batch_failures"] += 1
                log.exception("batch of %d not applied; resending in %.1fs", len(batch), delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                # Shard steps are idempotent and the lake drops rows repeated by key.
                refs = self._submit(batch, critical)

    def _ack(self, batch: list[Item]) -> None:
        for mid, qos, _ in batch:
            if qos:
                self.client.ack(mid, qos)
        self.stats["acked"] += len(batch)
        first = batch[0][2]
        if first is not None:
            self.ack_latency.observe(time.time() - first.received_at / 1e6)

    def get_stats(self) -> dict[str, Any]:
        with self._cond:
            buffered = len(self._buffer)
            oldest = self._buffer[0][2] if self._buffer else None
        waiting = list(self._done.queue)  # batches sent, not yet acknowledged
        if waiting and waiting[0][1][0][2] is not None:
            oldest = waiting[0][1][0][2]
        lag = max(0.0, time.time() - oldest.received_at / 1e6) if oldest else 0.0
        return {
            **self.stats,
            "buffered": buffered,
            "inflight_batches": len(waiting),
            "oldest_unacked_s": lag,
            "dead_letters": dict(self.dead_letters),
            "messages": dict(self.messages),
            "batch_size": self.batch_sizes.to_dict(),
            "ack_latency": self.ack_latency.to_dict(),
            "connected": self.client.is_connected(),
        }

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
