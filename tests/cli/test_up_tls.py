"""`vigil up --tls-cert/--tls-key` end to end: the NOC answers over https and the local
Mosquitto opens its TLS listener (--mqtts-port), where a device logs in with `vigil device
credentials` and a certificate checked against the CA, and a stranger is refused."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from cli.broker import free_port, port_free
from cli.health import check_broker
from core.broker import BrokerAddress
from tests.cli.test_broker_login import make_certificates
from tests.conftest import wait_for

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_up_with_a_certificate_serves_https_and_mqtts_with_device_logins(tmp_path: Path) -> None:
    ca, cert, key = make_certificates(tmp_path)
    data = tmp_path / "data"
    mqtt, mqtts, http, dash = free_port(), free_port(), free_port(), free_port()

    def vigil(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "cli.main", *args, "--data", str(data)]
        return subprocess.run(
            command, cwd=REPO, env=os.environ, capture_output=True, text=True, timeout=timeout
        )

    tls = ["--tls-cert", str(cert), "--tls-key", str(key), "--mqtts-port", str(mqtts)]
    ports = ["--mqtt-port", str(mqtt), "--http-port", str(http), "--ws-port", "0"]
    up = vigil("up", "--detach", *tls, *ports, "--ray-dashboard-port", str(dash), timeout=300)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        trusted = ssl.create_default_context(cafile=str(ca))
        with urllib.request.urlopen(
            f"https://127.0.0.1:{http}/healthz", timeout=10, context=trusted
        ) as answer:
            assert answer.status == 200

        said = vigil("device", "credentials", "dev-123")
        assert said.returncode == 0, said.stderr
        username, password = said.stdout.split()
        device = BrokerAddress("127.0.0.1", mqtts, True, username, password, ca_file=str(ca))
        assert check_broker(device.url, device.ca_file).ok
        stranger = BrokerAddress("127.0.0.1", mqtts, True, username, "wrong", ca_file=str(ca))
        refused = check_broker(stranger.url, stranger.ca_file)
        assert not refused.ok and "refused" in refused.detail
        unchecked = check_broker(device.url)  # the system's CAs do not know the test's own
        assert not unchecked.ok and "CERTIFICATE_VERIFY_FAILED" in unchecked.detail
    finally:
        down = vigil("down", timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    wait_for(lambda: port_free(mqtts) and port_free(http), 30, "ports released")
