"""The WebSocket gateway: the same /ws, on its own port, outside Serve's proxy; and what
a restart of it (or of the Hub behind it) does to its clients."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import ray
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection, connect

from actors.gateway import WsGateway
from cli.broker import free_port
from serve.feed import RESYNC
from serve.tokens import load_secret
from tests.conftest import Noc, restart, wait_for
from tests.serve.apiclient import Api, fix, make_guard, panic_of, panic_on_socket, receive_until

pytestmark = pytest.mark.integration

BACK_S = 60  # a restarted actor serves again within this (measured: ~1-2 s)


@dataclass
class Gateway:
    handle: Any
    port: int

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def pid(self) -> int | None:
        try:
            return int(ray.get(self.handle.__ray_call__.remote(_pid), timeout=5))
        except Exception:  # dead, or not back yet
            return None

    def stats(self) -> dict[str, Any]:
        return dict(ray.get(self.handle.get_stats.remote(), timeout=10))


@pytest.fixture(scope="module")
def gateway(noc: Noc) -> Iterator[Gateway]:
    settings = noc.settings.with_(ws_port=free_port())
    actor: Any = WsGateway.options(name="vigil-ws-test", namespace=settings.namespace)  # type: ignore[attr-defined]
    handle = actor.remote(settings, load_secret(settings))
    port = ray.get(handle.start.remote(), timeout=60)
    yield Gateway(handle, port)
    ray.kill(handle)


def test_a_panic_reaches_a_gateway_socket(
    noc: Noc, clients: dict[str, Api], gateway: Gateway
) -> None:
    hello, message = panic_on_socket(noc, clients["admin1"], gateway.url, "gw")
    assert hello["data"]["tenant"] == 1
    assert message["data"]["kind"] == "panic" and message["channel"] == "noc:1"


def test_the_gateway_refuses_a_socket_without_a_token(gateway: Gateway) -> None:
    with (
        connect(f"{gateway.url}?token=nope", open_timeout=10) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        json.loads(ws.recv(timeout=10))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_a_gateway_killed_with_sigkill_listens_again_and_its_client_resumes(
    noc: Noc, clients: dict[str, Api], gateway: Gateway
) -> None:
    (guard, device), (away, away_device), (after, after_device) = (
        make_guard(clients["admin1"], 1, "site-mg-road", f"gwkill{n}") for n in range(3)
    )
    noc.vigil.publish(f"guard/{guard}/gps", fix(12.9716, 77.5946))
    wait_for(lambda: _on_hub(clients["viewer1"], guard), 10, "the guard's fix on the Hub")
    token = noc.token("operator", 1)
    with _socket(gateway, token) as ws:
        hello, _ = receive_until(ws, lambda m: m["type"] == "hello", 10)
        noc.vigil.publish(f"device/{device}/alert", '{"type": "panic"}')
        seen, _ = receive_until(ws, panic_of(guard), 10)
        old = gateway.pid()
        assert old is not None
        os.kill(old, signal.SIGKILL)
        _until_closed(ws)
    wait_for(lambda: gateway.pid() not in (None, old), BACK_S, "the gateway in a new process")
    # Raised while the gateway is down: the client must get it in its replay.
    noc.vigil.publish(f"device/{away_device}/alert", '{"type": "panic"}')
    wait_for(lambda: noc.vigil.hub_alerts(away), 10, "the panic raised meanwhile, on the Hub")

    epoch = hello["data"]["epoch"]
    with _reconnect(gateway, token, since=seen["seq"], epoch=epoch) as ws:
        again, *missed = json.loads(ws.recv(timeout=10))
        assert again["type"] == "hello" and again["data"]["epoch"] == epoch
        assert again["data"]["complete"] is True
        # The replay: the alarm raised while it was away, and nothing it had already seen.
        assert [m["data"]["entity_id"] for m in missed if m["type"] == "alert"] == [away]
        assert all(m["seq"] > seen["seq"] for m in missed)
        receive_until(ws, lambda m: _has_guard(m, guard), 10)  # every position again
        noc.vigil.publish(f"device/{after_device}/alert", '{"type": "panic"}')
        fresh, _ = receive_until(ws, panic_of(after), 10)
    assert fresh["seq"] > seen["seq"]
    stats = gateway.stats()
    assert stats["restarted"] is True and stats["listening"] is True
    assert stats["port"] == gateway.port and stats["problems"] == []
    assert {"server", "pull", "tick"} <= {n for n, t in stats["threads"].items() if t["alive"]}


def test_a_gateway_whose_server_stopped_ends_and_comes_back_listening(
    noc: Noc, gateway: Gateway
) -> None:
    old = gateway.pid()
    # The server ends inside the running process, as a failure would end it: the actor
    # must not stay alive without listening.
    gateway.handle.__ray_call__.remote(_close_server)
    wait_for(lambda: gateway.pid() not in (None, old), BACK_S, "the gateway in a new process")
    with _reconnect(gateway, noc.token("viewer", 1)) as ws:
        receive_until(ws, lambda m: m["type"] == "hello", 10)


def test_a_hub_restart_resyncs_gateway_clients_and_the_next_panic_reaches_them(
    noc: Noc, clients: dict[str, Api], gateway: Gateway
) -> None:
    guard, device = make_guard(clients["admin1"], 1, "site-mg-road", "gwhub")
    token = noc.token("operator", 1)
    hub = noc.vigil.runtime.hub
    for n in range(3):  # the old Hub's seq runs ahead of the new one's
        ray.get(hub.broadcast.remote("noc:1", "note", {"n": n}))
    with _socket(gateway, token) as ws:
        hello, _ = receive_until(ws, lambda m: m["type"] == "hello", 10)
        mark = ray.get(hub.broadcast.remote("noc:1", "note", {"n": "mark"}))
        receive_until(ws, lambda m: m.get("seq") == mark, 10)
        restart(hub)
        assert _until_closed(ws) == RESYNC
    with _reconnect(gateway, token, since=mark, epoch=hello["data"]["epoch"]) as ws:
        again, _ = receive_until(ws, lambda m: m["type"] == "hello", 10)
        assert again["data"]["epoch"] != hello["data"]["epoch"]
        assert again["data"]["complete"] is False  # reload over REST
        assert again["data"]["seq"] < mark  # counts in the new Hub, so new alerts pass
        noc.vigil.publish(f"device/{device}/alert", '{"type": "panic"}')
        receive_until(ws, panic_of(guard), 10)


def _socket(gateway: Gateway, token: str, **query: Any) -> ClientConnection:
    params = "&".join(f"{k}={v}" for k, v in {"token": token, "ack": 1, **query}.items())
    return connect(f"{gateway.url}?{params}", open_timeout=10)


def _reconnect(gateway: Gateway, token: str, **query: Any) -> ClientConnection:
    """A socket as soon as the gateway takes one again."""

    def attempt() -> ClientConnection | None:
        try:
            return _socket(gateway, token, **query)
        except (OSError, InvalidHandshake):  # refused, or the old server going away
            return None

    ws = wait_for(attempt, BACK_S, f"the gateway listening again on port {gateway.port}")
    assert ws is not None
    return ws


def _until_closed(ws: ClientConnection, timeout: float = 30) -> int | None:
    """Read until the server closes the socket; its close code (None: no close frame)."""

    def closed() -> ConnectionClosed | None:
        try:
            ws.recv(timeout=0.5)
        except TimeoutError:
            return None
        except ConnectionClosed as exc:
            return exc
        return None

    found = wait_for(closed, timeout, "the server closing the socket")
    assert found is not None
    return found.rcvd.code if found.rcvd is not None else None


def _has_guard(message: dict[str, Any], guard: str) -> bool:
    return message["type"] == "positions" and any(r[0] == guard for r in message["data"]["rows"])


def _on_hub(viewer: Api, guard: str) -> bool:
    return any(g["guard_id"] == guard for g in viewer.get("/api/live/guards"))


def _pid(_actor: Any) -> int:
    return os.getpid()


def _close_server(actor: Any) -> None:
    actor.server.get_loop().call_soon_threadsafe(actor.server.close)
