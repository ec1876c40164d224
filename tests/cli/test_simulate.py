"""`vigil simulate` against a real Mosquitto: what it says it sent arrives, and the truth
file names messages that really went out; a broker it cannot reach is named."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from typer.testing import CliRunner

from cli.broker import Mosquitto, free_port
from cli.main import app
from core.broker import BrokerAddress
from core.credentials import INGEST, SIMULATOR, Credentials
from tests.conftest import wait_for


class Subscriber:
    """Every message on the broker, decoded (status payloads stay text)."""

    def __init__(self, broker: BrokerAddress) -> None:
        self.received: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_connect = lambda client, *_: client.subscribe("#", qos=1)
        broker.configure(self.client)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        text = message.payload.decode()
        body = json.loads(text) if text.startswith("{") else text
        with self.lock:
            self.received.append((message.topic, body))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_simulate_sends_what_it_counts_and_its_truth_names_sent_messages(tmp_path: Path) -> None:
    # A broker of its own: the session's feeds the session's vigil, whose tests count
    # the rows and alerts of these very guards (sample and sim-guard-*).
    accounts = Credentials(tmp_path).service_accounts()  # no anonymous clients, as vigil's
    broker = Mosquitto(tmp_path / "mosquitto", free_port(), accounts=accounts).start()
    truth = tmp_path / "truth.jsonl"
    subscriber = Subscriber(broker.login(INGEST))
    try:
        argv = [
            "simulate",
            "--broker",
            broker.login(SIMULATOR).url,
            "--guards",
            "20",
            "--count",
            "600",
        ]
        argv += ["--rate", "2000", "--event-every", "0.05", "--seed", "3", "--truth", str(truth)]
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 0, result.output
        assert "600 messages" in result.output
        wait_for(lambda: len(subscriber.received) >= 600, 10, "every message at the broker")
    finally:
        subscriber.close()
        broker.stop()
    assert len(subscriber.received) == 600
    stamps = {(t, b["ts"]) for t, b in subscriber.received if isinstance(b, dict)}
    topics = {t for t, _ in subscriber.received}
    rows = [json.loads(line) for line in truth.read_text().splitlines()]
    assert rows, "no event injected"
    for row in rows:
        if row["topic"] and row["topic"].endswith("/status"):
            assert row["topic"] in topics
        elif row["topic"]:
            assert (row["topic"], row["ts"]) in stamps, row
        assert row["alert"] is None or isinstance(row["alert"], str)


def test_simulate_names_a_broker_it_cannot_reach() -> None:
    port = free_port()
    result = CliRunner().invoke(app, ["simulate", "--broker", f"mqtt://127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert f"mqtt://127.0.0.1:{port}" in result.output


def test_simulate_connects_with_its_credentials_and_names_a_refusal(tmp_path: Path) -> None:
    """A broker with anonymous access off (as DESIGN.md has every deployment)."""
    import getpass
    import subprocess

    from cli.broker import wait_listening

    port = free_port()
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "sim", "s3cret"], check=True)
    config = tmp_path / "mosquitto.conf"
    config.write_text(  # as root, Mosquitto would switch to a user who cannot read tmp_path
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\n"
        f"allow_anonymous false\npassword_file {passwords}\n"
    )
    broker = subprocess.Popen(["mosquitto", "-c", str(config)], stderr=subprocess.DEVNULL)
    try:
        assert wait_listening(port, 10)
        argv = ["simulate", "--broker", f"mqtt://127.0.0.1:{port}", "--count", "20"]
        argv += ["--rate", "500"]
        refused = CliRunner().invoke(app, [*argv, "--username", "sim", "--password", "wrong"])
        assert refused.exit_code == 1 and "refused" in refused.output, refused.output
        anonymous = CliRunner().invoke(app, argv)
        assert anonymous.exit_code == 1
        accepted = CliRunner().invoke(app, [*argv, "--username", "sim", "--password", "s3cret"])
        assert accepted.exit_code == 0, accepted.output
        assert "20 messages" in accepted.output
    finally:
        broker.terminate()
        broker.wait(10)
