"""Device identity at the broker (issue 13, item 1), through the session's real Mosquitto
and vigil: a device logs in with its own credentials and publishes only on its own
topics; strangers are refused at CONNECT; a device made through the API may publish at
once, one deleted may not, and a rotated password stops working at once."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli.device import rotate_login
from cli.health import check_broker
from cli.main import app
from core.broker import BrokerAddress
from core.credentials import INGEST
from tests.conftest import Noc, Vigil, wait_for
from tests.serve.apiclient import Api, make_guard

pytestmark = pytest.mark.integration
NOT_AUTHORIZED = 135  # MQTT 5 reason code of a refused PUBLISH
SEQ = itertools.count(9_000_000)


class Device:
    """One MQTT v5 connection logged in as a device, QoS 1 publishes answered."""

    def __init__(self, vigil: Vigil, username: str, password: str, timeout: float = 10) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(username, password)
        self.connected, self.dropped = threading.Event(), threading.Event()
        self.client.on_connect = lambda *args: args[3].is_failure or self.connected.set()
        self.client.on_disconnect = lambda *_: self.dropped.set()
        self.client.connect(vigil.broker.host, vigil.broker.port)
        self.client.loop_start()
        if not self.connected.wait(timeout):
            self.close()
            raise AssertionError(f"{username} not logged in after {timeout} s")

    def publish(self, topic: str, payload: str) -> int:
        """The broker's answer to a QoS 1 publish: 0, or NOT_AUTHORIZED."""
        codes: list[int] = []
        answered = threading.Event()

        def on_publish(_c: Any, _u: Any, _mid: Any, code: Any, _p: Any) -> None:
            codes.append(code.value)
            answered.set()

        self.client.on_publish = on_publish
        self.client.publish(topic, payload, qos=1)
        assert answered.wait(10), f"the broker answered the publish on {topic}"
        return codes[0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def credentials(vigil: Vigil, device: str) -> tuple[str, str]:
    """`vigil device credentials DEVICE --data DIR`, as an installer would run it."""
    result = CliRunner().invoke(app, ["device", "credentials", device, "--data", str(vigil.data)])
    assert result.exit_code == 0, result.output
    username, password = result.stdout.split()
    return username, password


def telemetry(seq: int) -> str:
    return f'{{"battery": 77, "seq": {seq}}}'


def stored(vigil: Vigil, device: str, seq: int) -> int:
    return vigil.count("device_telemetry", f"device_id = '{device}' AND seq = {seq}")


@pytest.fixture(scope="module")
def pair(noc: Noc, clients: dict[str, Api]) -> Iterator[list[tuple[str, str]]]:
    """Two guards with their trackers, made through the API: (guard, device) each."""
    made = [make_guard(clients["admin1"], 1, "site-mg-road", f"login-{n}") for n in "ab"]
    yield made
    for guard, device in made:
        clients["admin1"].call("DELETE", f"/api/guards/{guard}")
        clients["admin1"].call("DELETE", f"/api/devices/{device}")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    who=st.integers(0, 1),
    foreign=st.sampled_from(
        [
            "device/{o}/telemetry",
            "device/{o}/alert",
            "guard/{og}/gps",
            "sensor/poison-smoke/reading",
            "device/{o}/cmd/ack",
            "{own}/../x",
            "guard/{og}/gps/more",
        ]
    ),
)
def test_a_device_publishes_on_its_own_topics_and_nowhere_else(
    noc: Noc, pair: list[tuple[str, str]], who: int, foreign: str
) -> None:
    vigil = noc.vigil
    (guard, device), (other_guard, other) = pair[who], pair[1 - who]
    device_login = Device(vigil, *credentials(vigil, device))
    try:
        theirs = foreign.format(o=other, og=other_guard, own=f"device/{device}")
        mine, marker = next(SEQ), next(SEQ)
        assert device_login.publish(theirs, telemetry(marker)) == NOT_AUTHORIZED, theirs
        assert device_login.publish(f"device/{device}/telemetry", telemetry(mine)) == 0
        fix = f'{{"lat": 12.97, "lon": 77.59, "seq": {mine}, "accuracy": 5}}'
        assert device_login.publish(f"guard/{guard}/gps", fix) == 0  # the guard it is carried by
    finally:
        device_login.close()
    wait_for(lambda: stored(vigil, device, mine), 10, "the device's own telemetry in the lake")
    for table in ("device_telemetry", "guard_locations", "sensor_readings"):
        assert vigil.count(table, f"seq = {marker}") == 0, table
    assert vigil.count("dead_letters", f"payload LIKE '%{marker}%'") == 0


