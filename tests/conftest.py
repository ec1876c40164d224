"""Session-wide real parts: one Mosquitto, one local Ray cluster, one running vigil.

Tests share them; each test uses its own entities (or filters by them) so they
do not see each other's traffic.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from core.credentials import Account

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T], timeout: float, message: str = "condition", interval: float = 0.05
) -> T:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message}: not true after {timeout} s (last: {value!r})")
        time.sleep(interval)


def restart(*actors: Any, timeout: float = 60, sigkill: bool = False) -> None:
    """Kill each actor and wait until Ray has a new process answering for it: a call
    made right after `ray.kill` can still be answered by the old one. With `sigkill`,
    the kill is a real `kill -9` of the actor's process instead of `ray.kill`."""
    import signal

    import ray

    def pids() -> list[int | None]:
        found: list[int | None] = []
        for actor in actors:
            try:
                found.append(ray.get(actor.__ray_call__.remote(_pid), timeout=5))
            except Exception:  # dead, or not back yet
                found.append(None)
        return found

    before = pids()
    for actor, pid in zip(actors, before, strict=True):
        if sigkill and pid is not None:
            os.kill(pid, signal.SIGKILL)
        else:
            ray.kill(actor, no_restart=False)
    wait_for(
        lambda: all(
            now is not None and now != old for now, old in zip(pids(), before, strict=True)
        ),
        timeout,
        "every actor back in a new process",
    )


def _pid(_actor: Any) -> int:
    return os.getpid()


#: The one other web origin the session's API lets call it (CORS).
CORS_ORIGIN = "https://noc.example.com"
#: The session broker's login for tests of MQTT itself (any topic).
TESTS = Account("tests", "tests-password", publish=("#",), subscribe=("#",))


@pytest.fixture(scope="session")
def vigil_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session vigil's data dir: its lake, and the secret its broker logins come from."""
    return tmp_path_factory.mktemp("lake")


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory, vigil_data: Path) -> Iterator[Any]:
    """Mosquitto as `vigil up` runs it: no anonymous clients, vigil's own logins (the
    session vigil adds its fleet's devices live); tests publish as the simulator."""
    from cli.broker import Mosquitto, free_port
    from core.credentials import Credentials

    mosquitto = Mosquitto(
        tmp_path_factory.mktemp("mosquitto"),
        free_port(),
        persistence=False,
        # and one for tests of MQTT itself, which may publish and read any topic
        accounts=[*Credentials(vigil_data).service_accounts(), TESTS],
    )
    yield mosquitto.start()
    mosquitto.stop()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    import ray

    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        namespace="vigil-test",
        log_to_driver=False,
        logging_level="ERROR",
    )
    yield
    ray.shutdown()


