"""`vigil health`: is every part of a running vigil answering?

It reads the state file `vigil up` leaves in the data folder (where the broker, Ray,
Serve and the lake are, how many actors there should be) and checks each part.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STATE_FILE = "vigil.json"
MAX_ACK_LAG_S = 30.0


@dataclass(frozen=True, slots=True)
class Check:
    part: str
    ok: bool
    detail: str


def write_state(data_dir: Path, state: dict[str, Any]) -> None:
    (data_dir / STATE_FILE).write_text(json.dumps(state, indent=2))


def read_state(data_dir: Path) -> dict[str, Any]:
    path = data_dir / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no vigil was started with --data {data_dir}")
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def check_broker(url: str) -> Check:
    import paho.mqtt.client as mqtt

    from core.settings import Settings

    host, port = Settings(broker_url=url).broker
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"vigil-health-{uuid.uuid4()}")
    try:
        client.connect(host, port, keepalive=5)
        client.disconnect()
        return Check("broker", True, url)
    except OSError as exc:
        return Check("broker", False, f"{url}: {exc}")


def check_serve(http_port: int) -> Check:
    url = f"http://127.0.0.1:{http_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return Check("serve", response.status == 200, url)
    except OSError as exc:
        return Check("serve", False, f"{url}: {exc}")


def check_lake(uri: str) -> Check:
    import pyarrow.fs as pafs

    try:
        fs, root = pafs.FileSystem.from_uri(uri)
        probe = f"{root}/.health-{uuid.uuid4().hex}"
        fs.create_dir(root, recursive=True)
        with fs.open_output_stream(probe) as out:
            out.write(b"ok")
        fs.delete_file(probe)
        return Check("lake", True, f"{uri} writable")
    except OSError as exc:
        return Check("lake", False, f"{uri}: {exc}")


def check_actors(state: dict[str, Any]) -> list[Check]:
    # Read by Ray when it is imported: set before.
    os.environ.setdefault("RAY_AUTH_MODE", state.get("ray_auth_mode", "token"))
    import ray

    try:
        ray.init(
            address=state["ray_address"],
            namespace=state["namespace"],
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
    except Exception as exc:  # any failure to join is the answer
        return [Check("ray", False, f"{state['ray_address']}: {exc}")]
    checks = [Check("ray", True, state["ray_address"])]
    names = ["vigil-writer", "vigil-router", "vigil-hub"]
    names += [f"vigil-shard-{i}" for i in range(state["shards"])]
    names += [f"vigil-ingest-{i}" for i in range(state["ingest_actors"])]
    answers: dict[str, Any] = {}
    for name in names:
        try:
            actor = ray.get_actor(name, namespace=state["namespace"])
            answers[name] = ray.get(actor.get_stats.remote(), timeout=5)
            checks.append(Check(name, True, "answers"))
        except Exception as exc:  # dead, missing or stuck: all are failures
            checks.append(Check(name, False, type(exc).__name__))
    lags = [s.get("oldest_unacked_s", 0.0) for n, s in answers.items() if "ingest" in n]
    disconnected = [n for n, s in answers.items() if "ingest" in n and not s.get("connected")]
    if disconnected:
        checks.append(
            Check("ingest", False, f"not connected to the broker: {', '.join(disconnected)}")
        )
    elif lags:
        worst = max(lags)
        checks.append(Check("ingest", worst < MAX_ACK_LAG_S, f"ack lag {worst:.1f} s"))
    ray.shutdown()
    return checks


def run_checks(data_dir: Path) -> list[Check]:
    state = read_state(data_dir)
    started = time.monotonic()
    checks = [
        check_broker(state["broker_url"]),
        check_serve(state["http_port"]),
        check_lake(state["lake"]),
        *check_actors(state),
    ]
    checks.append(Check("health", True, f"checked in {time.monotonic() - started:.1f} s"))
    return checks


def as_json(checks: list[Check]) -> str:
    return json.dumps({"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]})
