"""Notifier: delivers alerts through each tenant's channels, with receipts and retries.

`dispatch` makes the deliveries of one tier durable (the outbox, actors/notify/outbox.py)
and queues them; it never waits for a channel. A repeated dispatch of the same alert
and tier is dropped. Each channel has its own bounded queue and worker threads: a
channel that fails or hangs never delays another (nor the NOC). A failed attempt is
retried after an exponential back-off, and only once its receipt (a `notifications`
row, one per attempt) is durable, so a restarted notifier knows every attempt it
resumes after; the last failure is dead-lettered. On start the notifier reads the
outbox and the receipts back and resumes every delivery that had not ended.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections import Counter, OrderedDict, deque
from dataclasses import replace
from functools import partial
from typing import Any

import ray
from ray.util.metrics import Counter as Metric

from actors.edge import alertlog
from actors.notify import outbox
from actors.notify.channels import check_channels, routes, send
from actors.notify.message import Dispatch
from actors.notify.outbox import Delivery, backoff
from actors.registry import current_fleet
from core import names
from core.alerts import NotificationAttempt, Outcome
from core.fleet import Fleet, FleetIndex
from core.loops import Threads
from core.metrics import Histogram
from core.schemas import to_batch
from core.settings import Settings

log = logging.getLogger("vigil.notifier")

RECEIPTS_QUEUE = 100_000  # receipts waiting for the writer (a full queue holds the workers)
RECEIPTS_EVERY_S = 0.05
RECEIPTS_PER_WRITE = 5000
BEAT_S = 1.0  # idle threads wake this often to beat their heartbeat
DEAD_KEPT = 1000  # recent dead letters kept in memory (all of them are in the lake)
HANDED_KEPT = 200_000  # (alert, tier) pairs remembered to drop a repeated dispatch
OUTBOX_WRITES = 3  # tries to make a dispatch durable before delivering it anyway
Unwritten = tuple[NotificationAttempt, Delivery | None, float]  # receipt, retry, when due


@ray.remote
class Notifier:
    def __init__(self, settings: Settings) -> None:
        fleet = current_fleet(settings)
        check_channels(fleet)
        self.index = FleetIndex(fleet)
        self.writer = names.peer(names.WRITER, settings)
        self.settings = settings
        self.attempts = max(1, settings.notify_attempts)
        self.backoff = settings.notify_backoff_s
        self.backoff_max = settings.notify_backoff_max_s
        self.timeout = settings.notify_timeout_s
        self.stats: Counter[str] = Counter(
            {"queued": 0, "repeats": 0, "resumed": 0, "outbox_write_failures": 0}
        )
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (channel, outcome)
        self.latency = Histogram()  # one attempt through apprise, seconds
        self.dead: deque[dict[str, Any]] = deque(maxlen=DEAD_KEPT)
        self.metric = Metric(
            "vigil_notifications",
            description="Notification delivery attempts, by channel and outcome.",
            tag_keys=("channel", "outcome"),
        )
        self.threads = Threads("vigil-notifier")
        self._handed: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._retries: list[tuple[float, int, Delivery]] = []
        self._retry_cond = threading.Condition()
        self._order = itertools.count()
        self._receipts: queue.Queue[Unwritten] = queue.Queue(maxsize=RECEIPTS_QUEUE)
        self._unwritten: list[Unwritten] = []  # taken from the queue, not yet durable
        self.lanes: dict[tuple[int, str], queue.Queue[Delivery]] = {}
        self._open_lanes(fleet)
        self.threads.forever("retries", self._release_retries, pause=0.0)
        self.threads.forever("receipts", self._write_receipts, pause=0.0)
        self._resume()

    def dispatch(self, dispatch: Dispatch) -> int:
        """Make the deliveries of one tier of one alert durable and queue them; returns how
        many were queued (0 for a repeat: Ray may run a retried call twice)."""
        handed = (dispatch.alert.alert_id, dispatch.tier)
        if handed in self._handed:
            self.stats["repeats"] += 1
            return 0
        deliveries, no_address = outbox.plan(dispatch, self.index)
        self.stats["no_address"] += no_address  # e.g. a guard without a phone number
        if deliveries:
            self._write_outbox(deliveries)
        self._remember(handed)
        queued = sum(self._enqueue(d) for d in deliveries)
        self.stats["queued"] += queued
        return queued

    def update_fleet(self, fleet: Fleet) -> int:
        """Take a changed fleet (the API's edits, through actors/registry.py): channels of
        new or changed tenants get their lanes, and the next dispatch is planned with the
        new channels, rosters and contacts. Deliveries already queued keep the URL they
        were planned with. Returns how many lanes are open."""
        check_channels(fleet, "fleet edit")  # the registry checked it; a restart must not fail
        self._open_lanes(fleet)
        self.index = FleetIndex(fleet)
        return len(self.lanes)

    def dead_letters(self, client_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Recently dead-lettered deliveries of this incarnation, newest first."""
        found = [d for d in reversed(self.dead) if client_id in (None, d["client_id"])]
        return found[:limit]

    def get_stats(self) -> dict[str, Any]:
        waiting = {f"{c}:{ch}": lane.qsize() for (c, ch), lane in self.lanes.items()}
        with self._retry_cond:
            retries = len(self._retries)
        return {
            **self.stats,
            "waiting": waiting,
            "retries_pending": retries,
            "receipts_unwritten": self._receipts.qsize() + len(self._unwritten),
            "receipt_write_failures": self.threads.failures["receipts"],
            "attempts": {f"{ch}/{out}": n for (ch, out), n in self.outcomes.items()},
            "attempt_latency": self.latency.to_dict(),
            "dead_kept": len(self.dead),
            "threads": self.threads.report(),
            "problems": self.threads.problems(),
        }

    def _open_lanes(self, fleet: Fleet) -> None:
        """A bounded queue and its workers for every channel that has none yet. A removed
        channel's lane stays: it drains what was queued or retried on it."""
        opened = dict(self.lanes)
        for tenant in fleet.tenants:
            for route in routes(tenant):
                if (tenant.id, route.channel) in opened:
                    continue
                lane: queue.Queue[Delivery] = queue.Queue(self.settings.notify_queue)
                opened[(tenant.id, route.channel)] = lane
                for n in range(max(1, self.settings.notify_workers)):
                    name = f"notify-{tenant.id}-{route.channel}-{n}"
                    self.threads.forever(name, partial(self._work, lane), pause=0.0)
        self.lanes = opened  # one swap: the retries thread reads it meanwhile

    # -- the outbox ----------------------------------------------------------------------

    def _write_outbox(self, deliveries: list[Delivery]) -> None:
        now = time.time_ns() // 1000
        batch = to_batch("notification_outbox", [outbox.to_row(d, now) for d in deliveries])
        for attempt in range(1, OUTBOX_WRITES + 1):
            try:
                ray.get(self.writer.append_critical.remote([("notification_outbox", batch)]))
                return
            except Exception:
                log.exception("writing the outbox of alert %s failed", deliveries[0].alert_id)
                time.sleep(0.1 * attempt)
        # A panic must still go out: it is delivered, only not resumable after a crash.
        self.stats["outbox_write_failures"] += 1

    def _remember(self, handed: tuple[str, int]) -> None:
        self._handed[handed] = None
        while len(self._handed) > HANDED_KEPT:
            self._handed.popitem(last=False)

    def _resume(self) -> None:
        """Queue again every delivery of the outbox that had not ended."""
        now = time.time_ns() // 1000
        since = now - int(self.settings.notify_outbox_s * 1e6)
        for handed in alertlog.handed_over(self.settings, since):
            self._remember(handed)
        for pending in alertlog.pending_deliveries(self.settings, since):
            delivery = outbox.revive(pending, self.index)
            if isinstance(delivery, str):
                self._give_up(pending, delivery)
                continue
            wait = outbox.wait_s(pending, now, self.backoff, self.backoff_max)
            self._schedule([(time.monotonic() + wait, delivery)])
            self.stats["resumed"] += 1

    def _give_up(self, pending: outbox.Pending, why: str) -> None:
        row = pending.row
        log.warning("cannot resume delivery %s of alert %s: %s", row.delivery_id, row.alert_id, why)
        self._receipt(outbox.unsendable(pending), Outcome.DEAD_LETTERED, why, 0.0, None, 0.0)

    # -- delivery ------------------------------------------------------------------------

    def _enqueue(self, delivery: Delivery) -> int:
        lane = self.lanes[(delivery.route.client_id, delivery.route.channel)]
        try:
            lane.put_nowait(delivery)
            return 1
        except queue.Full:
            self.stats["queue_full"] += 1
            self._receipt(delivery, Outcome.DEAD_LETTERED, "channel queue full", 0.0, None, 0.0)
            return 0

    def _work(self, lane: queue.Queue[Delivery]) -> float:
        try:
            delivery = lane.get(timeout=BEAT_S)
        except queue.Empty:
            return 0.0
        started = time.perf_counter()
        error = send(
            delivery.url, delivery.title, delivery.body, delivery.notify_type, self.timeout
        )
        latency_ms = (time.perf_counter() - started) * 1000
        if error is None:
            self._receipt(delivery, Outcome.DELIVERED, "", latency_ms, None, 0.0)
        elif delivery.attempt >= self.attempts:
            self._receipt(delivery, Outcome.DEAD_LETTERED, error, latency_ms, None, 0.0)
        else:
            due = time.monotonic() + backoff(delivery.attempt, self.backoff, self.backoff_max)
            retry = replace(delivery, attempt=delivery.attempt + 1)
            self._receipt(delivery, Outcome.FAILED, error, latency_ms, retry, due)
        return 0.0

    def _schedule(self, retries: list[tuple[float, Delivery]]) -> None:
        with self._retry_cond:
            for due, delivery in retries:
                heapq.heappush(self._retries, (due, next(self._order), delivery))
            self._retry_cond.notify()

    def _release_retries(self) -> float:
        """Puts retries back on their channel's queue when their back-off is over."""
        with self._retry_cond:
            now = time.monotonic()
            if not self._retries or self._retries[0][0] > now:
                first = self._retries[0][0] - now if self._retries else BEAT_S
                self._retry_cond.wait(min(first, BEAT_S))
            due = []
            while self._retries and self._retries[0][0] <= time.monotonic():
                due.append(heapq.heappop(self._retries)[2])
        for delivery in due:
            self._enqueue(delivery)
        return 0.0

    # -- receipts ------------------------------------------------------------------------

    def _receipt(
        self,
        delivery: Delivery,
        outcome: Outcome,
        error: str,
        latency_ms: float,
        retry: Delivery | None,
        due: float,
    ) -> None:
        """Record one attempt; `retry` is scheduled (at `due`) once the receipt is durable."""
        row = outbox.receipt(delivery, outcome, error, latency_ms, time.time_ns() // 1000)
        channel = row.channel
        self.stats[str(outcome)] += 1
        self.outcomes[(channel, str(outcome))] += 1
        self.latency.observe(latency_ms / 1000)
        self.metric.inc(1.0, tags={"channel": channel, "outcome": str(outcome)})
        if outcome == Outcome.DEAD_LETTERED:
            self.dead.append({f: getattr(row, f) for f in row.__struct_fields__})
            log.warning(
                "notification of alert %s via %s to %s dead-lettered after %d attempts: %s",
                row.alert_id,
                row.channel,
                row.recipient,
                row.attempt,
                row.error,
            )
        self._receipts.put((row, retry, due))  # never dropped: a retry rides with it

    def _write_receipts(self) -> float:
        """Write receipts to the lake in batches, then schedule the retries they carry."""
        if not self._unwritten:
            try:
                self._unwritten.append(self._receipts.get(timeout=BEAT_S))
            except queue.Empty:
                return 0.0
            time.sleep(RECEIPTS_EVERY_S)  # gather what arrives meanwhile into one write
        while len(self._unwritten) < RECEIPTS_PER_WRITE:
            try:
                self._unwritten.append(self._receipts.get_nowait())
            except queue.Empty:
                break
        batch = to_batch("notifications", [row for row, _, _ in self._unwritten])
        ray.get(self.writer.append.remote([("notifications", batch)]))  # raises: tried again
        retries = [(due, retry) for _, retry, due in self._unwritten if retry is not None]
        self._unwritten = []
        if retries:
            self._schedule(retries)
        return 0.0
