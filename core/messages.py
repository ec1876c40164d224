"""The live feed's messages, defined once: what shards and the router send the Hub, what
the Hub keeps and answers, and the frames a browser gets.

A frame's JSON is the wire format the NOC page reads (serve/static/noc.js): a field
renamed here is renamed there. Structs pickle across Ray calls as they are.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

#: Message types the Hub itself publishes; broadcasts may use any other.
ALERT, ALERT_EVENT = "alert", "alert_event"


class Priority(StrEnum):
    HIGH = "high"  # never dropped: a client that cannot take it is disconnected
    NORMAL = "normal"  # dropped for a client that falls behind


class Position(msgspec.Struct, frozen=True, kw_only=True):
    """A guard's latest fix as the live view holds it (shard -> Hub -> fan-out)."""

    guard_id: str
    client_id: int
    site_id: str | None = None
    lat: float
    lon: float
    ts: int  # µs since the epoch, the device's clock
    accuracy: float | None = None
    zones: dict[str, bool] = {}  # zone id -> inside
    version: int = 0  # the Hub's position version; 0 until the Hub stamps it

    def row(self) -> list[Any]:
        """The fix as a row of a positions frame, in `POSITION_FIELDS` order."""
        inside = [zone for zone, yes in self.zones.items() if yes]
        row = [self.guard_id, self.client_id, self.site_id, self.lat, self.lon, self.ts]
        return [*row, self.accuracy, inside]


#: The columns of a positions frame's rows (`Position.row`).
POSITION_FIELDS = ["guard_id", "client_id", "site_id", "lat", "lon", "ts", "accuracy", "inside"]


class Frame(msgspec.Struct, frozen=True, kw_only=True):
    """One message as a client gets it: an alert, a lifecycle event, a broadcast."""

    seq: int
    channel: str  # noc:<tenant> or user:<id>
    type: str
    data: Any


class Message(Frame, frozen=True, kw_only=True):
    """One message of the Hub's log: its frame, and how hard the fan-out must try."""

    priority: Priority = Priority.NORMAL

    def frame(self) -> Frame:
        return Frame(seq=self.seq, channel=self.channel, type=self.type, data=self.data)


class Cursor(msgspec.Struct, frozen=True, kw_only=True):
    """Where the Hub's log is: a reader starting here gets only what follows."""

    epoch: str
    seq: int


class Pull(msgspec.Struct, frozen=True, kw_only=True):
    """What changed after a reader's cursor (the Hub's `pull`)."""

    epoch: str
    seq: int
    lost: bool  # the log no longer reaches back to the reader's seq
    messages: list[Message]
    pos_version: int
    positions: list[Position]


class Replay(msgspec.Struct, frozen=True, kw_only=True):
    """A reconnecting client's channels after its seq (the Hub's `replay`)."""

    epoch: str
    seq: int
    messages: list[Message]
    complete: bool  # False: the logs no longer reach back that far, or another epoch


class PositionData(msgspec.Struct, frozen=True):
    fields: list[str]
    rows: list[list[Any]]


class PositionsFrame(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="positions"):
    """Positions changed since what a client has; it acknowledges `v` (flow control)."""

    v: int
    data: PositionData


class Hello(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="hello"):
    """A socket's first message: who the token says you are and where the feed starts."""

    data: dict[str, Any]


def encode(value: Any) -> bytes:
    """JSON of a frame; values JSON has no type for are sent as their text."""
    return msgspec.json.encode(value, enc_hook=str)


def noc_channel(client_id: int) -> str:
    return f"noc:{client_id}"


def user_channel(client_id: int | None, user_id: str) -> str:
    """A user's own channel, keyed by tenant and user: the same user name in two tenants
    is two people ("*": an all-tenant admin)."""
    return f"user:{'*' if client_id is None else client_id}:{user_id}"
