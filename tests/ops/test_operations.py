"""A whole vigil as an operator runs it: Prometheus scraping it evaluates every dashboard
query, and `vigil health` tells a healthy system from a stopped broker or a dead shard."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from cli.broker import free_port, port_free
from core.credentials import Credentials
from tests.conftest import wait_for
from tests.receivers import HttpReceiver

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
VIGIL = [sys.executable, "-m", "cli.main"]
PROMETHEUS_CONFIG = """\
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: vigil
    metrics_path: /metrics
    authorization: {{credentials: "{token}"}}
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
"""
METRICS_TOKEN = "scrape-" + "m" * 32  # vigil up gets it as VIGIL_METRICS_TOKEN


@dataclass
class Stack:
    data: Path
    http: int
    mqtt: int
    prometheus: int

    def health(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*VIGIL, "health", "--data", str(self.data), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def ready(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.prometheus}/-/ready"
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def query(self, expr: str) -> list[dict]:
        url = f"http://127.0.0.1:{self.prometheus}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expr}
        )
        with urllib.request.urlopen(url, timeout=5) as response:
            answer = json.loads(response.read())
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("ops")
    data, http, mqtt = root / "data", free_port(), free_port()
    hooks = HttpReceiver().start()  # the NOC webhook, so notification panels have data
    fleet = yaml.safe_load((REPO / "fleet" / "sample.yaml").read_text())
    fleet["tenants"][1]["channels"] = [
        {
            "id": "noc-webhook",
            "url": f"json://127.0.0.1:{hooks.port}/vigil",
            "severities": ["critical", "high", "medium"],
        }
    ]
    (root / "fleet.yaml").write_text(yaml.safe_dump(fleet))
    up = subprocess.run(
        [
            *VIGIL,
            "up",
            "--detach",
            "--simulate",
            "30",
            "--fleet",
            str(root / "fleet.yaml"),
            "--data",
            str(data),
            "--mqtt-port",
            str(mqtt),
            "--http-port",
            str(http),
            "--ray-dashboard-port",
            str(free_port()),
        ],
        cwd=REPO,
        env={
            **os.environ,
            "VIGIL_METRICS_TOKEN": METRICS_TOKEN,
            "VIGIL_INGEST_ACTORS": "2",  # health names each slot and shard of several
            "VIGIL_SHARDS": "2",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    prometheus_port = free_port()
    config = PROMETHEUS_CONFIG.format(port=http, token=METRICS_TOKEN)
    (root / "prometheus.yml").write_text(config)
    prometheus = subprocess.Popen(
        [
            shutil.which("prometheus") or "/usr/bin/prometheus",
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield Stack(data, http, mqtt, prometheus_port)
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)
        subprocess.run([*VIGIL, "down", "--data", str(data)], capture_output=True, timeout=120)
        hooks.stop()


def dashboard_queries() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted((REPO / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                found.append((path.name, panel["title"], target["expr"]))
    return found


def test_there_are_four_dashboards_with_panels() -> None:
    names = {name for name, _, _ in dashboard_queries()}
    assert names == {"ingest.json", "actors-storage.json", "noc.json", "overview.json"}


def test_every_dashboard_query_returns_a_series_from_a_real_prometheus(stack: Stack) -> None:
    wait_for(stack.ready, 60, "Prometheus ready")
    wait_for(lambda: stack.query('up{job="vigil"} == 1'), 60, "Prometheus scraping vigil")
    # Something for the critical-latency panels: a panic from a simulated guard's device,
    # logged in as that device.
    subprocess.run(
        [
            "mosquitto_pub",
            "-p",
            str(stack.mqtt),
            "-u",
            "dev-201",
            "-P",
            Credentials(stack.data).password("dev-201"),
            "-q",
            "1",
            "-t",
            "device/dev-201/alert",
            "-m",
            '{"type": "panic"}',
        ],
        check=True,
    )
    for dashboard, title, expr in dashboard_queries():
        wait_for(lambda e=expr: stack.query(e), 90, f"{dashboard} / {title}: {expr}", interval=0.5)


def test_metrics_answer_only_a_scrape_with_the_metrics_token(stack: Stack) -> None:
    url = f"http://127.0.0.1:{stack.http}/metrics"
    for header in ({}, {"Authorization": "Bearer wrong"}):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(url, headers=header), timeout=5)
        assert refused.value.code == 401
    scrape = urllib.request.Request(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    with urllib.request.urlopen(scrape, timeout=5) as response:
        assert b"vigil_actor_up" in response.read()


def test_health_passes_on_a_healthy_system(stack: Stack) -> None:
    result = stack.health("--json")
    assert result.stdout, result.stderr
    report = json.loads(result.stdout)
    assert result.returncode == 0, report
    parts = {c["part"] for c in report["checks"]}
    assert {"broker", "serve", "lake", "ray", "vigil-writer", "vigil-shard-0"} <= parts
    assert {"vigil-ingest-0", "vigil-ingest-1"} <= parts


def test_health_names_an_ingest_slot_whose_network_thread_died(stack: Stack) -> None:
    """The live defect of issue 11: a slot whose paho thread ended kept answering health
    checks while it never acknowledged again. Now its actor ends, Ray restarts it, and
    health names the slot until it has been back for a minute."""
    state = json.loads((stack.data / "vigil.json").read_text())
    stop_thread = (
        f"import ray; ray.init(address={state['ray_address']!r}, "
        f"namespace={state['namespace']!r}); "
        "slot = ray.get_actor('vigil-ingest-0'); "
        "ray.get(slot.__ray_call__.remote(lambda a: setattr(a.mqtt, '_stopping', True)))"
    )
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    subprocess.run(
        [sys.executable, "-c", stop_thread], check=True, env=env, timeout=60, capture_output=True
    )

    result = stack.health("--json")
    assert result.returncode == 1, result.stdout
    failing = {c["part"]: c["detail"] for c in json.loads(result.stdout)["checks"] if not c["ok"]}
    assert list(failing) == ["vigil-ingest-0"], failing

    def back() -> str:
        checks = json.loads(stack.health("--json").stdout)["checks"]
        detail = next(c["detail"] for c in checks if c["part"] == "vigil-ingest-0")
        return detail if "restarted" in detail else ""

    wait_for(back, 60, "vigil-ingest-0 restarted by Ray and answering", interval=1)


def test_health_names_a_killed_shard_then_a_stopped_broker(stack: Stack) -> None:
    state = json.loads((stack.data / "vigil.json").read_text())
    kill = (
        f"import ray; ray.init(address={state['ray_address']!r}, "
        f"namespace={state['namespace']!r}); "
        "ray.kill(ray.get_actor('vigil-shard-1'), no_restart=True)"
    )
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    subprocess.run(
        [sys.executable, "-c", kill], check=True, env=env, timeout=60, capture_output=True
    )

    shard = stack.health()
    assert shard.returncode == 1
    assert "failing: vigil-shard-1" in shard.stdout

    pid = int((stack.data / "mosquitto" / "mosquitto.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: port_free(stack.mqtt), 10, "the broker stopped")

    broker = stack.health("--json")
    assert broker.returncode == 1
    failing = [c["part"] for c in json.loads(broker.stdout)["checks"] if not c["ok"]]
    assert "broker" in failing and "vigil-shard-1" in failing
