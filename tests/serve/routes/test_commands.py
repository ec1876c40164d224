"""Downlink commands over REST: published on device/{id}/cmd, the reply recorded."""

from __future__ import annotations

import json
import queue
import threading

import paho.mqtt.client as mqtt
import pytest

from tests.conftest import Noc, wait_for
from tests.serve.apiclient import Api, make_guard

pytestmark = pytest.mark.integration


def test_a_command_reaches_the_device_and_its_reply_is_recorded(
    noc: Noc, clients: dict[str, Api]
) -> None:
    _, device = make_guard(clients["admin1"], 1, "site-mg-road", "cmd")
    received: queue.Queue[bytes] = queue.Queue()
    subscribed = threading.Event()
    listener = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    listener.on_message = lambda _c, _u, msg: received.put(msg.payload)
    listener.on_subscribe = lambda *_: subscribed.set()
    listener.on_connect = lambda client, *_: client.subscribe(f"device/{device}/cmd", qos=1)
    # The device itself, with the login the API's new device got on the broker at once.
    listener.username_pw_set(device, noc.vigil.password(device))
    listener.connect("127.0.0.1", noc.vigil.broker.port)
    listener.loop_start()
    try:
        assert subscribed.wait(10), "the device's listener subscribed"
        sent = clients["operator1"].post(
            f"/api/devices/{device}/commands", {"type": "locate", "args": {"interval_s": 5}}
        )
        command = json.loads(received.get(timeout=10))
    finally:
        listener.loop_stop()
        listener.disconnect()
    assert command == {"cmd_id": sent["cmd_id"], "type": "locate", "args": {"interval_s": 5}}
    noc.vigil.publish(
        f"device/{device}/cmd/ack", json.dumps({"cmd_id": sent["cmd_id"], "ok": True})
    )
    path = f"/api/devices/{device}/commands"
    wait_for(lambda: clients["viewer1"].get(path)[0]["reply"] == "ok", 10, "the reply recorded")


@pytest.mark.parametrize(
    ("body", "field"), [({"args": {}}, "type"), ({"type": "x", "args": [1]}, "args"), ("7", "body")]
)
def test_a_malformed_command_is_400_naming_the_field(
    clients: dict[str, Api], body: object, field: str
) -> None:
    response = clients["operator1"].call("POST", "/api/devices/dev-123/commands", body)
    assert response.status_code == 400 and response.json()["field"] == field


def test_a_viewer_or_another_tenant_cannot_command_a_device(clients: dict[str, Api]) -> None:
    body = {"type": "reboot"}
    assert clients["viewer1"].call("POST", "/api/devices/dev-123/commands", body).status_code == 403
    assert (
        clients["operator2"].call("POST", "/api/devices/dev-123/commands", body).status_code == 404
    )
