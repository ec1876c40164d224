"""/ws: the live feed for one browser tab (or any client), token-authenticated.

    wss://host/ws?token=<token>&since=<seq>&epoch=<epoch>&ack=1

The first frame is `[{"type": "hello", ...}, <missed messages>...]`: who the token
says you are, the Hub's epoch, the seq the feed starts after, and the messages of your
channels after `since` (`complete` is false when they no longer reach back that far, or
the Hub restarted since `epoch`: reload over REST).
Then frames are JSON arrays of messages `{seq, channel, type, data}` and position
updates `{type: "positions", v, data: {fields, rows}}`. With `ack=1` the client answers
each position frame with `{"type": "ack", "v": v}` and gets the next only then (flow
control: positions never pile up in front of an alert); with `positions=0` it gets no
positions at all (a wallboard, a supervisor's phone). The socket is always read, so
that a closed one is noticed at once.

Close codes: 4401 no or bad token, 4008 too slow to take its alerts, 4000 resync
(reconnect with your last seq).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect

from core.messages import Hello, Replay, encode, noc_channel, user_channel
from serve.endpoints import principal_of
from serve.fanout import Fanout, Socket
from serve.feed import LiveFeed
from serve.tokens import AuthError, Principal, Revocations

log = logging.getLogger("vigil.websocket")

UNAUTHORIZED = 4401
TOKEN_CHECK_S = 1.0  # an expired or revoked token's socket is closed this soon


class Peer(Socket, Protocol):
    """One accepted WebSocket, whatever serves it (Starlette in a Serve replica, the
    websockets library in the gateway)."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def query_params(self) -> Mapping[str, str]: ...

    async def receive_text(self) -> str | None:
        """The next text message; None once the socket is closed."""
        ...


async def session(
    peer: Peer,
    hub: Any,
    feed: LiveFeed,
    fanout: Fanout,
    secret: str,
    revoked: Revocations | None = None,
) -> None:
    """The whole life of one live-feed socket: authenticate, replay, then feed it; it is
    closed (4401) once its token expires or is revoked."""
    try:
        principal = principal_of(peer, secret, in_query=True, revoked=revoked)
        since = int(peer.query_params.get("since", "0") or 0)
    except (AuthError, ValueError) as exc:
        await peer.close(UNAUTHORIZED, str(exc)[:120])
        return
    await feed.ready()
    acks = peer.query_params.get("ack") == "1"
    positions = peer.query_params.get("positions", "1") != "0"
    client = fanout.add(peer, principal.user, principal.tenant, acks, positions)
    guard = asyncio.create_task(_close_when_invalid(peer, principal, revoked))
    try:
        channels = [user_channel(principal.tenant, principal.user)]
        if principal.tenant is not None:
            channels.append(noc_channel(principal.tenant))
        epoch = peer.query_params.get("epoch", "")
        replay = Replay(epoch=feed.epoch, seq=feed.seq, messages=[], complete=True)
        if since or epoch:
            replay = await hub.replay.remote(
                channels, since, epoch, all_noc=principal.tenant is None
            )
        missed = [m.frame() for m in replay.messages]
        if epoch and replay.epoch != epoch:
            # The client's seq counts in a Hub that has since restarted (this one counts
            # from 1 again): it gets what follows the Hub's now and reloads the rest over
            # REST. Starting after its old, higher seq would hold back every new alert.
            after = replay.seq
        else:
            after = max([since, *(m.seq for m in missed)])
        hello = Hello(
            data=principal.as_dict()
            | {"epoch": replay.epoch, "complete": replay.complete, "since": since}
            | {"seq": after}
        )
        await peer.send_text(encode([hello, *missed]).decode())
        fanout.snapshot_for(client)
        client.start(after=after)
        # Read, so a closed socket is noticed (and acks arrive).
        while (text := await peer.receive_text()) is not None:
            version = _ack(text)
            if version is not None:
                client.acknowledged(version)
    finally:
        guard.cancel()
        fanout.remove(client)


async def _close_when_invalid(
    peer: Peer, principal: Principal, revoked: Revocations | None
) -> None:
    """Close the socket (4401) once its token has expired or been revoked."""
    while True:
        await asyncio.sleep(TOKEN_CHECK_S)
        if time.time() >= principal.expires_at:
            why = "token expired"
        elif revoked is not None and principal.token_id and principal.token_id in revoked:
            why = "token revoked"
        else:
            continue
        await peer.close(UNAUTHORIZED, why)
        return


class StarletteSocket:
    """A Serve replica's socket (Starlette) as a `Peer`."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.headers = ws.headers
        self.query_params = ws.query_params

    async def send_text(self, data: str) -> None:
        await self.ws.send_text(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self.ws.close(code, reason)

    async def receive_text(self) -> str | None:
        try:
            message = await self.ws.receive()
        except WebSocketDisconnect:
            return None
        if message["type"] == "websocket.disconnect":
            return None
        return message.get("text") or ""


def endpoint(
    hub: Any, feed: LiveFeed, fanout: Fanout, secret: str, revoked: Revocations | None = None
) -> Any:
    async def websocket(ws: WebSocket) -> None:
        await ws.accept()
        await session(StarletteSocket(ws), hub, feed, fanout, secret, revoked)

    return websocket


def _ack(text: str) -> int | None:
    """The version of `{"type": "ack", "v": <version>}`, None for anything else."""
    if '"ack"' not in text:
        return None
    try:
        message = json.loads(text)
        return int(message["v"]) if message.get("type") == "ack" else None
    except (ValueError, KeyError, TypeError):
        return None
