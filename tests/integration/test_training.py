"""Training end to end on the session's vigil and Serve app: a run started through the
API streams its progress to its user's WebSocket only, a cancel stops its Ray Train
worker, and a promoted model turns an anomalous reading (only) into an anomaly alert."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import ray
from websockets.sync.client import ClientConnection, connect

from simulator.lake import generate
from tests.conftest import Noc, wait_for
from tests.serve.apiclient import Api, receive_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TABLES = ("sensor_readings", "device_telemetry", "anomaly_labels")
FINAL = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
def labelled(noc: Noc, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three days of labelled sensor readings and telemetry, added to the session's lake
    (only those tables: the synthetic alerts and fixes stay out of the other tests' way)."""
    root = tmp_path_factory.mktemp("synthetic")
    generate(str(root), guards=10, days=3, fixes_per_day=2, sensors_per_site=4, anomaly_rate=0.3)
    for table in TABLES:
        shutil.copytree(root / table, noc.vigil.data / table, dirs_exist_ok=True)
    return noc.vigil.data


def drain(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Every message that arrives within `seconds`."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            seen.extend(json.loads(ws.recv(timeout=left)))
        except TimeoutError:
            break
    return seen


def until_final(ws: ClientConnection, run_id: str, timeout: float) -> list[dict[str, Any]]:
    """Every message until the run's final status."""

    def final(m: dict[str, Any]) -> bool:
        data = m["data"]
        return (
            m["type"] == "training_status"
            and data["run_id"] == run_id
            and (data["status"] in FINAL)
        )

    return receive_until(ws, final, timeout)[1]


def socket(noc: Noc, token: str) -> ClientConnection:
    ws = connect(f"{noc.ws_url}?token={token}", open_timeout=10)
    hello = json.loads(ws.recv(timeout=10))[0]
    assert hello["type"] == "hello"
    return ws


def test_a_run_started_through_the_api_streams_progress_to_its_user_and_no_other(
    noc: Noc, labelled: Path
) -> None:
    starter = Api(noc, noc.token("admin", 1, "trainer@1"))
    with (
        socket(noc, noc.token("admin", 1, "trainer@1")) as mine,
        socket(noc, noc.token("operator", 1, "bystander@1")) as colleague,
        socket(noc, noc.token("operator", 2, "stranger@2")) as stranger,
    ):
        run = starter.post("/api/training/runs", {"chunk_rows": 1000})
        seen = until_final(mine, run["run_id"], timeout=150)
        others = drain(colleague, 1.0), drain(stranger, 0.5)
    progress = [
        m for m in seen if m["type"] == "training_progress" and m["channel"] == "user:1:trainer@1"
    ]
    final = starter.get(f"/api/training/runs/{run['run_id']}")
    assert final["status"] == "succeeded", final["error"]
    print(f"\n{len(progress)} progress messages; metrics {final['metrics']}")
    assert len(progress) >= 5
    assert [p["data"]["rows_done"] for p in progress] == sorted(
        p["data"]["rows_done"] for p in progress
    )
    colleague_seen, stranger_seen = others
    assert not [m for m in colleague_seen if m.get("channel") == "user:1:bystander@1"]
    assert not [m for m in colleague_seen if m.get("channel", "").startswith("user:")]
    assert not [m for m in stranger_seen if m["type"].startswith("training")]
    assert final["version"] in [m["version"] for m in starter.get("/api/training/models")]
    starter.close()


def test_cancelling_a_run_stops_its_ray_train_worker(noc: Noc, labelled: Path) -> None:
    admin = Api(noc, noc.token("admin", 1, "canceller@1"))
    run = admin.post("/api/training/runs", {"chunk_rows": 100})
    path = f"/api/training/runs/{run['run_id']}"
    running = wait_for(
        lambda: (r := admin.get(path))["rows_done"] > 0 and r["status"] == "running" and r,
        120,
        "the run reported progress",
        interval=0.2,
    )
    pid = running["worker_pid"]
    assert alive(pid)
    admin.post(path + "/cancel")
    wait_for(lambda: admin.get(path)["status"] == "cancelled", 60, "the run is cancelled")
    wait_for(lambda: not alive(pid), 30, f"Ray Train worker pid {pid} is gone")
    admin.close()


def alive(pid: int) -> bool:
    """A process exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/status").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    return "\nState:\tZ" not in state


def test_a_promoted_model_raises_an_anomaly_alert_for_an_anomalous_reading_only(
    noc: Noc, labelled: Path
) -> None:
    platform = Api(noc, noc.token("admin", "*", "root"))
    operator = Api(noc, noc.token("operator", 1, "watcher@1"))
    # Trained on the labelled days only: other tests leave older rows in the session's
    # lake, and the held-out range is the last share of the time trained on.
    since = int((time.time() - 4 * 86_400) * 1e6)
    run = platform.post("/api/training/runs", {"chunk_rows": 5000, "start": since})
    finished = wait_for(
        lambda: (r := platform.get(f"/api/training/runs/{run['run_id']}"))["status"] in FINAL and r,
        150,
        "a run to promote",
        interval=0.5,
    )
    version = finished["version"]
    assert version, finished
    forbidden = Api(noc, noc.token("admin", 1, "tenant-admin@1"))
    assert forbidden.call("POST", f"/api/training/models/{version}/promote").status_code == 403
    promoted = platform.post(f"/api/training/models/{version}/promote")
    assert set(promoted["shards"]) == {version}

    def anomalies() -> list[dict[str, Any]]:
        found = operator.get("/api/alerts", entity_id="temp-mg-1", kind="anomaly")
        return list(found)

    def scored() -> int:
        shards = noc.vigil.runtime.shards
        stats = ray.get([s.get_stats.remote() for s in shards])
        return sum(s["rule_evaluations"].get("sensor_anomaly", 0) for s in stats)

    now = time.time()
    before = scored()
    noc.vigil.publish(
        "sensor/temp-mg-1/reading",
        json.dumps({"kind": "temperature", "value": 22.3, "ts": now - 60}),
    )
    wait_for(lambda: scored() > before, 20, "the normal reading was scored")
    assert anomalies() == []
    noc.vigil.publish(
        "sensor/temp-mg-1/reading", json.dumps({"kind": "temperature", "value": 33.0, "ts": now})
    )
    [alert] = wait_for(anomalies, 20, "an anomaly alert for temp-mg-1")
    assert alert["severity"] == "medium" and "value=33" in alert["detail"]
    for api in (platform, operator, forbidden):
        api.close()


def test_vigil_train_list_shows_runs_and_models_through_the_api(noc: Noc, labelled: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    token = noc.token("admin", "*", "cli-test")
    result = CliRunner().invoke(app, ["train", "list", "--url", noc.url, "--token", token])
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output and "v0001" in result.output
    missing = CliRunner().invoke(
        app, ["train", "cancel", "no-such-run", "--url", noc.url, "--token", token]
    )
    assert missing.exit_code == 1 and "404" in missing.output
