"""Hub: the live view, fed by shards (positions), the router (alerts) and any Ray task.

Two kinds of traffic, kept apart because they need opposite treatment:

- **Positions** are a live view: the Hub keeps the latest fix per guard, each stamped
  with a position version; a reader asks for what changed since the version it has,
  so a fix replaced before anyone read it is simply never sent (conflation).
- **Messages** (alerts, their lifecycle events, training progress, anything sent with
  `broadcast_to_noc` / `broadcast_to_user`) are a log: each gets the next sequence
  number and goes to one channel (`noc:<tenant>` or `user:<id>`). They are never
  conflated or reordered; each channel keeps its last `CHANNEL_LOG` messages so a
  WebSocket client that reconnects with the last seq it saw gets what it missed.

Serve replicas read with `pull`, a long poll: it returns at once when something is
newer than the caller's cursor, else waits (up to `timeout`) for the next publish.
`epoch` changes when the Hub restarts (its memory is gone), so a reader holding an
old cursor knows to start over rather than wait for sequence numbers already used.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import OrderedDict, deque
from typing import Any

import msgspec
import ray

from core import heap, names
from core.alerts import Alert
from core.messages import (
    ALERT,
    ALERT_EVENT,
    Cursor,
    Message,
    Position,
    Priority,
    Pull,
    Replay,
    noc_channel,
    user_channel,
)
from core.ordered import after

FEED_SIZE = 1000  # alerts and events kept for `snapshot`
CHANNEL_LOG = 5000  # messages kept per channel for resume
PULL_LOG = 50_000  # messages kept for pullers (all channels)
HIGH, NORMAL = Priority.HIGH, Priority.NORMAL


@ray.remote
class Hub:
    def __init__(self) -> None:
        self.epoch = uuid.uuid4().hex[:12]
        self.seq = 0
        self.positions: OrderedDict[str, Position] = OrderedDict()  # oldest change first
        self.pos_version = 0
        self.feed: deque[dict[str, Any]] = deque(maxlen=FEED_SIZE)
        self.events: deque[dict[str, Any]] = deque(maxlen=FEED_SIZE)
        self.log: deque[Message] = deque(maxlen=PULL_LOG)
        self.channels: dict[str, deque[Message]] = {}
        self._published: OrderedDict[str, None] = OrderedDict()  # alert ids, oldest first
        self._news = asyncio.Event()
        self.stats = {"messages": 0, "positions": 0, "pulls": 0}
        self.started_at = time.time()
        self.restarted = ray.get_runtime_context().was_current_actor_reconstructed
        heap.settle()

    async def ping(self) -> int:
        return self.seq

    async def cursor(self) -> Cursor:
        """Where the message log is now: a reader starting here gets only what follows."""
        return Cursor(epoch=self.epoch, seq=self.seq)

    # -- writers -------------------------------------------------------------------------

    async def update_positions(self, positions: list[Position]) -> int:
        for position in positions:
            guard_id = position.guard_id
            current = self.positions.get(guard_id)
            if current is not None and current.ts > position.ts:
                continue  # an older fix arriving late does not move the guard back
            self.pos_version += 1
            self.positions[guard_id] = msgspec.structs.replace(position, version=self.pos_version)
            self.positions.move_to_end(guard_id)
        self.stats["positions"] += len(positions)
        self._wake()
        return len(positions)

    async def publish_alerts(self, alerts: list[Alert]) -> int:
        """New alerts to their tenant's NOC, each once: the router publishes an alert
        while it is being made durable, so a raise retried after a failed write may
        publish the same alert_id again."""
        for alert in alerts:
            if alert.alert_id in self._published:
                continue
            self._published[alert.alert_id] = None
            if len(self._published) > PULL_LOG:
                self._published.popitem(last=False)
            data = msgspec.to_builtins(alert)
            message = self._append(noc_channel(alert.client_id), ALERT, data, HIGH)
            self.feed.append({"seq": message.seq, **data})
        self._wake()
        return self.seq

    async def publish_events(self, events: list[dict[str, Any]]) -> int:
        """Lifecycle events of alerts (each a dict with at least alert_id and client_id)."""
        for event in events:
            message = self._append(noc_channel(event["client_id"]), ALERT_EVENT, event, HIGH)
            self.events.append({"seq": message.seq, **event})
        self._wake()
        return self.seq

    async def broadcast(
        self, channel: str, type: str, data: dict[str, Any], priority: str = NORMAL
    ) -> int:
        """One message to a channel (`noc:<tenant>` or `user:<id>`); returns its seq.

        `high` messages are never dropped (a client that cannot take them is
        disconnected); `normal` ones may be dropped for a client that falls behind."""
        if not channel.startswith(("noc:", "user:")):
            raise ValueError(f"channel must be noc:<tenant> or user:<id>, got {channel!r}")
        message = self._append(channel, type, data, Priority(priority))
        self._wake()
        return message.seq

    # -- readers -------------------------------------------------------------------------

    async def pull(self, epoch: str, seq: int, pos_version: int, timeout: float = 5.0) -> Pull:
        """Messages after `seq` and positions changed after `pos_version`, waiting up to
        `timeout` s for some. A cursor of another epoch starts from the beginning."""
        self.stats["pulls"] += 1
        if epoch != self.epoch:
            seq, pos_version = 0, 0
        if self.seq <= seq and self.pos_version <= pos_version:
            self._news.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), timeout)
        oldest = self.log[0].seq if self.log else self.seq + 1
        return Pull(
            epoch=self.epoch,
            seq=self.seq,
            lost=seq + 1 < oldest and seq < self.seq and epoch == self.epoch,
            messages=after(self.log, seq, _seq),
            pos_version=self.pos_version,
            positions=after(self.positions.values(), pos_version, _version),
        )

    async def replay(
        self, channels: list[str], since: int, epoch: str = "", all_noc: bool = False
    ) -> Replay:
        """Messages of `channels` (and of every tenant's NOC with `all_noc`) after `since`,
        in order; `complete` is False when the channel logs no longer reach back that
        far, or when `epoch` is not this Hub's (then nothing is replayed)."""
        if epoch and epoch != self.epoch:
            return Replay(epoch=self.epoch, seq=self.seq, messages=[], complete=False)
        if all_noc:
            channels = [*channels, *(c for c in self.channels if c.startswith("noc:"))]
        found = [m for c in channels for m in after(self.channels.get(c, ()), since, _seq)]
        found.sort(key=_seq)
        complete = True
        for channel in channels:
            log = self.channels.get(channel)
            if log and len(log) == log.maxlen and log[0].seq > since + 1:
                complete = False
        return Replay(epoch=self.epoch, seq=self.seq, messages=found, complete=complete)

    async def positions_of(self, client_id: int | None = None) -> list[dict[str, Any]]:
        """Every guard's latest fix, as plain data (what the API serves)."""
        mine = [p for p in self.positions.values() if client_id in (None, p.client_id)]
        return list(msgspec.to_builtins(mine))

    async def snapshot(self, client_id: int | None = None, since: int = 0) -> dict[str, Any]:
        """Guards' positions and alerts newer than `since`, for one tenant or all, as plain
        data (what the API serves)."""

        def mine(item: dict[str, Any]) -> bool:
            return client_id is None or item["client_id"] == client_id

        guards = [p for p in self.positions.values() if client_id in (None, p.client_id)]
        return {
            "seq": self.seq,
            "epoch": self.epoch,
            "guards": msgspec.to_builtins(guards),
            "alerts": [a for a in self.feed if a["seq"] > since and mine(a)],
            "events": [e for e in self.events if e["seq"] > since and mine(e)],
        }

    async def get_stats(self) -> dict[str, Any]:
        return {
            **self.stats,
            "seq": self.seq,
            "epoch": self.epoch,
            "guards": len(self.positions),
            "channels": len(self.channels),
            # The Hub has no thread or task of its own: every method answers a call, so
            # that it answers at all is its liveness. Empty, in the shape other actors use.
            "threads": {},
            "problems": [],
            "started_at": self.started_at,
            "restarted": self.restarted,
        }

    # -- plumbing ------------------------------------------------------------------------

    def _append(self, channel: str, type: str, data: Any, priority: Priority) -> Message:
        self.seq += 1
        message = Message(seq=self.seq, channel=channel, type=type, data=data, priority=priority)
        self.log.append(message)
        log = self.channels.get(channel)
        if log is None:
            log = self.channels[channel] = deque(maxlen=CHANNEL_LOG)
        log.append(message)
        self.stats["messages"] += 1
        return message

    def _wake(self) -> None:
        self._news.set()


def _seq(message: Message) -> int:
    return message.seq


def _version(position: Position) -> int:
    return position.version


def _hub(namespace: str) -> Any:
    return ray.get_actor(names.HUB, namespace=namespace)


def broadcast_to_noc(
    client_id: int,
    type: str,
    data: dict[str, Any],
    priority: str = NORMAL,
    namespace: str = "vigil",
) -> Any:
    """Send to every NOC page of tenant `client_id` (from any Ray task or actor).
    Returns the call's ObjectRef (its seq); nothing waits for it unless you do."""
    return _hub(namespace).broadcast.remote(noc_channel(client_id), type, data, priority)


def broadcast_to_user(
    client_id: int | None,
    user_id: str,
    type: str,
    data: dict[str, Any],
    priority: str = NORMAL,
    namespace: str = "vigil",
) -> Any:
    """Send to every page the user `user_id` (a token's `sub`) of tenant `client_id` has
    open."""
    channel = user_channel(client_id, user_id)
    return _hub(namespace).broadcast.remote(channel, type, data, priority)
