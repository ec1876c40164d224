"""WsGateway: the same `/ws` live feed on its own port, straight from a Ray actor.

Serve's proxy relays a WebSocket message from the replica to the proxy as one item of
a per-connection stream, so one alert to 500 clients is 500 such items through one
proxy: on two cores that alone takes half a second (bench/ws_fanout.py). The gateway
runs the very same session (serve/websocket.py, serve/fanout.py, serve/feed.py) on
the `websockets` library's server inside an async actor, and its sockets are direct:
a frame, serialised once for all the clients it goes to, is written into each
socket's buffer with a plain call while the buffer has room, so an alert reaches
every client in one pass with no task switch per client.
It is started when `Settings.ws_port` is set; the page learns the port from
`/api/me` and falls back to Serve's `/ws` when there is none.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ray
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State

from core import heap
from core.settings import Settings
from serve.fanout import Fanout
from serve.feed import LiveFeed
from serve.websocket import session

#: Bytes a socket's buffer may hold before its frames wait for it to drain.
WRITE_BUFFER = 256 * 1024
MAX_MESSAGE = 64 * 1024  # what a client may send: acks


class GatewaySocket:
    """A gateway connection as a `serve.websocket.Peer` and a `fanout.DirectSocket`."""

    def __init__(self, connection: ServerConnection) -> None:
        self.connection = connection
        request = connection.request
        assert request is not None  # the handshake is done before the handler runs
        self.headers = request.headers
        self.query_params = dict(parse_qsl(urlsplit(request.path).query))

    def writable(self) -> bool:
        connection = self.connection
        if connection.protocol.state is not State.OPEN:
            return False
        return connection.transport.get_write_buffer_size() < WRITE_BUFFER

    def write_now(self, data: str) -> None:
        self.connection.transport.write(text_frame(data))

    async def send_text(self, data: str) -> None:
        await self.connection.send(data)  # waits for the buffer to drain

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self.connection.close(code, reason or "")

    async def receive_text(self) -> str | None:
        try:
            message = await self.connection.recv()
        except ConnectionClosed:
            return None
        return message if isinstance(message, str) else ""


@functools.lru_cache(maxsize=64)
def text_frame(text: str) -> bytes:
    """A server's text frame (unmasked; no extension is negotiated): the same bytes for
    every socket, so a frame shared by 500 clients is serialised once."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def _only_ws(connection: ServerConnection, request: Request) -> Response | None:
    if urlsplit(request.path).path != "/ws":
        return connection.respond(404, "the live feed is at /ws\n")
    return None


@ray.remote(num_cpus=0, max_restarts=-1)
class WsGateway:
    def __init__(self, settings: Settings, secret: str) -> None:
        self.settings = settings
        self.secret = secret
        self.server: Server | None = None
        self.fanout = Fanout(settings.ws_queue)

    async def start(self, host: str = "127.0.0.1") -> int:
        """Listen on `ws_port` (wss with the configured certificate); returns it."""
        if self.server is not None:
            return self.settings.ws_port
        hub = ray.get_actor("vigil-hub", namespace=self.settings.namespace)
        feed = LiveFeed(hub, self.fanout, self.settings.ws_position_interval_s)

        async def handler(connection: ServerConnection) -> None:
            await session(GatewaySocket(connection), hub, feed, self.fanout, self.secret)

        tls = None
        if self.settings.tls_certfile:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(self.settings.tls_certfile, self.settings.tls_keyfile)
        self.server = await serve(
            handler,
            host,
            self.settings.ws_port,
            ssl=tls,
            process_request=_only_ws,
            compression=None,  # deflate per socket would cost each frame 500 times over
            max_size=MAX_MESSAGE,
            write_limit=WRITE_BUFFER,
        )
        heap.settle()
        return self.settings.ws_port

    async def get_stats(self) -> dict[str, Any]:
        return {**self.fanout.stats, "clients": len(self.fanout.clients)}
