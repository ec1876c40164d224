"""/ws end to end: panic to frame within 1 s, tenants kept apart, resume after a
disconnect, tokens checked, and broadcasts from any Ray task."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import ray
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from actors.hub import broadcast_to_noc, broadcast_to_user
from tests.conftest import Noc
from tests.serve.apiclient import Api, fix, make_guard, panic_of, panic_on_socket, receive_until

pytestmark = pytest.mark.integration


@contextmanager
def feed(noc: Noc, token: str, **query: Any) -> Iterator[ClientConnection]:
    params = "&".join(f"{k}={v}" for k, v in {"token": token, **query}.items())
    with connect(f"{noc.ws_url}?{params}", open_timeout=10) as ws:
        yield ws


def test_a_panic_reaches_an_operators_socket(noc: Noc, clients: dict[str, Api]) -> None:
    hello, message = panic_on_socket(noc, clients["admin1"], noc.ws_url, "ws")
    assert hello["data"]["role"] == "operator" and hello["data"]["tenant"] == 1
    assert message["data"]["kind"] == "panic" and message["channel"] == "noc:1"


def test_another_tenants_socket_gets_none_of_tenant_1s_positions_or_alerts(
    noc: Noc, clients: dict[str, Api]
) -> None:
    mine, my_device = make_guard(clients["admin1"], 1, "site-mg-road", "wsmine")
    theirs, their_device = make_guard(clients["admin2"], 2, "site-harbour-yard", "wstheirs")
    with feed(noc, noc.token("operator", 2)) as ws:
        receive_until(ws, lambda m: m["type"] == "hello", 10)
        noc.vigil.publish(f"guard/{mine}/gps", fix(12.9716, 77.5946))
        noc.vigil.publish(f"device/{my_device}/alert", '{"type": "sos"}')
        _wait_alert(clients["operator1"], mine)  # tenant 1's alarm is raised before the marker
        noc.vigil.publish(f"guard/{theirs}/gps", fix(13.0975, 80.2980))
        noc.vigil.publish(f"device/{their_device}/alert", '{"type": "sos"}')
        _, seen = receive_until(ws, panic_of(theirs), 10)
        _, more = receive_until(
            ws,
            lambda m: m["type"] == "positions" and any(r[0] == theirs for r in m["data"]["rows"]),
            10,
        )
    text = json.dumps(seen + more)
    assert mine not in text and my_device not in text and "noc:1" not in text
    rows = [r for m in seen + more if m["type"] == "positions" for r in m["data"]["rows"]]
    assert rows and {r[1] for r in rows} == {2}


def test_a_client_that_reconnects_gets_the_alerts_it_missed_in_order(
    noc: Noc, clients: dict[str, Api]
) -> None:
    guards = [make_guard(clients["admin1"], 1, "site-mg-road", f"wsresume{n}") for n in range(3)]
    token = noc.token("viewer", 1)
    with feed(noc, token) as ws:
        hello, _ = receive_until(ws, lambda m: m["type"] == "hello", 10)
        noc.vigil.publish(f"device/{guards[0][1]}/alert", '{"type": "panic"}')
        first, _ = receive_until(ws, panic_of(guards[0][0]), 10)
    for guard, device in guards[1:]:  # raised while the client is away
        noc.vigil.publish(f"device/{device}/alert", '{"type": "panic"}')
        _wait_alert(clients["viewer1"], guard)
    epoch = hello["data"]["epoch"]
    with feed(noc, token, since=first["seq"], epoch=epoch) as ws:
        frame = json.loads(ws.recv(timeout=10))
    assert frame[0]["type"] == "hello" and frame[0]["data"]["complete"] is True
    replayed = [m for m in frame[1:] if m["type"] == "alert"]
    assert [m["data"]["entity_id"] for m in replayed] == [g for g, _ in guards[1:]]
    seqs = [m["seq"] for m in frame[1:]]
    assert seqs == sorted(seqs) and seqs[0] > first["seq"]


def test_a_reconnect_across_a_hub_restart_is_told_to_reload(noc: Noc) -> None:
    with feed(noc, noc.token("viewer", 1), since=5, epoch="an-old-epoch") as ws:
        hello = json.loads(ws.recv(timeout=10))[0]
    assert hello["type"] == "hello" and hello["data"]["complete"] is False


@pytest.mark.parametrize("token", ["", "garbage"])
def test_a_socket_without_a_valid_token_is_closed_with_4401(noc: Noc, token: str) -> None:
    with (
        connect(f"{noc.ws_url}?token={token}", open_timeout=10) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_broadcasts_from_ray_reach_the_users_channel_and_the_tenants_noc_only(
    noc: Noc,
) -> None:
    ns = noc.settings.namespace
    with (
        feed(noc, noc.token("operator", 1, "trainer@1")) as mine,
        feed(noc, noc.token("operator", 1, "someone@1")) as colleague,
        feed(noc, noc.token("operator", 2, "trainer@2")) as other,
        feed(noc, noc.token("operator", 2, "trainer@1")) as namesake,  # another tenant's
    ):
        for ws in (mine, colleague, other, namesake):
            receive_until(ws, lambda m: m["type"] == "hello", 10)
        ray.get(
            broadcast_to_user(
                1, "trainer@1", "training_progress", {"run_id": "r1", "progress": 0.5}, namespace=ns
            )
        )
        ray.get(broadcast_to_noc(1, "notice", {"text": "shift change"}, namespace=ns))
        ray.get(broadcast_to_noc(2, "notice", {"text": "for tenant 2"}, namespace=ns))
        progress, _ = receive_until(mine, lambda m: m["type"] == "training_progress", 10)
        assert progress["channel"] == "user:1:trainer@1" and progress["data"]["progress"] == 0.5
        _, seen = receive_until(colleague, lambda m: m["type"] == "notice", 10)
        assert all(m["type"] != "training_progress" for m in seen)
        notice, seen = receive_until(other, lambda m: m["type"] == "notice", 10)
        assert notice["data"]["text"] == "for tenant 2"
        assert "shift change" not in json.dumps(seen)
        assert all(m["type"] != "training_progress" for m in seen)
        _, seen = receive_until(namesake, lambda m: m["type"] == "notice", 10)
        assert all(m["type"] != "training_progress" for m in seen)


def _wait_alert(api: Api, guard: str) -> None:
    from tests.conftest import wait_for

    wait_for(lambda: api.get("/api/alerts", entity_id=guard), 10, f"{guard}'s alert")


@pytest.mark.parametrize("by", ["token", "id"])
def test_a_revoked_token_gets_401_on_rest_and_its_open_socket_closes_within_5_s(
    noc: Noc, by: str
) -> None:
    import time

    from serve.tokens import Revocations, token_id

    token = noc.token("operator", 1, f"revoked-by-{by}@1")
    api = Api(noc, token)
    assert api.call("GET", "/api/alerts").status_code == 200
    with feed(noc, token) as ws:
        receive_until(ws, lambda m: m["type"] == "hello", 10)
        Revocations(noc.settings.data_dir).revoke(token if by == "token" else token_id(token))
        revoked_at = time.monotonic()
        assert api.call("GET", "/api/alerts").status_code == 401  # at once
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=max(0.1, 5 - (time.monotonic() - revoked_at)))
        assert time.monotonic() - revoked_at <= 5
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        assert closed.value.rcvd.reason == "token revoked"
    with feed(noc, token) as ws, pytest.raises(ConnectionClosed) as refused:
        ws.recv(timeout=5)  # a new socket with it is refused before its hello
    assert refused.value.rcvd is not None and refused.value.rcvd.code == 4401
