"""A REST client for the Serve app's tests, and the entities they own.

Each test module creates its own guards and devices through the API itself (so fleet
edits reaching the running shards are exercised everywhere), named after the module.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.conftest import Noc


class Api:
    def __init__(self, noc: Noc, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=noc.url, headers=headers, timeout=30)

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        content = body if isinstance(body, str | bytes) else None
        payload = None if body is None or content is not None else body
        return self.http.request(method, path, json=payload, content=content, params=params)

    def get(self, path: str, **params: Any) -> Any:
        response = self.call("GET", path, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: Any = None) -> Any:
        response = self.call("POST", path, body)
        assert response.status_code in (200, 201, 202), response.text
        return response.json()

    def close(self) -> None:
        self.http.close()


def make_guard(admin: Api, tenant: int, site: str, name: str) -> tuple[str, str]:
    """A guard and the tracker it carries, created through the API."""
    device, guard = f"{name}-dev", f"{name}-guard"
    admin.post("/api/devices", {"id": device, "client_id": tenant, "class": "tracker"})
    admin.post(
        "/api/guards", {"id": guard, "client_id": tenant, "site_id": site, "device_id": device}
    )
    return guard, device


def fix(lat: float, lon: float, ts: str | None = None) -> str:
    body: dict[str, Any] = {"lat": lat, "lon": lon, "accuracy": 5.0}
    if ts:
        body["timestamp"] = ts
    return json.dumps(body)


def panic_of(guard: str) -> Callable[[dict[str, Any]], bool]:
    """Matches the alert message of `guard`'s panic (for `receive_until`)."""
    return lambda m: m["type"] == "alert" and m["data"]["entity_id"] == guard


def receive_until(
    ws: ClientConnection, found: Callable[[dict[str, Any]], bool], timeout: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Messages until one matches (returned with everything seen); fails after `timeout`."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching message within {timeout} s; saw {seen[-5:]}")
        try:
            frame = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            continue
        for message in frame:
            seen.append(message)
            if found(message):
                return message, seen


def panic_on_socket(noc: Noc, admin: Api, url: str, name: str) -> tuple[dict, dict]:
    """(hello, panic alert) on an operator's socket of `url` (Serve's /ws or the gateway):
    one panic warms the path (first calls of each actor method), then a second arrives.
    How fast is bench/load.py's and bench/alert_latency.py's to measure, not a test's."""
    guard, device = make_guard(admin, 1, "site-mg-road", f"{name}fast")
    warm, warm_device = make_guard(admin, 1, "site-mg-road", f"{name}warm")
    with connect(f"{url}?token={noc.token('operator', 1)}&ack=1", open_timeout=10) as ws:
        hello, _ = receive_until(ws, lambda m: m["type"] == "hello", 10)
        noc.vigil.publish(f"device/{warm_device}/alert", '{"type": "panic"}')
        receive_until(ws, panic_of(warm), 10)
        noc.vigil.publish(f"device/{device}/alert", '{"type": "panic"}')
        message, _ = receive_until(ws, panic_of(guard), 10)
    return hello, message