@dataclass
class Vigil:
    """A running vigil (actors only; Serve is exercised by the `vigil up` test)."""

    runtime: Any
    settings: Any
    broker: Any
    fleet: Any = None

    def password(self, login: str) -> str:
        """A device's (or sensor/ID's) password on the session broker."""
        from core.credentials import Credentials

        return Credentials(self.data).password(login)

    @property
    def publisher(self) -> Any:
        """The broker's address with the login tests publish with (the simulator's)."""
        from core.credentials import SIMULATOR

        return self.broker.login(SIMULATOR)

    @property
    def data(self) -> Path:
        return Path(self.settings.data_dir)

    def publish(self, topic: str, payload: str | bytes, qos: int = 1) -> None:
        """Publish one message with the mosquitto_pub command-line client."""
        login = self.publisher
        args = ["mosquitto_pub", "-h", login.host, "-p", str(login.port), "-q", str(qos)]
        args += ["-u", login.username, "-P", login.password, "-t", topic]
        args += ["-s"] if isinstance(payload, bytes) else ["-m", payload]
        data = payload if isinstance(payload, bytes) else None
        subprocess.run(args, input=data, check=True, timeout=10)

    def count(self, table: str, where: str = "true", params: list[Any] | None = None) -> int:
        from storage.catalog import count

        return count(self.data, table, where, params)

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        from storage.catalog import Catalog

        catalog = Catalog(self.data)  # its query() retries when a compaction races it
        try:
            return catalog.query(sql, params)
        finally:
            catalog.close()

    def hub_alerts(self, entity_id: str) -> list[dict[str, Any]]:
        import ray

        snapshot = ray.get(self.runtime.hub.snapshot.remote(None, 0))
        return [a for a in snapshot["alerts"] if a["entity_id"] == entity_id]


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Any]:
    """An SMTP server (aiosmtpd) receiving the alert tests' emails."""
    from tests.receivers import Mailbox

    server = Mailbox().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def webhooks() -> Iterator[Any]:
    """An HTTP server receiving the alert tests' webhooks, SMS and push posts."""
    from tests.receivers import HttpReceiver

    server = HttpReceiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def vigil(
    broker: Any,
    ray_cluster: None,
    vigil_data: Path,
    mailbox: Any,
    webhooks: Any,
) -> Iterator[Vigil]:
    from cli import runtime
    from cli.broker import free_port
    from core.credentials import ADMIN, INGEST, Credentials, changes, control
    from core.fleet import load_fleet
    from core.settings import Settings
    from tests.alerts_fleet import alerts_fleet
    from tests.fleet import SHORT, integration_fleet

    settings = Settings(
        broker_url=broker.login(INGEST).url,
        broker_accounts=True,  # fleet edits reach the broker's logins
        data_dir=vigil_data,
        ingest_actors=2,  # the tests' vigil shares the subscription and spreads the entities
        shards=2,
        # Longer than the 1 s visibility deadline: fresh rows must come from the log tail.
        roll_seconds=2.0,
        compact_after_s=2.0,
        maintenance_s=1.0,
        notify_backoff_s=0.1,  # retries (and dead letters) within a test's patience
        notify_backoff_max_s=1.0,
        offline_after_s={**Settings().offline_after_s, SHORT: 3.0},
        osmand_port=free_port(),  # Traccar Client phones' HTTP ingress
        osmand_host="127.0.0.1",
    )
    fleet = alerts_fleet(
        integration_fleet(load_fleet(settings.fleet_path)), mailbox.port, webhooks.port
    )
    # The fleet's devices log in from now on, as on a broker `vigil up` seeded with them.
    control(broker.login(ADMIN), changes({}, Credentials(vigil_data).fleet_accounts(fleet)))
    running = runtime.start(settings, fleet)
    running.ready(timeout=120)
    wait_for(
        lambda: all(s["connects"] for s in _stats(running.ingest)),
        30,
        "every ingest actor connected to the broker",
    )
    yield Vigil(running, settings, broker, fleet)
    running.stop()


def _stats(actors: list[Any]) -> list[dict[str, Any]]:
    import ray

    return list(ray.get([a.get_stats.remote() for a in actors]))


@dataclass
class Noc:
    """The Serve app (NOC page, API, /ws) running on the session's vigil."""

    url: str
    settings: Any
    vigil: Vigil

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/ws"

    def token(self, role: str = "operator", tenant: int | str = 1, user: str = "") -> str:
        from serve.tokens import issue, load_secret

        return issue(load_secret(self.settings), role, tenant, user)


@pytest.fixture(scope="session")
def noc(vigil: Vigil) -> Iterator[Noc]:
    """Serve started once per session in the session's Ray cluster, on a free port."""
    from ray import serve

    from cli.broker import free_port

    settings = vigil.settings.with_(
        http_port=free_port(), serve_replicas=1, cors_origins=CORS_ORIGIN
    )
    vigil.runtime.serve(settings)
    yield Noc(f"http://127.0.0.1:{settings.http_port}", settings, vigil)
    serve.shutdown()
    vigil.runtime.serving.clear()


@pytest.fixture(scope="session")
def clients(noc: Noc) -> Iterator[dict[str, Any]]:
    """admin1, operator1, viewer1, admin2, operator2, platform (admin of every tenant)."""
    from tests.serve.apiclient import Api

    made = {
        "admin1": Api(noc, noc.token("admin", 1, "adam@1")),
        "operator1": Api(noc, noc.token("operator", 1, "olga@1")),
        "viewer1": Api(noc, noc.token("viewer", 1, "vera@1")),
        "admin2": Api(noc, noc.token("admin", 2, "adam@2")),
        "operator2": Api(noc, noc.token("operator", 2, "oleg@2")),
        "platform": Api(noc, noc.token("admin", "*", "root")),
        "anonymous": Api(noc, None),
    }
    yield made
    for api in made.values():
        api.close()
