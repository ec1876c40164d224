"""OsmandIngress: Traccar Client (the OsmAnd protocol) over HTTP, on its own port.

A phone running Traccar Client sends each fix as an HTTP request to `/`: query or form
parameters (`id`, `lat`, `lon`, `timestamp`, `speed`, `batt`, `alarm`, ...) or its newer
JSON body (core/trackers.py). It logs in with HTTP Basic auth and the device's broker
credentials (`vigil device credentials ID`: the server URL
`http://ID:PASSWORD@host:5055`), and the request's `id` must be that device.

The ingress is an edge of the intake (actors/intake.py), as an MQTT ingest slot is:
the request's records are batched, written and applied like any message, and the
answer waits for that. An HTTP 200 means what a PUBACK means: the fix is durable in the
lake's log and applied by its shard (an `alarm=sos` on the critical lane). A bad
request is a dead letter first and then a 4xx naming the parameter; a request not
applied within `REPLY_TIMEOUT_S`, or beyond `MAX_WAITING` waiting ones, gets a 503 and
Traccar Client sends it again later (the lake drops the repeat by key).

The server (uvicorn, on a socket this actor binds) runs on a thread of the actor's
`Threads`: it beats a heartbeat while it serves, and its end ends the process, so Ray
starts the actor again and it listens again on the same port.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import logging
import socket
import time
from collections import Counter
from collections.abc import Hashable
from concurrent.futures import Future, InvalidStateError
from typing import Any
from urllib.parse import parse_qsl

import ray
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from actors.intake import BEAT_S, Intake, internal
from core import heap, names
from core.credentials import Credentials
from core.errors import BadMessage, StartupError
from core.records import DeadLetter, Record
from core.settings import Settings

log = logging.getLogger("vigil.osmand")

REPLY_TIMEOUT_S = 30.0  # a request not applied by then gets a 503 (the phone retries)
MAX_WAITING = 2_000  # requests waiting for their fix to be applied; beyond: 503
LISTEN_BACKOFF_MAX_S = 5.0
_UNAUTHORIZED = {"WWW-Authenticate": 'Basic realm="vigil"'}


@ray.remote
class OsmandIngress(Intake):
    def __init__(self, settings: Settings) -> None:
        super().__init__(names.OSMAND, settings)
        self.settings = settings
        self.port = settings.osmand_port
        self.credentials = Credentials(settings.data_dir)
        self.requests: Counter[str] = Counter()  # by answer
        self.waiting = 0
        self.listen_error = ""
        self.server: uvicorn.Server | None = None
        app = Starlette(routes=[Route("/", self._track, methods=["GET", "POST"])])
        self.config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=75,  # phones send every few seconds over one connection
            ssl_certfile=settings.tls_certfile or None,
            ssl_keyfile=settings.tls_keyfile or None,
        )
        self.threads.start("http", self._serve)
        heap.settle()

    def start(self, timeout: float = 30.0) -> int:
        """Wait until the server listens; returns the port. Fails naming the port."""
        deadline = time.monotonic() + timeout
        while self.server is None or not self.server.started:
            if time.monotonic() > deadline:
                raise StartupError(f"osmand ingress: {self.listen_error or 'not listening'}")
            time.sleep(0.05)
        return self.port

    # -- the server (its own thread and event loop) ----------------------------------------

    def _serve(self) -> None:
        asyncio.run(self._listen())

    async def _listen(self) -> None:
        sock, delay = None, 0.0
        while sock is None:
            self.threads.beat("http")
            try:
                sock = _bound(self.settings.osmand_host, self.port)
            except OSError as exc:
                delay = min(max(delay * 2, 0.1), LISTEN_BACKOFF_MAX_S)
                self.listen_error = (
                    f"cannot listen on {self.settings.osmand_host}:{self.port}: {exc}"
                )
                log.error("%s; trying again in %.1f s", self.listen_error, delay)
                await asyncio.sleep(delay)
        self.listen_error = ""
        self.server = uvicorn.Server(self.config)
        serving = asyncio.ensure_future(self.server.serve(sockets=[sock]))
        while not serving.done():
            self.threads.beat("http")
            await asyncio.wait({serving}, timeout=BEAT_S)
        if not self.server.should_exit:  # stop() asked for it; anything else is a failure
            raise StartupError(f"osmand ingress: the server on port {self.port} ended")

    async def _track(self, request: Request) -> Response:
        device = self._login(request.headers.get("authorization", ""))
        if device is None:
            return self._answer(
                PlainTextResponse(
                    "log in with the device's credentials (vigil device credentials ID)\n",
                    401,
                    headers=_UNAUTHORIZED,
                )
            )
        size = int(request.headers.get("content-length") or 0)
        if size > self.decoder.max_bytes:
            return self._answer(
                JSONResponse({"error": "oversized", "detail": f"{size} bytes"}, 413)
            )
        body = await request.body()
        query = dict(request.query_params)
        if not query and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            query, body = dict(parse_qsl(body.decode("utf-8", "replace"))), b""
        now = time.time_ns() // 1000
        try:
            items: list[Record] | list[DeadLetter] = self.decoder.osmand(device, query, body, now)
            error = None
        except BadMessage as bad:
            error = bad
        except Exception as exc:  # a decoder bug: a dead letter, and the stream goes on
            log.exception("decoding a request of %s failed", device)
            error = internal(exc, "decode")
        if error is not None:
            payload = request.url.query.encode() or body
            items = [self._dead_letter(f"osmand/{device}", payload, error, now)]
        if self.waiting >= MAX_WAITING:
            return self._answer(
                PlainTextResponse("busy: send it again\n", 503, {"Retry-After": "5"})
            )
        if not await self._applied(items):
            return self._answer(PlainTextResponse("not yet applied: send it again\n", 503))
        if error is not None:
            status = {"spoofed_id": 403, "internal": 500}.get(error.reason, 400)
            return self._answer(
                JSONResponse({"error": error.reason, "detail": error.detail}, status)
            )
        return self._answer(PlainTextResponse("ok\n"))

    async def _applied(self, items: list[Record] | list[DeadLetter]) -> bool:
        """Hand the request's records in and wait until they are durable and applied."""
        done: Future[bool] = Future()
        self.waiting += 1
        try:
            self._accept(done, items)
            await asyncio.wait_for(asyncio.wrap_future(done), REPLY_TIMEOUT_S)
            return True
        except TimeoutError:
            return False
        finally:
            self.waiting -= 1

    def _acknowledge(self, tokens: list[Hashable]) -> None:
        for token in tokens:
            assert isinstance(token, Future)
            with contextlib.suppress(InvalidStateError):  # its request gave up (a 503)
                token.set_result(True)

    def _login(self, header: str) -> str | None:
        """The device an `Authorization: Basic` header logs in as, if its password is right."""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if user not in self.index.devices:
            return None
        expected = self.credentials.password(user)
        return user if hmac.compare_digest(password.encode(), expected.encode()) else None

    def _answer(self, response: Response) -> Response:
        self.requests[str(response.status_code)] += 1
        return response

    # -- health --------------------------------------------------------------------------------

    def get_stats(self) -> dict[str, Any]:
        stats = self.stats_of_intake()
        if self.listen_error:
            stats["problems"] = [*stats["problems"], self.listen_error]
        listening = self.server is not None and self.server.started
        return {
            **stats,
            "port": self.port,
            "listening": listening,
            "waiting": self.waiting,
            "requests": dict(self.requests),
        }

    def stop(self) -> None:
        self.threads.stop()
        if self.server is not None:
            self.server.should_exit = True


def _bound(host: str, port: int) -> socket.socket:
    """A listening socket on `host:port` (reused at once after a restart)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock
