"""The replica's end of the Hub: one long poll feeding the fan-out, and the position tick.

One `pull` per wake-up brings every new message and changed position for all the
replica's clients at once; the fan-out (serve/fanout.py) decides who gets what. If
the Hub restarted (new epoch) or the replica fell so far behind that the Hub's log
no longer reaches back (lost), every client is closed with 4000: each reconnects
with the last seq it saw, and resumes from the Hub's per-channel logs or, failing
that, reloads its state over REST.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from serve.fanout import TICK_SLOTS, Fanout

log = logging.getLogger("vigil.feed")

RESYNC = 4000  # close code: reconnect and resume


class LiveFeed:
    def __init__(self, hub: Any, fanout: Fanout, tick_s: float, poll_s: float = 5.0) -> None:
        self.hub = hub
        self.fanout = fanout
        self.tick_s = tick_s
        self.poll_s = poll_s
        self.epoch = ""
        self.seq = 0
        self.pos_version = 0
        self._primed: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def ready(self) -> None:
        """Start the loops on first use (the replica's event loop); wait for the first pull."""
        if self._primed is None:
            self._primed = asyncio.Event()
            cursor = await self.hub.cursor.remote()  # start from now: clients replay the past
            self.epoch, self.seq = cursor["epoch"], cursor["seq"]
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._pull_loop()), loop.create_task(self._tick_loop())]
        await self._primed.wait()

    async def _pull_loop(self) -> None:
        assert self._primed is not None
        while True:
            try:
                wait = self.poll_s if self._primed.is_set() else 0.0
                reply = await self.hub.pull.remote(self.epoch, self.seq, self.pos_version, wait)
            except Exception:
                log.exception("pulling from the Hub failed; retrying")
                await asyncio.sleep(0.5)
                continue
            if reply["epoch"] != self.epoch or reply["lost"]:
                self.fanout.stats["resyncs"] += 1
                for client in list(self.fanout.clients):
                    client.kill(RESYNC, "resync: reconnect with your last seq")
                self.fanout.forget_positions()
                self.epoch, self.seq, self.pos_version = reply["epoch"], reply["seq"], 0
                continue  # pull every guard's latest fix again
            self.epoch, self.seq = reply["epoch"], reply["seq"]
            self.pos_version = reply["pos_version"]
            self.fanout.deliver(reply["messages"])  # alerts first: positions can wait a tick
            self.fanout.update_positions(reply["positions"])
            self._primed.set()

    async def _tick_loop(self) -> None:
        """Every `tick_s`, each client's positions, one slot of clients at a time."""
        slot = 0
        while True:
            await asyncio.sleep(self.tick_s / TICK_SLOTS)
            try:
                self.fanout.tick(slot, TICK_SLOTS)
            except Exception:
                log.exception("position tick failed")
            slot = (slot + 1) % TICK_SLOTS
