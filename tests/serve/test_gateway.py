"""The WebSocket gateway: the same /ws, on its own port, outside Serve's proxy."""

from __future__ import annotations

import json
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
from tests.serve.apiclient import Api, panic_on_socket

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
    hello, message = panic_on_socket(noc, clients["admin1"], gateway, "gw")
    assert hello["data"]["tenant"] == 1
    assert message["data"]["kind"] == "panic" and message["channel"] == "noc:1"


def test_the_gateway_refuses_a_socket_without_a_token(gateway: str) -> None:
    with (
        connect(f"{gateway}?token=nope", open_timeout=10) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        json.loads(ws.recv(timeout=10))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
