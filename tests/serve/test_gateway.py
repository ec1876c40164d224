"""The WebSocket gateway: the same /ws, on its own port, outside Serve's proxy."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import ray
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from cli.broker import free_port
from serve.gateway import WsGateway
from serve.tokens import load_secret
from tests.conftest import Noc
from tests.serve.apiclient import Api, make_guard, panic_of, receive_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gateway(noc: Noc) -> Iterator[str]:
    settings = noc.settings.with_(ws_port=free_port())
    actor: Any = WsGateway.options(name="vigil-ws-test", namespace=settings.namespace)  # type: ignore[attr-defined]
    handle = actor.remote(settings, load_secret(settings))
    port = ray.get(handle.start.remote(), timeout=60)
    yield f"ws://127.0.0.1:{port}/ws"
    ray.kill(handle)


def test_a_panic_reaches_a_gateway_socket_within_one_second(
    noc: Noc, clients: dict[str, Api], gateway: str
) -> None:
    guard, device = make_guard(clients["admin1"], 1, "site-mg-road", "gwfast")
    warm, warm_device = make_guard(clients["admin1"], 1, "site-mg-road", "gwwarm")
    with connect(f"{gateway}?token={noc.token('operator', 1)}&ack=1", open_timeout=10) as ws:
        hello, _ = receive_until(ws, lambda m: m["type"] == "hello", 10)
        assert hello["data"]["tenant"] == 1
        noc.vigil.publish(f"device/{warm_device}/alert", '{"type": "panic"}')
        receive_until(ws, panic_of(warm), 10)
        published = time.monotonic()
        noc.vigil.publish(f"device/{device}/alert", '{"type": "panic"}')
        message, _ = receive_until(ws, panic_of(guard), 1.0 - (time.monotonic() - published))
    assert message["channel"] == "noc:1"


def test_the_gateway_refuses_a_socket_without_a_token(gateway: str) -> None:
    with (
        connect(f"{gateway}?token=nope", open_timeout=10) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        json.loads(ws.recv(timeout=10))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