@pytest.mark.parametrize(
    "login", ["nobody:whatever", "{device}:wrong-password", "{device}", "", "vigil/admin:guess"]
)
def test_strangers_and_wrong_passwords_are_refused_at_connect(
    noc: Noc, pair: list[tuple[str, str]], login: str
) -> None:
    broker = noc.vigil.broker
    username, _, password = login.format(device=pair[0][1]).partition(":")
    address = BrokerAddress(broker.host, broker.port, False, username or None, password or None)
    said = check_broker(address.url)
    assert not said.ok and "refused" in said.detail


def test_a_device_made_through_the_api_publishes_at_once_and_one_deleted_cannot(
    noc: Noc, clients: dict[str, Api]
) -> None:
    vigil, name = noc.vigil, f"fresh-{uuid.uuid4().hex[:6]}"
    guard, device = make_guard(clients["admin1"], 1, "site-mg-road", name)
    fresh = wait_for(lambda: _logged_in(vigil, device), 5, "the new device logged in")
    seq = next(SEQ)
    try:
        assert fresh.publish(f"device/{device}/telemetry", telemetry(seq)) == 0
        wait_for(lambda: stored(vigil, device, seq), 10, "its telemetry in the lake")
        clients["admin1"].call("DELETE", f"/api/guards/{guard}")
        clients["admin1"].call("DELETE", f"/api/devices/{device}")
        wait_for(fresh.dropped.is_set, 5, "the deleted device disconnected")
    finally:
        fresh.close()
    at = vigil.broker
    gone = check_broker(BrokerAddress(at.host, at.port, False, device, vigil.password(device)).url)
    assert not gone.ok and "refused" in gone.detail


def test_a_rotated_password_stops_working_at_once(noc: Noc, pair: list[tuple[str, str]]) -> None:
    vigil, (_, device) = noc.vigil, pair[1]
    username, old = credentials(vigil, device)
    holder = Device(vigil, username, old)
    try:
        new = rotate_login(vigil.data, username, vigil.broker.address)
        wait_for(holder.dropped.is_set, 5, "the client with the old password disconnected")
    finally:
        holder.close()
    assert new != old and credentials(vigil, device) == (username, new)
    at = vigil.broker
    assert not check_broker(BrokerAddress(at.host, at.port, False, username, old).url).ok
    again = Device(vigil, username, new)
    try:
        seq = next(SEQ)
        assert again.publish(f"device/{device}/telemetry", telemetry(seq)) == 0
        wait_for(lambda: stored(vigil, device, seq), 10, "telemetry under the new password")
    finally:
        again.close()


def _logged_in(vigil: Vigil, device: str) -> Device | None:
    try:
        return Device(vigil, device, vigil.password(device), timeout=1)
    except AssertionError:
        return None


def test_no_password_is_in_the_lake_the_logs_or_the_brokers_files(
    noc: Noc, pair: list[tuple[str, str]]
) -> None:
    vigil, (_, device) = noc.vigil, pair[0]
    username, password = credentials(vigil, device)
    seq = next(SEQ)
    publisher = Device(vigil, username, password)
    try:
        assert publisher.publish(f"device/{device}/telemetry", telemetry(seq)) == 0
    finally:
        publisher.close()
    wait_for(lambda: stored(vigil, device, seq), 10, "its telemetry in the lake")
    secrets = [password.encode(), vigil.password(INGEST).encode()]
    folders = [vigil.data, vigil.broker.folder, Path(ray_logs())]
    for path in (p for folder in folders for p in folder.rglob("*") if p.is_file()):
        text = path.read_bytes()
        assert not any(secret in text for secret in secrets), path


def ray_logs() -> str:
    import ray

    return str(Path(ray._private.worker.global_worker.node.get_session_dir_path()) / "logs")
