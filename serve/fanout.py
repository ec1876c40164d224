"""WebSocket fan-out inside one Serve replica: which client gets what, and when.

Pure asyncio, no Ray and no Starlette: a `Socket` is anything with `send_text` and
`close`. The feed (serve/feed.py) hands messages and positions to `Fanout`; each
`Client` has its own sender task, so a slow socket only ever delays itself.

- Messages (alerts, their events, broadcasts) are serialised once and queued per
  client, in order, several per frame. The queue holds at most `queue_size`; a client
  that cannot take a `high` message is disconnected (code 4008), a `normal` one is
  dropped for that client and counted.
- Positions are conflated: every `tick` the changes since the last tick become one
  frame per tenant, serialised once and shared by every client that is up to date; a
  client still sending an older frame gets, instead, one frame of the latest fix of
  every guard that changed since what it really received. So a client sees each guard
  at most once per tick, and a slow one skips fixes but never falls behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter, deque
from collections.abc import Iterable
from typing import Any, Protocol

log = logging.getLogger("vigil.fanout")

POSITION_FIELDS = ["guard_id", "client_id", "site_id", "lat", "lon", "ts", "accuracy", "inside"]
TOO_SLOW = 4008  # close code: the client could not keep up with its alerts


class Socket(Protocol):
    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


def position_row(position: dict[str, Any]) -> list[Any]:
    inside = [zone for zone, yes in (position.get("zones") or {}).items() if yes]
    return [
        position["guard_id"],
        position["client_id"],
        position.get("site_id"),
        position["lat"],
        position["lon"],
        position["ts"],
        position.get("accuracy"),
        inside,
    ]


def positions_frame(rows: list[list[Any]], version: int) -> str:
    """One frame of positions; `v` is what a client acknowledging frames sends back."""
    message = {"type": "positions", "v": version}
    message["data"] = {"fields": POSITION_FIELDS, "rows": rows}
    return "[" + json.dumps(message, separators=(",", ":")) + "]"


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
        self.closed = False
        self.ready = False  # messages are held until the replay was sent
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, after: int) -> None:
        """Start sending: what was queued meanwhile, past `after` (the replay's last seq)."""
        self.queue = deque(item for item in self.queue if item[0] > after)
        self.last_seq = max(after, self.queue[-1][0] if self.queue else 0)
        self.ready = True
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()

    def offer(self, seq: int, text: str, high: bool) -> None:
        if self.closed or seq <= self.last_seq:
            return
        if len(self.queue) >= self.queue_size:
            if high:
                self.stats["disconnected_slow"] += 1
                self.kill(TOO_SLOW, "too slow: alerts waiting exceeded the queue")
                return
            self.stats["dropped_normal"] += 1
            return
        self.last_seq = seq
        self.queue.append((seq, text))
        self._wake.set()

    def offer_positions(self, version: int, text: str) -> None:
        if not self.positions:
            return
        self.pos_slot = (version, text)
        self._wake.set()

    def acknowledged(self, version: int) -> None:
        """The client has the position frame `version`: the next may go."""
        if self.pos_inflight == version:
            self.pos_version, self.pos_inflight, self.awaiting_ack = version, None, False
            self._wake.set()

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

    async def _run(self) -> None:
        try:
            while not self.closed:
                await self._wake.wait()
                self._wake.clear()
                while self.queue or (self.pos_slot and not self.awaiting_ack):
                    if self.queue:  # messages first: an alert never waits behind positions
                        items = list(self.queue)
                        self.queue.clear()
                        await self.socket.send_text("[" + ",".join(t for _, t in items) + "]")
                        self.stats["frames"] += 1
                        continue
                    assert self.pos_slot is not None
                    version, text = self.pos_slot
                    self.pos_slot, self.pos_inflight = None, version
                    self.awaiting_ack = self.acks
                    await self.socket.send_text(text)
                    if not self.acks:
                        self.pos_version, self.pos_inflight = version, None
                    self.stats["position_frames"] += 1
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
        self.latest: dict[str, tuple[int, int, list[Any]]] = {}  # guard -> (version, tenant, row)
        self.version = 0  # positions known up to this version
        self._ticked = 0  # version of the last tick
        self._changed: dict[str, None] = {}  # guards changed since the last tick, in order

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
        self.clients.add(client)
        self.stats["connected"] += 1
        return client

    def remove(self, client: Client) -> None:
        if client in self.clients:
            self.clients.discard(client)
            client.kill(1000, "bye")

    def snapshot_for(self, client: Client) -> None:
        """Give a new client every guard it may see, once."""
        rows = [row for _, tenant, row in self.latest.values() if _sees(client, tenant)]
        client.offer_positions(self.version, positions_frame(rows, self.version))

    # -- messages ------------------------------------------------------------------------

    def deliver(self, messages: Iterable[dict[str, Any]]) -> None:
        for message in messages:
            channel = message["channel"]
            kind, _, name = channel.partition(":")
            text = json.dumps(
                {k: message[k] for k in ("seq", "channel", "type", "data")},
                separators=(",", ":"),
                default=str,
            )
            high = message.get("priority") == "high"
            for client in list(self.clients):
                if _addressed(client, kind, name):
                    client.offer(message["seq"], text, high)
            self.stats["messages"] += 1

    # -- positions -----------------------------------------------------------------------

    def update_positions(self, positions: Iterable[dict[str, Any]]) -> None:
        for position in positions:
            version = position["version"]
            guard = position["guard_id"]
            self.latest[guard] = (version, position["client_id"], position_row(position))
            self._changed.pop(guard, None)  # re-inserted at the end: order of change
            self._changed[guard] = None
            self.version = max(self.version, version)

    def tick(self) -> None:
        """Send what changed since the last tick: one shared frame per tenant."""
        if self.version == self._ticked:
            return
        start, end = self._ticked, self.version
        per_tenant: dict[int, list[list[Any]]] = {}
        for guard in self._changed:
            _, tenant, row = self.latest[guard]
            per_tenant.setdefault(tenant, []).append(row)
        self._changed = {}
        self._ticked = end
        shared = {t: positions_frame(rows, end) for t, rows in per_tenant.items()}
        everything: str | None = None
        for client in list(self.clients):
            if not client.ready or client.closed or not client.positions:
                continue
            if client.pos_slot is None and client.base_version() == start:
                if client.tenant is None:
                    if everything is None:
                        every = [r for rows in per_tenant.values() for r in rows]
                        everything = positions_frame(every, end)
                    client.offer_positions(end, everything)
                elif client.tenant in shared:
                    client.offer_positions(end, shared[client.tenant])
                elif client.pos_inflight is None:
                    client.pos_version = end  # nothing of its tenant changed
                continue
            # Behind: one frame of the latest fix of what changed since what it has.
            base = client.base_version()
            rows = [
                row
                for version, tenant, row in self.latest.values()
                if version > base and _sees(client, tenant)
            ]
            client.offer_positions(end, positions_frame(rows, end))
            self.stats["position_catchups"] += 1


def _addressed(client: Client, kind: str, name: str) -> bool:
    if kind == "noc":
        return _sees(client, int(name))
    return kind == "user" and client.user == name


def _sees(client: Client, tenant: int) -> bool:
    return client.tenant is None or client.tenant == tenant
