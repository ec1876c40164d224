"""A local Mosquitto for `vigil up` and the tests, configured for alarms.

Mosquitto's defaults drop QoS 1 traffic for slow subscribers and let Nagle's
algorithm delay every hop by tens of milliseconds; the configuration written here
raises the queues and turns on TCP_NODELAY (see DESIGN.md, field notes).
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import StartupError

CONFIG = """\
# Mosquitto started as root switches to user `mosquitto`, which could not write here.
user {user}
listener {port} {host}
allow_anonymous true
persistence {persistence}
persistence_location {folder}/
autosave_interval 10
max_queued_messages 1000000
max_queued_bytes 0
max_inflight_messages 1000
max_packet_size 1048576
set_tcp_nodelay true
log_dest file {folder}/mosquitto.log
log_type error
log_type warning
log_type notice
"""


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, timeout: float, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_free(port, host):
            return True
        time.sleep(0.05)
    return False


@dataclass
class Mosquitto:
    """A Mosquitto process on `port`, its config and persistence under `folder`."""

    folder: Path
    port: int
    host: str = "127.0.0.1"
    persistence: bool = True
    #: Persistent sessions (client id -> subscriptions) to hold from the first moment on:
    #: vigil's ingest slots (actors/edge/mqtt.claim_sessions says why).
    sessions: dict[str, list[str]] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> Mosquitto:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise StartupError("mosquitto: not installed (Debian package `mosquitto`)")
        if not port_free(self.port, self.host):
            raise StartupError(
                f"mosquitto: port {self.port} is already in use; pass --broker "
                f"mqtt://{self.host}:{self.port} to use that broker, or another --mqtt-port"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "mosquitto.conf"
        config.write_text(
            CONFIG.format(
                port=self.port,
                host=self.host,
                folder=self.folder.resolve(),
                persistence="true" if self.persistence else "false",
                user=getpass.getuser(),
            )
        )
        with open(self.folder / "mosquitto.stderr", "wb") as errors:
            self.process = subprocess.Popen(
                [binary, "-c", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
            )
        (self.folder / "mosquitto.pid").write_text(str(self.process.pid))
        if not wait_listening(self.port, timeout, self.host):
            self.stop()
            said = [self.folder / "mosquitto.stderr", self.folder / "mosquitto.log"]
            log = "".join(p.read_text(errors="replace") for p in said if p.exists())[-2000:]
            raise StartupError(f"mosquitto: not listening on {self.port} after {timeout}s\n{log}")
        if self.sessions:
            from actors.edge.mqtt import claim_sessions

            claim_sessions(self.host, self.port, self.sessions)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
