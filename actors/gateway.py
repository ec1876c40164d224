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

The constructor starts listening, not a method the launcher calls once: Ray runs
only the constructor again in a process it restarts, so that is what makes a gateway
killed with `kill -9` listen again on the same port by itself. Its clients see their
socket close, reconnect with the last seq they saw and get the replay and a snapshot
of positions (serve/websocket.py). The server and the feed's loops are tasks whose
end ends the process (serve/tasks.py): it never answers `get_stats` while deaf.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ray
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State

from core import heap, names
from core.errors import StartupError
from core.settings import Settings
from serve.fanout import Fanout
from serve.feed import LiveFeed
from serve.tasks import Tasks
from serve.tokens import Revocations
from serve.websocket import session

log = logging.getLogger("vigil.gateway")

#: Bytes a socket's buffer may hold before its frames wait for it to drain.
WRITE_BUFFER = 256 * 1024
MAX_MESSAGE = 64 * 1024  # what a client may send: acks
BEAT_S = 1.0  # the server's watch beats this often while the server listens
LISTEN_BACKOFF_MAX_S = 5.0  # a busy port is tried again, up to this far apart


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
    def __init__(self, settings: Settings, secret: str, host: str = "127.0.0.1") -> None:
        self.settings = settings
        self.secret = secret
        self.revoked = Revocations(settings.data_dir)
        self.host = host
        self.port = settings.ws_port
        self.started_at = time.time()
        self.restarted = ray.get_runtime_context().was_current_actor_reconstructed
        self.tls = _tls(settings)
        self.hub = names.peer(names.HUB, settings)
        self.fanout = Fanout(settings.ws_queue)
        self.tasks = Tasks("vigil-ws")
        self.feed = LiveFeed(
            self.hub, self.fanout, settings.ws_position_interval_s, tasks=self.tasks
        )
        self.server: Server | None = None
        self.listen_error = ""
        self._tried = asyncio.Event()  # the first attempt to listen is over
        # Ray runs an async actor's constructor on its event loop (checked on Ray 2.60):
        # the tasks start here. Were it not so, create_task would raise, and say so.
        self.tasks.start("server", self._listen())
        self.feed.start()  # positions pulled before the first client: its snapshot is full

    async def start(self) -> int:
        """Wait until the constructor's server listens; returns the port. Fails naming
        the port when the first attempt failed (the gateway keeps trying meanwhile)."""
        await self._tried.wait()
        if self.server is None:
            raise StartupError(f"live feed gateway: {self.listen_error}")
        return self.port

    async def get_stats(self) -> dict[str, Any]:
        problems = self.tasks.problems()
        if self.server is None and self.listen_error:
            problems.append(self.listen_error)
        return {
            **self.fanout.stats,
            "clients": len(self.fanout.clients),
            "port": self.port,
            "listening": self.server is not None,
            "threads": self.tasks.report(),
            "problems": problems,
            "started_at": self.started_at,
            "restarted": self.restarted,
        }

    async def _listen(self) -> None:
        """Listen on `ws_port` until it works, then watch the server: its end is this
        task's end, and so the process's (a gateway must never be alive and deaf)."""
        delay = 0.0
        while self.server is None:
            self.tasks.beat("server")
            try:
                self.server = await serve(
                    self._handle,
                    self.host,
                    self.port,
                    ssl=self.tls,
                    process_request=_only_ws,
                    compression=None,  # deflate per socket would cost each frame 500 times
                    max_size=MAX_MESSAGE,
                    write_limit=WRITE_BUFFER,
                )
            except OSError as exc:  # the port is busy (another process took it meanwhile)
                delay = min(max(delay * 2, 0.1), LISTEN_BACKOFF_MAX_S)
                self.listen_error = f"cannot listen on {self.host}:{self.port}: {exc}"
                log.error("%s; trying again in %.1f s", self.listen_error, delay)
                self._tried.set()
                await asyncio.sleep(delay)
        self.listen_error = ""
        self._tried.set()
        heap.settle()
        closed = asyncio.ensure_future(self.server.wait_closed())
        while not closed.done():
            self.tasks.beat("server")
            await asyncio.wait({closed}, timeout=BEAT_S)
        raise StartupError(f"live feed gateway: the server on port {self.port} closed")

    async def _handle(self, connection: ServerConnection) -> None:
        peer = GatewaySocket(connection)
        await session(peer, self.hub, self.feed, self.fanout, self.secret, self.revoked)


def _tls(settings: Settings) -> ssl.SSLContext | None:
    """The server's TLS context (wss) from the configured certificate; None for ws."""
    if not settings.tls_certfile:
        return None
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        tls.load_cert_chain(settings.tls_certfile, settings.tls_keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(
            f"live feed gateway: cannot load tls_certfile {settings.tls_certfile!r} "
            f"/ tls_keyfile {settings.tls_keyfile!r}: {exc}"
        ) from exc
    return tls
