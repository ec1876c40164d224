"""WsGateway: the same `/ws` live feed on its own port, straight from a Ray actor.

Serve's proxy relays a WebSocket message from the replica to the proxy as one item of
a per-connection stream, so one alert to 500 clients is 500 such items through one
proxy: on two cores that alone takes half a second (bench/ws_fanout.py). The gateway
runs the very same endpoint (serve/websocket.py, serve/fanout.py, serve/feed.py) under
uvicorn inside an async actor, so each frame goes straight from its event loop to the
socket. It is started when `Settings.ws_port` is set; the page learns the port from
`/api/me` and falls back to Serve's `/ws` when there is none.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ray
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

from core.settings import Settings
from serve import websocket
from serve.fanout import Fanout
from serve.feed import LiveFeed


@ray.remote(num_cpus=0, max_restarts=-1)
class WsGateway:
    def __init__(self, settings: Settings, secret: str) -> None:
        self.settings = settings
        self.secret = secret
        self.server: uvicorn.Server | None = None
        self.fanout = Fanout(settings.ws_queue)

    async def start(self, host: str = "127.0.0.1") -> int:
        """Listen on `ws_port` (https/wss with the configured certificate); returns it."""
        if self.server is not None:
            return self.settings.ws_port
        hub = ray.get_actor("vigil-hub", namespace=self.settings.namespace)
        feed = LiveFeed(hub, self.fanout, self.settings.ws_position_interval_s)
        endpoint = websocket.endpoint(hub, feed, self.fanout, self.secret)
        app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
        tls: dict[str, Any] = {}
        if self.settings.tls_certfile:
            tls = {"ssl_certfile": self.settings.tls_certfile}
            tls["ssl_keyfile"] = self.settings.tls_keyfile
        config = uvicorn.Config(
            app,
            host=host,
            port=self.settings.ws_port,
            log_level="warning",
            ws_ping_interval=None,
            **tls,
        )
        self.server = uvicorn.Server(config)
        asyncio.get_running_loop().create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.05)
        return self.settings.ws_port

    async def get_stats(self) -> dict[str, Any]:
        return {**self.fanout.stats, "clients": len(self.fanout.clients)}
