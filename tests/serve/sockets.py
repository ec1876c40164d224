"""Sockets that record what they are sent, and the fan-out's inputs, for tests without
Ray or a network."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from core.messages import Message, Position, Priority


class Recorder:
    def __init__(self) -> None:
        self.frames: list[list[dict[str, Any]]] = []
        self.closed: int | None = None

    async def send_text(self, data: str) -> None:
        self.frames.append(json.loads(data))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = code

    def messages(self, kind: str) -> list[dict[str, Any]]:
        return [m for frame in self.frames for m in frame if m["type"] == kind]


class Stuck(Recorder):
    """A client whose socket never takes another byte (its TCP window is full)."""

    async def send_text(self, data: str) -> None:
        await asyncio.Event().wait()


def alert(seq: int, tenant: int = 1, priority: str = "high") -> Message:
    data = {"alert_id": f"a{seq}", "client_id": tenant}
    return Message(
        seq=seq, channel=f"noc:{tenant}", type="alert", priority=Priority(priority), data=data
    )


def fix(guard: str, ts: int, tenant: int = 1, lat: float = 12.0, version: int = 0) -> Position:
    return Position(guard_id=guard, client_id=tenant, lat=lat, lon=77.0, ts=ts, version=version)


def run(coroutine: Any) -> Any:
    """On a thread of its own: another test's event loop may still run on this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class Direct(Recorder):
    """A gateway-like socket: takes frames synchronously while its buffer has room."""

    def __init__(self, room: int = 10**6) -> None:
        super().__init__()
        self.room = room  # frames its buffer takes before it is full
        self.awaited = 0  # frames that went through the sender task instead
        self.drained = asyncio.Event()
        self.drained.set()

    def writable(self) -> bool:
        return self.room > 0

    def write_now(self, data: str) -> None:
        assert self.room > 0, "written to a full buffer"
        self.room -= 1
        self.frames.append(json.loads(data))

    async def send_text(self, data: str) -> None:
        self.awaited += 1
        await self.drained.wait()
        await super().send_text(data)
