"""WebSocket fan-out inside one Serve replica or the gateway: who gets what, and when.

Pure asyncio, no Ray and no Starlette: a `Socket` is anything with `send_text` and
`close`. The feed (serve/feed.py) hands messages and positions to `Fanout`; each
`Client` has its own sender task, so a slow socket only ever delays itself. A
`DirectSocket` (the gateway's, actors/gateway.py) takes a frame synchronously while
its buffer has room: an alert then reaches 500 sockets in one pass of plain calls,
with no task switch per client; the sender task only takes over for a socket whose
buffer is full, and waits for it to drain.

- Messages (alerts, their events, broadcasts) are serialised once and queued per
  client, in order, several per frame. The queue holds at most `queue_size`; a client
  that cannot take a `high` message is disconnected (code 4008), a `normal` one is
  dropped for that client and counted.
- Positions are conflated: once per tick interval a client gets one frame of the
  latest fix of every guard that changed since what it has, serialised once and shared
  by every client of its tenant in the same place; a client still sending an older
  frame gets that frame replaced. So a client sees each guard at most once per tick,
  and a slow one skips fixes but never falls behind. The clients are spread over
  `TICK_SLOTS` slots served one after the other through the interval, so 500 clients
  never all take a position frame at the instant an alert comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from core.messages import (
    POSITION_FIELDS,
    Message,
    Position,
    PositionData,
    PositionsFrame,
    Priority,
    encode,
    user_channel,
)
from core.ordered import after

log = logging.getLogger("vigil.fanout")

TOO_SLOW = 4008  # close code: the client could not keep up with its alerts
TICK_SLOTS = 10  # a tick interval's position frames go out in this many slots


class Socket(Protocol):
    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


@runtime_checkable
class DirectSocket(Socket, Protocol):
    """A socket that can also take a frame without waiting (the gateway's): `write_now`
    hands it to the kernel's buffer at once, if `writable` says that buffer has room."""

    def writable(self) -> bool: ...

    def write_now(self, data: str) -> None: ...


def positions_frame(rows: list[list[Any]], version: int) -> str:
    """One frame of positions; `v` is what a client acknowledging frames sends back."""
    frame = PositionsFrame(v=version, data=PositionData(POSITION_FIELDS, rows))
    return "[" + encode(frame).decode() + "]"


class Client:
    def __init__(
        self,
        socket: Socket,
        user: str,
        tenant: int | None,
        queue_size: int,
        stats: Counter[str],
        acks: bool = False,
        positions: bool = True,
    ) -> None:
        self.socket = socket
        self.user = user
        self.tenant = tenant  # None: every tenant
        self.queue_size = queue_size
        self.stats = stats
        self.queue: deque[tuple[int, str]] = deque()  # (seq, serialised message)
        self.last_seq = 0
        self.pos_version = 0  # positions received up to this version
        self.pos_inflight: int | None = None
        self.pos_slot: tuple[int, str] | None = None
        #: The client acknowledges position frames (`{"type": "ack", "v": ...}`): the next
        #: one leaves only once the last one arrived, so at most one is ever in the pipes
        #: (Serve's proxy buffers without limit) and an alert waits behind one frame at most.
        self.acks = acks
        self.positions = positions  # False: alerts and broadcasts only (a wallboard, an app)
        self.awaiting_ack = False
        self.slot = 0  # positions go to it when the tick reaches this slot
        self.closed = False
        self.ready = False  # messages are held until the replay was sent
        #: Frames go straight into the socket's buffer while it has room (no task switch
        #: per client per frame); the sender task takes over when it has not.
        self._direct = socket if isinstance(socket, DirectSocket) else None
        self._sending = False  # the sender task is inside a send: everything waits for it
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, after: int) -> None:
        """Start sending: what was queued meanwhile, past `after` (the replay's last seq)."""
        self.queue = deque(item for item in self.queue if item[0] > after)
        self.last_seq = max(after, self.queue[-1][0] if self.queue else 0)
        self.ready = True
        self._task = asyncio.get_running_loop().create_task(self._run())
        self.pump()

    def offer(self, seq: int, text: str, high: bool) -> bool:
        """Queue a message; True if it was (`pump` then sends what is queued)."""
        if self.closed or seq <= self.last_seq:
            return False
        if len(self.queue) >= self.queue_size:
            if high:
                self.stats["disconnected_slow"] += 1
                self.kill(TOO_SLOW, "too slow: alerts waiting exceeded the queue")
                return False
            self.stats["dropped_normal"] += 1
            return False
        self.last_seq = seq
        self.queue.append((seq, text))
        return True

    def offer_positions(self, version: int, text: str) -> None:
        if not self.positions:
            return
        self.pos_slot = (version, text)
        self.pump()

    def acknowledged(self, version: int) -> None:
        """The client has the position frame `version`: the next may go."""
        if self.pos_inflight == version:
            self.pos_version, self.pos_inflight, self.awaiting_ack = version, None, False
            self.pump()

    def base_version(self) -> int:
        """The position version the client will have once the frame in flight is sent."""
        return self.pos_inflight if self.pos_inflight is not None else self.pos_version

    def kill(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        if self._task is not None:
            self._task.cancel()
        asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.socket.close(code, reason), 2.0)

    def _next_frame(self) -> tuple[str, int | None] | None:
        """The next frame to send, and the position version it carries (None: messages).
        Messages first: an alert never waits behind positions."""
        if self.queue:
            items = list(self.queue)
            self.queue.clear()
            self.stats["frames"] += 1
            return "[" + ",".join(t for _, t in items) + "]", None
        if self.pos_slot is not None and not self.awaiting_ack:
            version, text = self.pos_slot
            self.pos_slot, self.pos_inflight = None, version
            self.awaiting_ack = self.acks
            self.stats["position_frames"] += 1
            return text, version
        return None

    def _sent(self, version: int | None) -> None:
        if version is not None and not self.acks:
            self.pos_version, self.pos_inflight = version, None

    def pump(self) -> None:
        """Send what can go now: straight into a direct socket's buffer while it has
        room, else through the sender task (which waits for the buffer to drain)."""
        if not self.ready or self.closed or self._sending:
            return
        direct = self._direct
        try:
            while direct is not None and direct.writable():
                frame = self._next_frame()
                if frame is None:
                    return
                direct.write_now(frame[0])
                self._sent(frame[1])
        except Exception:  # the socket is gone; its handler notices and unregisters
            self.closed = True
            return
        if self.queue or (self.pos_slot is not None and not self.awaiting_ack):
            self._wake.set()

    async def _run(self) -> None:
        try:
            while not self.closed:
                await self._wake.wait()
                self._wake.clear()
                while not self.closed and (frame := self._next_frame()) is not None:
                    self._sending = True
                    try:
                        await self.socket.send_text(frame[0])
                    finally:
                        self._sending = False
                    self._sent(frame[1])
                self.pump()
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket is gone; its handler notices and unregisters
            self.closed = True


