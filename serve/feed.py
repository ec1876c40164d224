"""The replica's end of the Hub: one long poll feeding the fan-out, and the position tick.

One `pull` per wake-up brings every new message and changed position for all the
replica's clients at once; the fan-out (serve/fanout.py) decides who gets what. If
the Hub restarted (new epoch) or the replica fell so far behind that the Hub's log
no longer reaches back (lost), every client is closed with 4000: each reconnects
with the last seq it saw, and resumes from the Hub's per-channel logs or, failing
that, reloads its state over REST.

Both loops are supervised tasks (serve/tasks.py) that beat a heartbeat: a failed call
to the Hub or a pull the fan-out cannot take is logged and the loop goes on; a loop
that ends anyway ends its process, and Ray (Serve, for a replica) starts it again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from core.messages import Pull
from serve.fanout import TICK_SLOTS, Fanout
from serve.tasks import Tasks

log = logging.getLogger("vigil.feed")

RESYNC = 4000  # close code: reconnect and resume
RETRY_S = 0.5  # after a failed call to the Hub (it may be restarting)


class LiveFeed:
    def __init__(
        self,
        hub: Any,
        fanout: Fanout,
        tick_s: float,
        poll_s: float = 5.0,
        tasks: Tasks | None = None,
    ) -> None:
        self.hub = hub
        self.fanout = fanout
        self.tick_s = tick_s
        self.poll_s = poll_s
        #: The pull and tick loops; either one ending ends the process (serve/tasks.py).
        self.tasks = tasks or Tasks("live feed")
        self.epoch = ""
        self.seq = 0
        self.pos_version = 0
        self._primed: asyncio.Event | None = None
        self.fanout.stats["feed_failures"] += 0  # a series from the start

    def start(self) -> None:
        """Start the pull and tick loops on the running event loop, once."""
        if self._primed is None:
            self._primed = asyncio.Event()
            self.tasks.start("pull", self._pull_loop())
            self.tasks.start("tick", self._tick_loop())

    async def ready(self) -> None:
        """Start the loops on first use (a replica's first client); wait for the first pull."""
        self.start()
        assert self._primed is not None
        await self._primed.wait()

    async def _start_cursor(self) -> None:
        """Start from the Hub's now (clients replay the past themselves). Inside the loop
        and retried: a feed whose first client came while the Hub was restarting would
        otherwise never pull, and every later client would wait for it for ever."""
        while not self.epoch:
            self.tasks.beat("pull")
            try:
                cursor = await self.hub.cursor.remote()
            except Exception:
                log.exception("asking the Hub for its cursor failed; retrying")
                await asyncio.sleep(RETRY_S)
                continue
            self.epoch, self.seq = cursor.epoch, cursor.seq

    async def _pull_loop(self) -> None:
        assert self._primed is not None
        await self._start_cursor()
        while True:
            self.tasks.beat("pull")
            try:
                wait = self.poll_s if self._primed.is_set() else 0.0
                reply: Pull = await self.hub.pull.remote(
                    self.epoch, self.seq, self.pos_version, wait
                )
            except Exception:
                log.exception("pulling from the Hub failed; retrying")
                await asyncio.sleep(RETRY_S)
                continue
            if reply.epoch != self.epoch or reply.lost:
                self.fanout.stats["resyncs"] += 1
                for client in list(self.fanout.clients):
                    client.kill(RESYNC, "resync: reconnect with your last seq")
                self.fanout.forget_positions()
                self.epoch, self.seq, self.pos_version = reply.epoch, reply.seq, 0
                continue  # pull every guard's latest fix again
            self.epoch, self.seq, self.pos_version = reply.epoch, reply.seq, reply.pos_version
            try:
                self.fanout.deliver(reply.messages)  # alerts first: positions can wait
                self.fanout.update_positions(reply.positions)
            except Exception:  # a message the fan-out cannot take must not stop the feed
                self.fanout.stats["feed_failures"] += 1
                log.exception("fanning out the pull up to seq %s failed", reply.seq)
            self._primed.set()

    async def _tick_loop(self) -> None:
        """Every `tick_s`, each client's positions, one slot of clients at a time."""
        slot = 0
        while True:
            self.tasks.beat("tick")
            await asyncio.sleep(self.tick_s / TICK_SLOTS)
            try:
                self.fanout.tick(slot, TICK_SLOTS)
            except Exception:
                log.exception("position tick failed")
            slot = (slot + 1) % TICK_SLOTS
