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


@dataclass(frozen=True, slots=True)
class Check:
    part: str
    ok: bool
    detail: str


def write_state(data_dir: Path, state: dict[str, Any]) -> None:
    """The running vigil, for `vigil health` and `vigil device`: its owner's alone, since
    it holds vigil's broker login."""
    path = data_dir / STATE_FILE
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(json.dumps(state, indent=2))


def read_state(data_dir: Path) -> dict[str, Any]:
    path = data_dir / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no vigil was started with --data {data_dir}")
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def check_broker(url: str, ca_file: str = "") -> Check:
    """The broker answers and takes vigil's login (a refused CONNECT fails the check)."""
    import paho.mqtt.client as mqtt

    from core.broker import BrokerAddress

    address = BrokerAddress.parse(url, ca_file)
    answered: list[Any] = []
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"vigil-health-{uuid.uuid4()}",
        protocol=mqtt.MQTTv5,
    )
    client.on_connect = lambda _c, _u, _f, reason, _p: answered.append(reason)
    address.configure(client)
    try:
        client.connect(address.host, address.port, keepalive=5)
        deadline = time.monotonic() + 5
        while not answered and time.monotonic() < deadline:
            client.loop(timeout=0.1)
        client.disconnect()
    except (OSError, ValueError) as exc:
        return Check("broker", False, f"{address.redacted}: {exc}")
    if not answered:
        return Check("broker", False, f"{address.redacted}: no CONNACK within 5 s")
    if answered[0].is_failure:
        return Check("broker", False, f"{address.redacted}: refused vigil: {answered[0]}")
    return Check("broker", True, address.redacted)


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
    default = Limits()
    limits = Limits(
        state.get("health_max_ack_age_s", default.max_ack_age_s),
        state.get("health_restart_window_s", default.restart_window_s),
    )
    for name in state["actors"]:  # every actor `vigil up` started (cli/runtime.py)
        try:
            actor = ray.get_actor(name, namespace=state["namespace"])
        except ValueError:  # no such actor
            checks.append(Check(name, False, "missing"))
            continue
        try:
            stats: Any = ray.get(actor.get_stats.remote(), timeout=5)
        except Exception as exc:  # dead, missing or stuck: all are failures
            checks.append(Check(name, False, f"not answering ({type(exc).__name__})"))
            continue
        checks.append(judge(name, stats, limits))
    ray.shutdown()
    return checks


@dataclass(frozen=True, slots=True)
class Limits:
    max_ack_age_s: float = 30.0  # Settings.health_max_ack_age_s
    restart_window_s: float = 60.0  # Settings.health_restart_window_s


def judge(name: str, stats: dict[str, Any], limits: Limits, now: float | None = None) -> Check:
    """One actor's health from its own stats: its threads (alive, beating), for an ingest
    slot the broker connection and the age of its oldest unacknowledged message, and
    whether Ray restarted it recently (a crash is an incident even once healed)."""
    now = time.time() if now is None else now
    problems = list(stats.get("problems", ()))
    if "connected" in stats and not stats["connected"]:
        problems.append("not connected to the broker")
    lag = stats.get("oldest_unacked_s")
    if lag is not None and lag > limits.max_ack_age_s:
        problems.append(f"oldest unacknowledged message waited {lag:.0f} s")
    up_for = now - stats.get("started_at", 0.0)
    if stats.get("restarted") and up_for < limits.restart_window_s:
        problems.append(f"restarted {up_for:.0f} s ago")
    if problems:
        return Check(name, False, "; ".join(problems))
    return Check(name, True, "answers" + (f", ack lag {lag:.1f} s" if lag is not None else ""))


def run_checks(data_dir: Path) -> list[Check]:
    state = read_state(data_dir)
    started = time.monotonic()
    checks = [
        check_broker(state["broker_url"], state.get("broker_ca_file", "")),
        check_serve(state["http_port"]),
        check_lake(state["lake"]),
        *check_actors(state),
    ]
    checks.append(Check("health", True, f"checked in {time.monotonic() - started:.1f} s"))
    return checks


def as_json(checks: list[Check]) -> str:
    return json.dumps({"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]})
