"""/ws: the live feed for one browser tab (or any client), token-authenticated.

    wss://host/ws?token=<token>&since=<seq>&epoch=<epoch>&ack=1

The first frame is `[{"type": "hello", ...}, <missed messages>...]`: who the token
says you are, the Hub's epoch, and the messages of your channels after `since`
(`complete` is false when they no longer reach back that far: reload over REST).
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

import json
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from actors.hub import noc_channel, user_channel
from serve.endpoints import principal_of
from serve.fanout import Fanout
from serve.feed import LiveFeed
from serve.tokens import AuthError

log = logging.getLogger("vigil.websocket")

UNAUTHORIZED = 4401


def endpoint(hub: Any, feed: LiveFeed, fanout: Fanout, secret: str) -> Any:
    async def websocket(ws: WebSocket) -> None:
        await ws.accept()
        try:
            principal = principal_of(ws, secret)
            since = int(ws.query_params.get("since", "0") or 0)
        except (AuthError, ValueError) as exc:
            await ws.close(UNAUTHORIZED, str(exc)[:120])
            return
        await feed.ready()
        acks = ws.query_params.get("ack") == "1"
        positions = ws.query_params.get("positions", "1") != "0"
        client = fanout.add(ws, principal.user, principal.tenant, acks, positions)
        try:
            channels = [user_channel(principal.user)]
            if principal.tenant is not None:
                channels.append(noc_channel(principal.tenant))
            epoch = ws.query_params.get("epoch", "")
            replay: dict[str, Any] = {"messages": [], "complete": True, "epoch": feed.epoch}
            if since or epoch:
                replay = await hub.replay.remote(
                    channels, since, epoch, all_noc=principal.tenant is None
                )
            hello = {
                "type": "hello",
                "data": principal.as_dict()
                | {"epoch": replay["epoch"], "complete": replay["complete"], "since": since},
            }
            missed = [
                {k: m[k] for k in ("seq", "channel", "type", "data")} for m in replay["messages"]
            ]
            await ws.send_text(json.dumps([hello, *missed], separators=(",", ":"), default=str))
            fanout.snapshot_for(client)
            client.start(after=max([since, *(m["seq"] for m in missed)]))
            while True:  # read, so a closed socket is noticed (and acks arrive)
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                version = _ack(message.get("text"))
                if version is not None:
                    client.acknowledged(version)
        except WebSocketDisconnect:
            pass
        finally:
            fanout.remove(client)

    return websocket


def _ack(text: str | None) -> int | None:
    """The version of `{"type": "ack", "v": <version>}`, None for anything else."""
    if not text or '"ack"' not in text:
        return None
    try:
        message = json.loads(text)
        return int(message["v"]) if message.get("type") == "ack" else None
    except (ValueError, KeyError, TypeError):
        return None
