"""`vigil up --detach --simulate 50` then `vigil down`, from a clean copy of the repository,
as a new user would run them (the README's commands, with free ports)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from cli.broker import free_port, port_free
from cli.health import check_broker
from core.broker import BrokerAddress
from tests.conftest import wait_for

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
#: What a healthy start must not print: Ray's C++ error lines ("[... E 123 123] ..."),
#: Python's log levels above INFO, tracebacks.
ERROR_LINE = re.compile(r"\[[^]]* E \d+ \d+\]|\b(ERROR|WARNING|CRITICAL)\b|Traceback")


def clean_checkout(target: Path) -> Path:
    """The files git knows (committed or not yet), nothing else: no data, no caches."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def get_json(url: str, token: str = "") -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_up_detach_serves_the_simulated_fleet_and_down_stops_everything(tmp_path: Path) -> None:
    checkout = clean_checkout(tmp_path / "vigil")
    mqtt, dash, osmand = free_port(), free_port(), free_port()
    http = free_port()
    while not port_free(http + 1) or http + 1 in (mqtt, dash, osmand):  # the gateway's, by default
        http = free_port()
    env = {**os.environ, "PYTHONPATH": str(checkout)}  # the checkout's code, not this tree's
    vigil = [sys.executable, "-m", "cli.main"]

    def command(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`vigil ARGS` in the checkout, as a user types it there."""
        run = [*vigil, *args]
        return subprocess.run(
            run, cwd=checkout, env=env, capture_output=True, text=True, timeout=timeout
        )

    ports = ["--mqtt-port", str(mqtt), "--http-port", str(http), "--ray-dashboard-port", str(dash)]
    ports += ["--osmand-port", str(osmand)]  # Traccar Client phones' ingress (5055 by default)
    up = command("up", "--detach", "--simulate", "50", *ports, timeout=300)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"http://127.0.0.1:{http}/" in up.stdout
        assert str(checkout / "data") in up.stdout.replace("\n", "")
        started = (checkout / "data" / "vigil.log").read_text()  # the background vigil's
        problems = [line for line in started.splitlines() if ERROR_LINE.search(line)]
        assert not problems, started
        ray_line = next(line for line in started.splitlines() if "Ray dashboard" in line)
        hint = re.search(r"\(token: (\S+ get-auth-token)\)", ray_line)
        assert hint, ray_line
        printed = subprocess.run(hint[1].split(), capture_output=True, text=True, timeout=60)
        assert printed.returncode == 0 and printed.stdout.strip(), printed.stderr

        page = urllib.request.urlopen(f"http://127.0.0.1:{http}/", timeout=5).read().decode()
        assert "vigil NOC" in page
        token = command("token", "create", "--role", "admin", "--tenant", "*").stdout.strip()
        live = wait_for(
            lambda: (
                (s := get_json(f"http://127.0.0.1:{http}/api/live", token))
                and len([g for g in s["guards"] if g["guard_id"].startswith("sim-")]) == 50
                and s
            ),
            60,
            "50 simulated guards on the live view",
        )
        assert {g["client_id"] for g in live["guards"]} == {1, 2}
        me = get_json(f"http://127.0.0.1:{http}/api/me", token)
        assert me["ws_port"] == http + 1  # the live feed's gateway, on by default
        with connect(f"ws://127.0.0.1:{http + 1}/ws?token={token}", open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))[0]["type"] == "hello"
        wait_for(
            lambda: any((checkout / "data" / "guard_locations").glob("date=*/*.parquet")),
            30,
            "the lake in ./data",
        )

        # Its broker lets no stranger in; a device logs in with `vigil device credentials`,
        # and `vigil device rotate` makes the old password worthless at once.
        def device(verb: str) -> str:
            said = command("device", verb, "dev-123")
            assert said.returncode == 0, said.stderr
            username, password = said.stdout.split()
            return BrokerAddress("127.0.0.1", mqtt, False, username, password).url

        assert not check_broker(f"mqtt://127.0.0.1:{mqtt}").ok
        old = device("credentials")
        assert check_broker(old).ok
        new = device("rotate")
        assert new != old and check_broker(new).ok and not check_broker(old).ok

        # A Traccar Client phone logs in over HTTP with the same credentials.
        def traccar(url: str) -> int:
            login = BrokerAddress.parse(url)
            fix = {"id": "dev-123", "lat": "12.9716", "lon": "77.5946"}
            auth = (login.username or "", login.password or "")
            where = f"http://127.0.0.1:{osmand}/"
            return httpx.post(where, params=fix, auth=auth, timeout=30).status_code

        assert (traccar(new), traccar(old)) == (200, 401)
    finally:
        down = command("down", timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stopped vigil" in down.stdout
    wait_for(
        lambda: all(port_free(p) for p in (http, http + 1, mqtt, osmand)), 30, "ports released"
    )
    assert not (checkout / "data" / "vigil.pid").exists()
    again = command("down")
    assert "no vigil running" in again.stdout