class Fanout:
    """The clients of one replica and what each should get."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self.stats: Counter[str] = Counter()
        self.clients: set[Client] = set()
        #: guard -> (version, tenant, row), in the order of change (so by version)
        self.latest: OrderedDict[str, tuple[int, int, list[Any]]] = OrderedDict()
        self.version = 0  # positions known up to this version

    # -- clients -------------------------------------------------------------------------

    def add(
        self,
        socket: Socket,
        user: str,
        tenant: int | None,
        acks: bool = False,
        positions: bool = True,
    ) -> Client:
        client = Client(socket, user, tenant, self.queue_size, self.stats, acks, positions)
        client.slot = self.stats["connected"]  # its turn in a tick spread over slots
        self.clients.add(client)
        self.stats["connected"] += 1
        return client

    def remove(self, client: Client) -> None:
        if client in self.clients:
            self.clients.discard(client)
            client.kill(1000, "bye")

    def snapshot_for(self, client: Client) -> None:
        """Give a new client every guard it may see, once."""
        rows = [row for tenant, row in self._since(0) if _sees(client, tenant)]
        client.offer_positions(self.version, positions_frame(rows, self.version))

    # -- messages ------------------------------------------------------------------------

    def deliver(self, messages: Iterable[Message]) -> None:
        """Queue each message at the clients it is for, then send: what one pull brought
        leaves as one frame per client."""
        clients = list(self.clients)
        touched: dict[Client, None] = {}
        for message in messages:
            kind, _, name = message.channel.partition(":")
            text = encode(message.frame()).decode()
            high = message.priority == Priority.HIGH
            for client in clients:
                if _addressed(client, kind, name) and client.offer(message.seq, text, high):
                    touched[client] = None
            self.stats["messages"] += 1
        for client in touched:
            client.pump()

    # -- positions -----------------------------------------------------------------------

    def update_positions(self, positions: Iterable[Position]) -> None:
        for position in positions:
            version, guard = position.version, position.guard_id
            self.latest[guard] = (version, position.client_id, position.row())
            self.latest.move_to_end(guard)
            self.version = max(self.version, version)

    def forget_positions(self) -> None:
        """Start positions over (the Hub restarted: its versions count from 1 again)."""
        self.latest.clear()
        self.version = 0

    def _since(self, base: int) -> list[tuple[int, list[Any]]]:
        """(tenant, row) of every guard changed after version `base`, oldest first."""
        return [(tenant, row) for _, tenant, row in after(self.latest.values(), base, _first)]

    def tick(self, part: int = 0, parts: int = 1) -> None:
        """Send the clients of slot `part` (of `parts`) what changed since what each has:
        one frame per (version had, tenant), serialised once and shared. A client still
        sending an older frame gets its waiting frame replaced by one of the latest fix
        of everything since, so it skips fixes but never falls behind."""
        end = self.version
        frames: dict[tuple[int, int | None], str | None] = {}
        for client in list(self.clients):
            if client.slot % parts != part or not client.ready or client.closed:
                continue
            base = client.base_version()
            if not client.positions or base >= end:
                continue
            key = (base, client.tenant)
            if key not in frames:
                rows = [row for tenant, row in self._since(base) if _sees(client, tenant)]
                frames[key] = positions_frame(rows, end) if rows else None
            frame = frames[key]
            if frame is None:  # nothing of its tenant changed
                if client.pos_inflight is None and client.pos_slot is None:
                    client.pos_version = end
                continue
            if client.pos_slot is not None:
                self.stats["position_catchups"] += 1
            client.offer_positions(end, frame)


def _first(entry: tuple[int, int, list[Any]]) -> int:
    return entry[0]


def _addressed(client: Client, kind: str, name: str) -> bool:
    if kind == "noc":
        return _sees(client, int(name))
    return kind == "user" and user_channel(client.tenant, client.user) == f"user:{name}"


def _sees(client: Client, tenant: int) -> bool:
    return client.tenant is None or client.tenant == tenant
