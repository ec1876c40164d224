"""The replica's end of the Hub, against a scripted Hub: what a Hub restart does."""

from __future__ import annotations

import asyncio
from typing import Any

from serve.fanout import Fanout
from serve.feed import RESYNC, LiveFeed
from tests.serve.sockets import Recorder, fix, run, settle


class Call:
    def __init__(self, reply: Any) -> None:
        self.reply = reply

    def remote(self, *args: Any) -> Any:
        return self.reply(*args)


class ScriptedHub:
    """`pull` answers from a queue of replies, in order, and records its cursors."""

    def __init__(self) -> None:
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.cursors: list[tuple[str, int, int]] = []
        self.cursor = Call(self._cursor)
        self.pull = Call(self._pull)

    async def _cursor(self) -> dict[str, Any]:
        return {"epoch": "A", "seq": 0}

    async def _pull(self, epoch: str, seq: int, pos_version: int, _wait: float) -> dict[str, Any]:
        self.cursors.append((epoch, seq, pos_version))
        return await self.replies.get()


def reply(epoch: str, positions: list[dict[str, Any]]) -> dict[str, Any]:
    version = max((p["version"] for p in positions), default=0)
    return {"epoch": epoch, "seq": 0, "lost": False, "messages": [], "pos_version": version,
            "positions": positions}  # fmt: skip


def test_after_a_hub_restart_clients_resync_and_positions_start_over() -> None:
    async def scenario() -> tuple[Recorder, Recorder, ScriptedHub, Fanout]:
        hub, fanout = ScriptedHub(), Fanout(queue_size=100)
        feed = LiveFeed(hub, fanout, tick_s=3600)
        hub.replies.put_nowait(reply("A", [{**fix("g1", 500), "version": 500}]))
        await feed.ready()
        before = Recorder()
        fanout.add(before, "u", 1).start(after=0)
        # The Hub restarts: a new epoch, versions from 1 again.
        hub.replies.put_nowait(reply("B", [{**fix("g2", 1), "version": 1}]))
        hub.replies.put_nowait(reply("B", [{**fix("g2", 1), "version": 1}]))
        await settle()
        later = Recorder()
        fanout.add(later, "u", 1).start(after=0)
        hub.replies.put_nowait(reply("B", [{**fix("g2", 2, lat=13.0), "version": 2}]))
        await settle()
        fanout.tick()
        await settle()
        return before, later, hub, fanout

    before, later, hub, fanout = run(scenario())
    assert before.closed == RESYNC
    assert ("B", 0, 0) in hub.cursors  # pulled again from the start of the new epoch
    assert list(fanout.latest) == ["g2"] and fanout.version == 2
    rows = [r for frame in later.messages("positions") for r in frame["data"]["rows"]]
    assert rows and rows[-1][0] == "g2" and rows[-1][3] == 13.0
