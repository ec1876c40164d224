"""Starts and stops a whole vigil on one machine: broker, Ray, actors, Serve, simulator."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from cli import health
from cli.broker import Mosquitto, port_free
from core.credentials import INGEST, SIMULATOR, Credentials
from core.errors import StartupError
from core.fleet import Fleet, load_fleet
from core.settings import Settings

PID_FILE = "vigil.pid"
LOG_FILE = "vigil.log"


@dataclass
class Stack:
    """Everything `vigil up` started, in start order, so `close` can stop it in reverse."""

    settings: Settings
    fleet: Fleet
    broker: Mosquitto | None = None
    runtime: Any = None
    simulator: Any = None
    dashboard_url: str = ""
    _closers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for closer in reversed(self._closers):
            with contextlib.suppress(Exception):
                closer()
        self._closers.clear()


def start_stack(
    settings: Settings,
    simulate: int,
    mqtt_port: int | None,
    ray_dashboard_port: int,
    console: Console,
    ray_address: str = "local",
    mqtts_port: int = 8883,
) -> Stack:
    """Start every part in order, showing progress; on failure stop what started."""
    import ray

    from actors.ingest import ingest_sessions
    from actors.registry import current_fleet_on_disk
    from cli import runtime
    from simulator.fleet import simulated_fleet
    from simulator.run import Simulator

    fleet = simulated_fleet(load_fleet(settings.fleet_path), simulate)
    stack = Stack(settings, fleet)
    try:
        if not port_free(settings.http_port):
            raise StartupError(f"serve: port {settings.http_port} is in use; pass --http-port")
        if settings.ws_port and not port_free(settings.ws_port):
            raise StartupError(
                f"live feed gateway: port {settings.ws_port} is in use; pass --ws-port "
                "(0: no gateway, the page then uses Serve's /ws)"
            )
        if settings.osmand_port and not port_free(settings.osmand_port):
            raise StartupError(
                f"Traccar Client ingress: port {settings.osmand_port} is in use; pass "
                "--osmand-port (0: none)"
            )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if mqtt_port is not None:
            tls = bool(settings.tls_certfile)  # --tls-cert: devices may speak MQTT over TLS
            credentials = Credentials(settings.data_dir)
            # Every device's login, the API's edits of the fleet included; vigil's own.
            accounts = credentials.fleet_accounts(current_fleet_on_disk(settings.data_dir, fleet))
            with console.status(f"starting Mosquitto on port {mqtt_port}"):
                stack.broker = Mosquitto(
                    settings.data_dir / "mosquitto",
                    mqtt_port,
                    sessions=ingest_sessions(settings),
                    accounts=[*credentials.service_accounts(), *accounts.values()],
                    tls_port=mqtts_port if tls else None,
                    certfile=settings.tls_certfile,
                    keyfile=settings.tls_keyfile,
                ).start()
            stack._closers.append(stack.broker.stop)
            settings = stack.settings = settings.with_(
                broker_url=stack.broker.login(INGEST).url, broker_accounts=True
            )
            also = f" and {stack.broker.tls_url} (TLS)" if tls else ""
            console.print(f"[green]✓[/] Mosquitto on {stack.broker.url}{also}")
        with console.status("starting Ray (about 6 s)"):
            local: dict[str, Any] = {
                "include_dashboard": True,
                "dashboard_host": "127.0.0.1",
                "dashboard_port": ray_dashboard_port,
            }
            context = ray.init(
                # "local": a cluster of our own, even if another runs here; else join one
                address=ray_address,
                namespace=settings.namespace,
                logging_level=logging.ERROR,  # progress is ours to print; errors are Ray's
                log_to_driver=False,
                **(local if ray_address == "local" else {}),
            )
        stack._closers.append(ray.shutdown)
        stack.dashboard_url = f"http://{context.dashboard_url}" if context.dashboard_url else ""
        console.print("[green]✓[/] Ray")
        with console.status(
            f"starting {settings.ingest_actors} ingest and {settings.shards} shard actors"
        ):
            stack.runtime = runtime.start(settings, fleet)
            stack._closers.append(stack.runtime.stop)
            stack.runtime.ready(timeout=120)
        console.print(f"[green]✓[/] actors: {', '.join(stack.runtime.actors())}")
        with console.status(f"starting the Serve app on port {settings.http_port}"):
            import ray.serve  # it sets its logger to INFO on import; its INFO is progress

            logging.getLogger("ray.serve").setLevel(logging.WARNING)
            stack.runtime.serve()
        console.print(f"[green]✓[/] Serve app on http://127.0.0.1:{settings.http_port}")
        health.write_state(
            settings.data_dir,
            {
                "pid": os.getpid(),
                "ray_address": context.address_info["gcs_address"],  # type: ignore[attr-defined]
                # Ray 2.59+ local clusters require its token (~/.ray/auth_token) from clients.
                "ray_auth_mode": os.environ.get("RAY_AUTH_MODE", "token"),
                "namespace": settings.namespace,
                "broker_url": settings.broker_url,  # health logs in as vigil does
                "broker_ca_file": settings.broker_ca_file,
                "broker_accounts": settings.broker_accounts,
                "http_port": settings.http_port,
                "lake": settings.lake,
                "actors": list(stack.runtime.actors()),
                "health_max_ack_age_s": settings.health_max_ack_age_s,
                "health_restart_window_s": settings.health_restart_window_s,
            },
        )
        if simulate:
            # The simulator logs in as itself on vigil's broker (as vigil does on another).
            broker = settings.broker_address
            if settings.broker_accounts:
                broker = Credentials(settings.data_dir).login(broker, SIMULATOR)
            stack.simulator = Simulator(fleet, broker).start()
            stack._closers.append(stack.simulator.stop)
            console.print(f"[green]✓[/] simulating {simulate} guards")
    except BaseException:
        stack.close()
        raise
    return stack


def wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass


def spawn_detached(argv: list[str], data_dir: Path, http_port: int, console: Console) -> int:
    """Run `vigil up` (without --detach) in its own session; return once it serves."""
    data_dir.mkdir(parents=True, exist_ok=True)
    state = data_dir / health.STATE_FILE
    state.unlink(missing_ok=True)  # a former run's: "serving" means this one wrote its own
    log_path = data_dir / LOG_FILE
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "VIGIL_DETACHED": "1"},
        )
    (data_dir / PID_FILE).write_text(str(process.pid))
    deadline = time.monotonic() + 240
    with console.status("vigil is starting in the background"):
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise StartupError(
                    f"vigil exited with {process.returncode} while starting:\n{tail}"
                )
            if state.exists() and healthy(http_port, tls="--tls-cert" in argv):
                return process.pid
            time.sleep(0.5)
    raise StartupError(f"vigil did not answer on port {http_port} within 240 s; see {log_path}")


def healthy(http_port: int, tls: bool = False) -> bool:
    scheme = "https" if tls else "http"
    context = ssl._create_unverified_context() if tls else None  # our own, maybe self-signed
    try:
        with urllib.request.urlopen(
            f"{scheme}://127.0.0.1:{http_port}/healthz", timeout=2, context=context
        ) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def stop_detached(data_dir: Path, timeout: float = 90.0) -> int | None:
    """Stop the vigil started with --detach from `data_dir`; returns its pid, None if none ran."""
    pid_file = data_dir / PID_FILE
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink()
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return pid


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (OSError, IndexError):
        return ""
