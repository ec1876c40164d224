"""A local Mosquitto for `vigil up` and the tests, configured for alarms.

Mosquitto's defaults drop QoS 1 traffic for slow subscribers and let Nagle's
algorithm delay every hop by tens of milliseconds; the configuration written here
raises the queues and turns on TCP_NODELAY (see DESIGN.md, field notes).
"""

from __future__ import annotations

import getpass
import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.broker import BrokerAddress
from core.credentials import INGEST, Account, dynsec_config
from core.errors import StartupError

CONFIG = """\
# Mosquitto started as root switches to user `mosquitto`, which could not write here.
user {user}
per_listener_settings false
listener {port} {host}
{tls}{login}persistence {persistence}
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
DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"  # Debian's
TLS_LISTENER = "listener {port} {host}\ncertfile {cert}\nkeyfile {key}\n"


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
    #: Clients allowed in, each with its ACL (core/credentials.py); none: anonymous
    #: clients are let in, with every right.
    accounts: list[Account] = field(default_factory=list, repr=False)
    #: A TLS listener as well (MQTT over TLS, for devices): its port, certificate and key.
    tls_port: int | None = None
    certfile: str = ""
    keyfile: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def address(self) -> BrokerAddress:
        return BrokerAddress(self.host, self.port)

    @property
    def url(self) -> str:
        return self.address.url

    def login(self, user: str) -> BrokerAddress:
        """This broker's address, logged in as one of `accounts`."""
        password = next(a.password for a in self.accounts if a.username == user)
        return BrokerAddress(self.host, self.port, username=user, password=password)

    @property
    def tls_url(self) -> str:
        return f"mqtts://{self.host}:{self.tls_port}"

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
                tls=self._tls_listener(),
                login=self._login(),
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
        listening = [self.port] + ([self.tls_port] if self.tls_port else [])
        if not all(wait_listening(port, timeout, self.host) for port in listening):
            self.stop()
            said = [self.folder / "mosquitto.stderr", self.folder / "mosquitto.log"]
            log = "".join(p.read_text(errors="replace") for p in said if p.exists())[-2000:]
            raise StartupError(f"mosquitto: not listening on {listening} after {timeout}s\n{log}")
        if self.sessions:
            from actors.edge.mqtt import claim_sessions

            claim_sessions(self.login(INGEST) if self.accounts else self.address, self.sessions)
        return self

    def _tls_listener(self) -> str:
        if self.tls_port is None:
            return ""
        for name, path in (("certificate", self.certfile), ("key", self.keyfile)):
            if not path or not Path(path).is_file():
                raise StartupError(f"mosquitto: the TLS {name} {path!r} is not a file")
        cert, key = Path(self.certfile).resolve(), Path(self.keyfile).resolve()
        return TLS_LISTENER.format(port=self.tls_port, host=self.host, cert=cert, key=key)

    def _login(self) -> str:
        """No accounts: anonymous clients are let in. Accounts: Mosquitto's dynamic-security
        plugin holds them (salted PBKDF2 hashes, never the clear text) and their ACLs, and
        takes changes live; anonymous clients are refused."""
        if not self.accounts:
            return "allow_anonymous true\n"
        if not Path(DYNSEC_PLUGIN).exists():
            raise StartupError(f"mosquitto: its dynamic-security plugin {DYNSEC_PLUGIN} is missing")
        config = self.folder / "dynamic-security.json"
        config.touch(mode=0o600)
        config.chmod(0o600)
        config.write_text(json.dumps(dynsec_config(self.accounts)))
        return (
            f"allow_anonymous false\nplugin {DYNSEC_PLUGIN}\n"
            f"plugin_opt_config_file {config.resolve()}\n"
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
