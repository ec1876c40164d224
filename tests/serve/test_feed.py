"""The replica's end of the Hub, against a scripted Hub: what a Hub restart does."""

from __future__ import annotations

import asyncio
from typing import Any

from core.messages import Cursor, Message, Position, Pull
from serve.fanout import Fanout
from serve.feed import RESYNC, LiveFeed
from tests.serve.sockets import Recorder, alert, fix, run, settle


class Call:
    def __init__(self, reply: Any) -> None:
        self.reply = reply

    def remote(self, *args: Any) -> Any:
        return self.reply(*args)


class ScriptedHub:
    """`pull` answers from a queue of replies, in order, and records its cursors."""

    def __init__(self) -> None:
        self.replies: asyncio.Queue[Pull] = asyncio.Queue()
        self.cursors: list[tuple[str, int, int]] = []
        self.cursor = Call(self._cursor)
        self.pull = Call(self._pull)

    async def _cursor(self) -> Cursor:
        return Cursor(epoch="A", seq=0)

    async def _pull(self, epoch: str, seq: int, pos_version: int, _wait: float) -> Pull:
        self.cursors.append((epoch, seq, pos_version))
        return await self.replies.get()


def reply(
    epoch: str, positions: list[Position], seq: int = 0, messages: list[Message] | None = None
) -> Pull:
    version = max((p.version for p in positions), default=0)
    return Pull(epoch=epoch, seq=seq, lost=False, messages=messages or [], pos_version=version,
                positions=positions)  # fmt: skip


def test_after_a_hub_restart_clients_resync_and_positions_start_over() -> None:
    async def scenario() -> tuple[Recorder, Recorder, ScriptedHub, Fanout]:
        hub, fanout = ScriptedHub(), Fanout(queue_size=100)
        feed = LiveFeed(hub, fanout, tick_s=3600)
        hub.replies.put_nowait(reply("A", [fix("g1", 500, version=500)]))
        await feed.ready()
        before = Recorder()
        fanout.add(before, "u", 1).start(after=0)
        # The Hub restarts: a new epoch, versions from 1 again.
        hub.replies.put_nowait(reply("B", [fix("g2", 1, version=1)]))
        hub.replies.put_nowait(reply("B", [fix("g2", 1, version=1)]))
        await settle()
        later = Recorder()
        fanout.add(later, "u", 1).start(after=0)
        hub.replies.put_nowait(reply("B", [fix("g2", 2, lat=13.0, version=2)]))
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


class AwayHub(ScriptedHub):
    """A Hub that is restarting when the feed first asks for its cursor."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.cursor = Call(self._away_cursor)

    async def _away_cursor(self) -> dict[str, Any]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the Hub is restarting")
        return await self._cursor()


def test_a_feed_whose_hub_is_away_at_its_first_client_starts_once_the_hub_answers() -> None:
    async def scenario() -> tuple[AwayHub, Fanout]:
        hub, fanout = AwayHub(failures=2), Fanout(queue_size=100)
        feed = LiveFeed(hub, fanout, tick_s=3600)
        hub.replies.put_nowait(reply("A", [fix("g1", 1, version=1)]))
        await asyncio.wait_for(feed.ready(), 10)
        return hub, fanout

    hub, fanout = run(scenario())
    assert hub.failures == 0 and hub.cursors[0] == ("A", 0, 0)
    assert list(fanout.latest) == ["g1"]


def test_a_pull_the_fanout_cannot_take_is_counted_and_the_feed_goes_on() -> None:
    async def scenario() -> tuple[Recorder, Fanout]:
        hub, fanout = ScriptedHub(), Fanout(queue_size=100)
        feed = LiveFeed(hub, fanout, tick_s=3600)
        # Structs are not checked when made in process: a channel of None reaches the fan-out.
        broken = Message(seq=1, channel=None, type="alert", data={})  # type: ignore[arg-type]
        hub.replies.put_nowait(reply("A", [], 1, [broken]))  # the fan-out raises AttributeError
        await feed.ready()
        socket = Recorder()
        fanout.add(socket, "u", 1).start(after=0)
        good = reply("A", [], 2, [alert(2)])
        hub.replies.put_nowait(good)
        await asyncio.wait_for(_until(lambda: socket.messages("alert")), 10)
        return socket, fanout

    socket, fanout = run(scenario())
    assert fanout.stats["feed_failures"] == 1
    assert [m["seq"] for m in socket.messages("alert")] == [2]


async def _until(probe: Any) -> None:
    while not probe():
        await asyncio.sleep(0.01)
