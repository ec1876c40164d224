"""Intake: the path every uplink takes from its edge to the shards and the lake.

An edge (the MQTT ingest slots, the Traccar Client HTTP ingress) turns what it receives
into records and hands them in with a token of its own; the intake batches them per
flush, sends each batch in one call to the storage writer and one call per shard, and
hands the tokens back to the edge (`_acknowledge`) only when the batch is durable,
applied, and the alerts it raised are the router's: a PUBACK to the broker, an HTTP 200.
Critical records (panic, SOS, smoke) skip the batch and travel at once on the critical
lane. At most `inflight_batches` bulk batches are in flight: when the shards or the
writer fall behind, acknowledgements slow down and the edge holds the rest
(back-pressure, no unbounded queue here).

Whatever a record does to the Arrow builder or a rule, it ends as a dead letter with a
reason and the stream goes on; every thread beats a heartbeat, and one that dies ends
the actor so Ray restarts it (core/loops.py).
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import ray

from actors.registry import current_fleet
from actors.shard import Applied
from core import duty, names
from core.errors import DEAD_LETTER_REASONS, BadMessage
from core.fleet import Fleet, FleetIndex
from core.loops import Threads
from core.metrics import SIZE_BUCKETS, Histogram
from core.records import DeadLetter, GuardLocation, Record
from core.schemas import to_batch
from core.settings import Settings
from core.trackers import PhoneDecoder

log = logging.getLogger("vigil.intake")

Item = tuple[Hashable, Record | DeadLetter]  # (the edge's token, what it became)
BEAT_S = 1.0  # idle threads wake this often to beat their heartbeat


@dataclass(slots=True)
class Pending:
    """A batch sent and not yet acknowledged: what to resend until it is applied."""

    batch: list[Item]
    frames: list[tuple[str, pa.RecordBatch]]
    per_shard: dict[int, list[Record]]
    critical: bool
    id: int
    refs: list[Any] = field(default_factory=list)


class Intake:
    """The batching, sending and acknowledging half of an edge actor (its base class)."""

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.started_at = time.time()
        self.restarted = ray.get_runtime_context().was_current_actor_reconstructed
        self.index = FleetIndex(current_fleet(settings))
        self.decoder = PhoneDecoder(self.index, settings)
        self.shards = [names.peer(names.shard(i), settings) for i in range(settings.shards)]
        self.writer = names.peer(names.WRITER, settings)
        self.max_messages = settings.batch_max_messages
        self.max_wait = settings.batch_max_ms / 1000
        self.stats: Counter[str] = Counter(off_duty_dropped=0)
        self.dead_letters: Counter[str] = Counter(dict.fromkeys(DEAD_LETTER_REASONS, 0))
        self.messages: Counter[str] = Counter()  # per table the message became a row of
        self.batch_sizes = Histogram(SIZE_BUCKETS)
        self.ack_latency = Histogram()  # receipt to acknowledgement, oldest of each batch
        self._shard_of: dict[str, int] = {}
        self._buffer: list[Item] = []
        self._oldest = 0.0
        self._cond = threading.Condition()
        self._window = threading.BoundedSemaphore(settings.inflight_batches)
        self._done: queue.Queue[Pending] = queue.Queue()
        self._unacked: dict[int, int] = {}  # batch id -> its oldest received_at (µs)
        self._unacked_lock = threading.Lock()
        self._batch_ids = iter(range(1 << 62))
        self._called = [0.0] * len(self.shards)  # when each shard last heard from this edge
        self.threads = Threads(self.name)
        self.threads.start("flush", self._flush_loop)
        self.threads.start("complete", self._complete_loop)

    def update_fleet(self, fleet: Fleet) -> int:
        """A changed fleet (the API's fleet edits): new lookups for the next messages."""
        index = FleetIndex(fleet)
        decoder = copy.copy(self.decoder)
        decoder.fleet = index
        self.index, self.decoder, self._shard_of = index, decoder, {}
        return len(fleet.guards)

    def _acknowledge(self, tokens: list[Hashable]) -> None:
        """Tell the edge these tokens' records are durable and applied."""
        raise NotImplementedError

    # -- handing in (the edge's threads) -------------------------------------------------------

    def _accept(self, token: Hashable, items: Iterable[Record | DeadLetter]) -> None:
        """Take what one message became; all of it travels in one batch, so its token is
        acknowledged once, when all of it is applied. Positions of guards off duty are
        dropped here, unread and unstored, unless their tenant opts in (core/duty.py)."""
        batch = [(token, item) for item in items if not self._private(item)]
        if not batch:  # nothing to keep: acknowledged at once
            self._acknowledge([token])
            self.stats["acked"] += 1
            return
        for _, item in batch:
            self.messages[item.TABLE] += 1
        if any(isinstance(item, Record) and item.critical for _, item in batch):
            self.stats["critical"] += 1
            self._dispatch(batch, critical=True)
            return
        with self._cond:
            if not self._buffer:
                self._oldest = time.monotonic()
                self._cond.notify()  # the flusher starts the batch's clock
            self._buffer.extend(batch)
            if len(self._buffer) >= self.max_messages:
                self._cond.notify()

    def _private(self, item: Record | DeadLetter) -> bool:
        if isinstance(item, GuardLocation) and duty.private(
            self.index, item.guard_id, item.received_at
        ):
            self.stats["off_duty_dropped"] += 1
            return True
        return False

    def _dead_letter(self, topic: str, payload: bytes, error: BadMessage, now: int) -> DeadLetter:
        self.dead_letters[error.reason] += 1
        return self.decoder.dead_letter(topic, payload, error, now)

    # -- batching and sending --------------------------------------------------------------------

    def _flush_loop(self) -> None:
        while True:
            with self._cond:
                while not self._buffer:
                    self.threads.beat("flush")
                    self._cond.wait(BEAT_S)
                    if not self._buffer:
                        self._tell_low_water()
                while len(self._buffer) < self.max_messages:
                    left = self._oldest + self.max_wait - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch, self._buffer = self._buffer, []
            self.threads.beat("flush")
            while not self._window.acquire(timeout=BEAT_S):  # back-pressure
                self.threads.beat("flush")
            self.batch_sizes.observe(len(batch))
            self._dispatch(batch, critical=False)

    def _dispatch(self, batch: list[Item], critical: bool) -> None:
        frames, records = frames_of([item for _, item in batch], self._unfit)
        per_shard: dict[int, list[Record]] = defaultdict(list)
        for record in records:
            per_shard[self._shard(record)].append(record)
        pending = Pending(batch, frames, dict(per_shard), critical, next(self._batch_ids))
        with self._unacked_lock:
            self._unacked[pending.id] = min(item.received_at for _, item in batch)
        pending.refs = self._submit(pending)
        self._done.put(pending)
        self.stats["batches"] += 1

    def _submit(self, pending: Pending) -> list[Any]:
        """One call per shard concerned and one writer call; returns their refs."""
        low_water = self._low_water()
        refs = []
        for shard, records in pending.per_shard.items():  # first: the shards are the alerts' path
            target = self.shards[shard]
            apply = target.apply_critical if pending.critical else target.apply
            refs.append(apply.remote(records, low_water, self.name))
            self._called[shard] = time.monotonic()
        write = self.writer.append_critical if pending.critical else self.writer.append
        refs.append(write.remote(pending.frames))
        return refs

    def _unfit(self, row: Record, error: BadMessage) -> DeadLetter:
        topic = f"{row.ENTITY}/{row.entity_id}"
        return self._dead_letter(topic, repr(row).encode(), error, row.received_at)

    def _shard(self, record: Record) -> int:
        entity = record.entity_id
        shard = self._shard_of.get(entity)
        if shard is None:
            shard = self.index.shard_of(record.ENTITY, entity, len(self.shards))
            self._shard_of[entity] = shard
        return shard

    def _tell_low_water(self) -> None:
        """Shards this slot has not called for a second hear its low-water mark anyway
        (their checkpoints' replay window, storage/recovery.py); nothing waits for it."""
        now = time.monotonic()
        quiet = [i for i, at in enumerate(self._called) if now - at >= BEAT_S]
        if quiet:
            low_water = self._low_water(locked=True)
            for shard in quiet:
                self.shards[shard].note_low_water.remote(low_water, self.name)
                self._called[shard] = now

    def _low_water(self, locked: bool = False) -> int:
        """The oldest receipt (µs) of anything this slot has not acknowledged yet: every
        record it sends from now on was received at or after it (shards' replay window)."""
        with self._unacked_lock:
            oldest = min(self._unacked.values(), default=time.time_ns() // 1000)
        if locked:  # the caller holds the buffer's lock
            return min(oldest, self._buffer[0][1].received_at) if self._buffer else oldest
        with self._cond:
            if self._buffer:
                oldest = min(oldest, self._buffer[0][1].received_at)
        return oldest

    # -- completion: acknowledge once durable and applied -----------------------------------------

    def _complete_loop(self) -> None:
        while True:
            try:
                pending = self._done.get(timeout=BEAT_S)
            except queue.Empty:
                self.threads.beat("complete")
                continue
            self._wait_applied(pending)
            self._ack(pending.batch)
            with self._unacked_lock:
                del self._unacked[pending.id]
            if not pending.critical:
                self._window.release()

    def _wait_applied(self, pending: Pending) -> None:
        """Block until the batch is durable, applied and its alerts are the router's;
        resend it until it is."""
        delay = 0.1
        while True:
            self.threads.beat("complete")
            try:
                *applied, _ = ray.get(pending.refs)
                ray.get([call for shard in applied for call in shard.raising])
                self._write_rule_failures(applied, pending.critical)
                return
            except Exception:
                self.stats["batch_failures"] += 1
                size = len(pending.batch)
                log.exception("batch of %d not applied; resending in %.1fs", size, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                # Shard steps are idempotent and the lake drops rows repeated by key.
                pending.refs = self._submit(pending)

    def _write_rule_failures(self, applied: list[Applied], critical: bool) -> None:
        """Shards answer with a dead letter per rule that failed on a record; durable first."""
        dead = [letter for shard in applied for letter in shard.dead]
        if dead:
            self.dead_letters["internal"] += len(dead)
            write = self.writer.append_critical if critical else self.writer.append
            ray.get(write.remote([("dead_letters", to_batch("dead_letters", dead))]))

    def _ack(self, batch: list[Item]) -> None:
        tokens = list(dict.fromkeys(token for token, _ in batch))  # a message's records share one
        self._acknowledge(tokens)
        self.stats["acked"] += len(tokens)
        self.ack_latency.observe(time.time() - batch[0][1].received_at / 1e6)

    def stats_of_intake(self) -> dict[str, Any]:
        """The intake's part of the edge's `get_stats()`."""
        with self._unacked_lock:
            oldest = min(self._unacked.values(), default=None)
        with self._cond:
            buffered = len(self._buffer)
            if self._buffer:
                first = self._buffer[0][1].received_at
                oldest = first if oldest is None else min(oldest, first)
        lag = max(0.0, time.time() - oldest / 1e6) if oldest is not None else 0.0
        threads = self.threads.report()
        return {
            **self.stats,
            "buffered": buffered,
            "inflight_batches": len(self._unacked),
            "oldest_unacked_s": lag,
            "dead_letters": dict(self.dead_letters),
            "messages": dict(self.messages),
            "batch_size": self.batch_sizes.to_dict(),
            "ack_latency": self.ack_latency.to_dict(),
            "threads": threads,
            "thread_beat_age_s": {name: t["beat_age_s"] for name, t in threads.items()},
            "problems": self.threads.problems(),
            "started_at": self.started_at,
            "restarted": self.restarted,
        }


def frames_of(
    items: list[Record | DeadLetter], unfit: Callable[[Record, BadMessage], DeadLetter]
) -> tuple[list[tuple[str, pa.RecordBatch]], list[Record]]:
    """The items as one Arrow batch per table, and the records to apply in the order they
    arrived (a logical actor sees its messages in order); a record Arrow cannot hold is
    not applied but becomes the dead letter `unfit` makes of it."""
    tables: dict[str, list[Any]] = defaultdict(list)
    for item in items:
        tables[item.TABLE].append(item)
    dead = tables.pop("dead_letters", [])
    frames, refused = [], set()
    for table, rows in tables.items():
        try:
            frames.append((table, to_batch(table, rows)))
            continue
        except Exception:  # rare: find the rows at fault, one by one
            pass
        fit = []
        for row in rows:
            try:
                to_batch(table, [row])
                fit.append(row)
            except Exception as exc:
                refused.add(id(row))
                dead.append(unfit(row, internal(exc, f"the {table} row of {row.msg_key}")))
        frames.append((table, to_batch(table, fit)))
    if dead:
        frames.append(("dead_letters", to_batch("dead_letters", dead)))
    records = [i for i in items if isinstance(i, Record) and id(i) not in refused]
    return frames, records


def internal(exc: BaseException, where: str) -> BadMessage:
    """The dead letter's reason for a failure that is vigil's, not the message's."""
    return BadMessage("internal", f"{type(exc).__name__} in {where}: {exc}"[:500])
