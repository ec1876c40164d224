"""Notifier: delivers alerts through each tenant's channels, with receipts and retries.

`dispatch` only queues and returns, so the router never waits for a channel. Each
channel has its own bounded queue and worker threads: a channel that fails or
hangs never delays another (nor the NOC). A failed attempt is retried after an
exponential back-off; after the last attempt the delivery is dead-lettered. Every
attempt is one `notifications` row (a receipt), written to the lake in batches.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, replace
from typing import Any

import ray
from ray.util.metrics import Counter as Metric

from actors.notify.channels import Route, check_channels, render, routes, send
from actors.notify.message import NOTIFY_TYPE, Dispatch, compose
from core.alerts import NotificationAttempt, Outcome, attempt_id
from core.fleet import Fleet, FleetIndex
from core.metrics import Histogram
from core.schemas import to_batch
from core.settings import Settings

log = logging.getLogger("vigil.notifier")

RECEIPTS_QUEUE = 100_000  # receipts waiting for the writer
RECEIPTS_EVERY_S = 0.05
DEAD_KEPT = 1000  # recent dead letters kept in memory (all of them are in the lake)


@dataclass(frozen=True, slots=True)
class Delivery:
    route: Route
    alert_id: str
    tier: int
    recipient: str
    url: str
    title: str
    body: str
    notify_type: str
    raised_at: int  # µs
    attempt: int = 1


class Lane:
    """One channel of one tenant: a bounded queue and its own workers."""

    def __init__(self, size: int) -> None:
        self.queue: queue.Queue[Delivery] = queue.Queue(maxsize=size)


@ray.remote
class Notifier:
    def __init__(self, settings: Settings, fleet: Fleet, writer: Any) -> None:
        check_channels(fleet)
        self.index = FleetIndex(fleet)
        self.writer = writer
        self.attempts = max(1, settings.notify_attempts)
        self.backoff = settings.notify_backoff_s
        self.backoff_max = settings.notify_backoff_max_s
        self.timeout = settings.notify_timeout_s
        self.stats: Counter[str] = Counter()
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (channel, outcome)
        self.latency = Histogram()  # one attempt through apprise, seconds
        self.dead: deque[dict[str, Any]] = deque(maxlen=DEAD_KEPT)
        self.metric = Metric(
            "vigil_notifications",
            description="Notification delivery attempts, by channel and outcome.",
            tag_keys=("channel", "outcome"),
        )
        self.lanes: dict[tuple[int, str], Lane] = {}
        for tenant in fleet.tenants:
            for route in routes(tenant):
                lane = self.lanes[(tenant.id, route.channel)] = Lane(settings.notify_queue)
                for n in range(max(1, settings.notify_workers)):
                    name = f"notify-{tenant.id}-{route.channel}-{n}"
                    threading.Thread(
                        target=self._work, args=(lane,), name=name, daemon=True
                    ).start()
        self._retries: list[tuple[float, int, Delivery]] = []
        self._retry_cond = threading.Condition()
        self._order = itertools.count()
        self._receipts: queue.Queue[NotificationAttempt] = queue.Queue(maxsize=RECEIPTS_QUEUE)
        for target in (self._retry_loop, self._receipt_loop):
            threading.Thread(target=target, name=target.__name__, daemon=True).start()

    def dispatch(self, dispatch: Dispatch) -> int:
        """Queue the deliveries of one tier of one alert; returns how many were queued."""
        tenant = self.index.tenants.get(dispatch.alert.client_id)
        if tenant is None or not tenant.channels:
            return 0
        title, body = compose(dispatch, self.index)
        notify_type = NOTIFY_TYPE.get(dispatch.alert.severity, "info")  # type: ignore[call-overload]
        queued = 0
        for route in routes(tenant):
            if dispatch.alert.severity not in route.severities:
                continue
            targets: list[tuple[str, str | None]]
            if route.per_person:
                targets = []
                for person_id in dispatch.people:
                    person = self.index.people.get(person_id)
                    url = render(route.template, person) if person is not None else None
                    if url is None:
                        self.stats["no_address"] += 1  # e.g. a guard without a phone number
                    else:
                        targets.append((person_id, url))
            elif dispatch.tier == 1:  # alert-wide channels (webhooks) hear of an alert once
                targets = [(route.channel, route.template)]
            else:
                targets = []
            for recipient, url in targets:
                delivery = Delivery(
                    route=route,
                    alert_id=dispatch.alert.alert_id,
                    tier=dispatch.tier,
                    recipient=recipient,
                    url=url or "",
                    title=title,
                    body=body,
                    notify_type=notify_type,
                    raised_at=dispatch.raised_at,
                )
                queued += self._enqueue(delivery)
        self.stats["queued"] += queued
        return queued

    def dead_letters(self, client_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Recently dead-lettered deliveries of this incarnation, newest first."""
        found = [d for d in reversed(self.dead) if client_id in (None, d["client_id"])]
        return found[:limit]

    def get_stats(self) -> dict[str, Any]:
        waiting = {f"{c}:{ch}": lane.queue.qsize() for (c, ch), lane in self.lanes.items()}
        return {
            **self.stats,
            "waiting": waiting,
            "retries_pending": len(self._retries),
            "attempts": {f"{ch}/{out}": n for (ch, out), n in self.outcomes.items()},
            "attempt_latency": self.latency.to_dict(),
            "dead_kept": len(self.dead),
        }

    # -- delivery ------------------------------------------------------------------------

    def _enqueue(self, delivery: Delivery) -> int:
        lane = self.lanes[(delivery.route.client_id, delivery.route.channel)]
        try:
            lane.queue.put_nowait(delivery)
            return 1
        except queue.Full:
            self.stats["queue_full"] += 1
            self._receipt(delivery, Outcome.DEAD_LETTERED, "channel queue full", 0.0)
            return 0

    def _work(self, lane: Lane) -> None:
        while True:
            delivery = lane.queue.get()
            try:
                self._attempt(delivery)
            except Exception:  # never lose the worker; the delivery is recorded as failed
                log.exception("delivery worker failed on alert %s", delivery.alert_id)

    def _attempt(self, delivery: Delivery) -> None:
        started = time.perf_counter()
        error = send(
            delivery.url, delivery.title, delivery.body, delivery.notify_type, self.timeout
        )
        latency_ms = (time.perf_counter() - started) * 1000
        if error is None:
            self._receipt(delivery, Outcome.DELIVERED, "", latency_ms)
        elif delivery.attempt >= self.attempts:
            self._receipt(delivery, Outcome.DEAD_LETTERED, error, latency_ms)
        else:
            self._receipt(delivery, Outcome.FAILED, error, latency_ms)
            wait = min(self.backoff * 2 ** (delivery.attempt - 1), self.backoff_max)
            with self._retry_cond:
                due = time.monotonic() + wait
                retry = replace(delivery, attempt=delivery.attempt + 1)
                heapq.heappush(self._retries, (due, next(self._order), retry))
                self._retry_cond.notify()

    def _retry_loop(self) -> None:
        """Puts retries back on their channel's queue when their back-off is over."""
        while True:
            with self._retry_cond:
                while not self._retries or self._retries[0][0] > time.monotonic():
                    timeout = self._retries[0][0] - time.monotonic() if self._retries else None
                    self._retry_cond.wait(timeout)
                _, _, delivery = heapq.heappop(self._retries)
            self._enqueue(delivery)

    # -- receipts ------------------------------------------------------------------------

    def _receipt(self, delivery: Delivery, outcome: Outcome, error: str, latency_ms: float) -> None:
        now = time.time_ns() // 1000
        row = NotificationAttempt(
            alert_id=delivery.alert_id,
            attempt_id=attempt_id(
                delivery.alert_id,
                delivery.tier,
                delivery.route.channel,
                delivery.recipient,
                delivery.attempt,
            ),
            client_id=delivery.route.client_id,
            tier=delivery.tier,
            channel=delivery.route.channel,
            recipient=delivery.recipient,
            attempt=delivery.attempt,
            outcome=str(outcome),
            error=error[:500],
            latency_ms=round(latency_ms, 3),
            delay_ms=round((now - delivery.raised_at) / 1000, 3),
            ts=now,
        )
        self.stats[str(outcome)] += 1
        self.outcomes[(delivery.route.channel, str(outcome))] += 1
        self.latency.observe(latency_ms / 1000)
        self.metric.inc(1.0, tags={"channel": delivery.route.channel, "outcome": str(outcome)})
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
        try:
            self._receipts.put_nowait(row)
        except queue.Full:
            self.stats["receipts_dropped"] += 1

    def _receipt_loop(self) -> None:
        """Writes receipts to the lake in batches; a failed write is tried again."""
        pending: list[NotificationAttempt] = []
        while True:
            if not pending:
                pending.append(self._receipts.get())
            time.sleep(RECEIPTS_EVERY_S)  # gather what arrives meanwhile into one write
            while len(pending) < 5000:
                try:
                    pending.append(self._receipts.get_nowait())
                except queue.Empty:
                    break
            try:
                batch = to_batch("notifications", pending)
                ray.get(self.writer.append.remote([("notifications", batch)]))
                pending = []
            except Exception:
                self.stats["receipt_write_failures"] += 1
                log.exception("writing %d receipts failed; retrying", len(pending))
                time.sleep(1.0)
