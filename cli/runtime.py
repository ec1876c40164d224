"""The builder: starts every vigil actor on a Ray cluster, and the Serve app, as one
`Runtime` value holding their handles.

Each actor is named (core/names.py) and finds its peers by name when it starts, so an
actor Ray restarts reaches the peers as they are now and its constructor arguments are
plain values (settings, a slot number). docs/architecture.md draws the graph; a test
holds it to `Runtime.actors()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ray

from actors.commands import CommandDesk
from actors.desk import TrainingDesk
from actors.edge.osmand import OsmandIngress
from actors.gateway import WsGateway
from actors.hub import Hub
from actors.ingest import IngestActor
from actors.notifier import Notifier
from actors.notify.channels import check_channels
from actors.registry import FleetRegistry
from actors.router import AlertRouter
from actors.shard import EntityShard
from actors.writer import StorageWriter
from core import names
from core.fleet import Fleet
from core.settings import Settings

STORAGE_RESOURCE = "vigil-storage"
#: Every vigil actor is restarted by Ray when its process dies, and calls in flight
#: are retried; vigil's actors are I/O bound, so they take no CPU slot.
#: No task events: each of the hot path's thousands of calls a second would otherwise be
#: recorded for the dashboard's task view, costing the caller CPU and Ray's GCS ~200 MB
#: (it keeps the last 100,000; bench/soak.py saw it grow 156 -> 363 MB in ten minutes).
RESILIENT = {"max_restarts": -1, "max_task_retries": -1, "num_cpus": 0, "enable_task_events": False}
#: A training run is not retried behind the user's back: its failure is its status.
NOT_RETRIED = {**RESILIENT, "max_task_retries": 0}


@dataclass(frozen=True)
class Runtime:
    """Handles to every actor of a running vigil (non-detached actors live as long as
    a handle to them does: keep this value for as long as vigil runs)."""

    settings: Settings
    writer: Any
    hub: Any
    notifier: Any
    router: Any
    shards: list[Any]
    ingest: list[Any]
    registry: Any
    commands: Any
    training: Any
    gateway: Any = None
    osmand: Any = None
    serving: list[bool] = field(default_factory=list)  # [True] once the Serve app runs

    def actors(self) -> dict[str, Any]:
        """Every actor by name, in start order."""
        handles = [self.writer, self.hub, self.notifier, self.router, *self.shards]
        handles += [*self.ingest, self.registry, self.commands, self.training]
        handles += [self.gateway] if self.gateway is not None else []
        handles += [self.osmand] if self.osmand is not None else []
        expected = names.every(
            len(self.shards), len(self.ingest), self.gateway is not None, self.osmand is not None
        )
        return dict(zip(expected, handles, strict=True))

    def edges(self) -> list[Any]:
        """The actors that take uplinks in: the ingest slots, the OsmAnd ingress."""
        return [*self.ingest, *([self.osmand] if self.osmand is not None else [])]

    def ready(self, timeout: float = 60.0) -> None:
        """Wait until every actor answers."""
        ray.get([a.get_stats.remote() for a in self.actors().values()], timeout=timeout)

    def serve(self, settings: Settings | None = None) -> None:
        """Start the Serve app (NOC page, API, /ws) over these actors, on `settings`'
        HTTP port (default: the runtime's settings)."""
        from ray import serve

        from serve.app import http_options, noc_app

        settings = settings or self.settings
        serve.start(http_options=http_options(settings))
        serve.run(noc_app(settings), name="vigil", route_prefix="/")
        self.serving.append(True)

    def stop(self) -> None:
        if self.serving:
            from ray import serve

            serve.shutdown()
            self.serving.clear()
        ray.get([a.stop.remote() for a in self.edges()], timeout=10)
        ray.get(self.writer.flush.remote(), timeout=30)
        for actor in self.actors().values():
            ray.kill(actor)


def spawn_one(settings: Settings, actor_class: Any, name: str, *args: Any, **options: Any) -> Any:
    """One resilient actor named `name` in the settings' namespace (`options` add to or
    override RESILIENT)."""
    placed = {**RESILIENT, "name": name, "namespace": settings.namespace}
    return actor_class.options(**(placed | options)).remote(*args)


def start(settings: Settings, fleet: Fleet, detached: bool = False) -> Runtime:
    """Create every actor (named `vigil-*` in the settings' namespace), each after the
    peers it looks up; with `settings.ws_port`, the live feed's gateway too.

    Notification channels are checked first: a URL apprise cannot use fails the start
    (ConfigError naming the key), not the first alarm.
    """
    from serve.tokens import load_secret

    check_channels(fleet, str(settings.fleet_path))
    lifetime = {"lifetime": "detached"} if detached else {}

    def spawn(actor_class: Any, name: str, *args: Any, **options: Any) -> Any:
        return spawn_one(settings, actor_class, name, *args, **(lifetime | options))

    # The writer's log wants a steady local disk: on a cluster whose head offers the
    # `vigil-storage` resource (cluster.yaml), it lives there. Ingest and shards spread.
    storage = (
        {"resources": {STORAGE_RESOURCE: 0.01}}
        if STORAGE_RESOURCE in ray.cluster_resources()
        else {}
    )
    spread = {"scheduling_strategy": "SPREAD"}
    writer = spawn(StorageWriter, names.WRITER, settings, **storage)
    hub = spawn(Hub, names.HUB)
    # The registry holds the fleet; every actor below asks it for the fleet as it starts.
    registry = spawn(FleetRegistry, names.REGISTRY, settings, **storage)
    ray.get(registry.start.remote(fleet), timeout=60)
    notifier = spawn(Notifier, names.NOTIFIER, settings)
    router = spawn(AlertRouter, names.ROUTER, settings)
    shards = [
        spawn(EntityShard, names.shard(i), i, settings, **spread) for i in range(settings.shards)
    ]
    ingest = [
        spawn(IngestActor, names.ingest(i), i, settings, **spread)
        for i in range(settings.ingest_actors)
    ]
    # The API's actors.
    commands = spawn(CommandDesk, names.COMMANDS, settings)
    training = spawn(TrainingDesk, names.TRAINING, settings, **NOT_RETRIED)
    gateway = None
    if settings.ws_port:
        gateway = spawn(WsGateway, names.GATEWAY, settings, load_secret(settings))
        # The gateway listens from its constructor (so again after a restart); this waits
        # for it, and fails naming the port when it cannot listen.
        ray.get(gateway.start.remote(), timeout=60)
    osmand = None
    if settings.osmand_port:  # Traccar Client's HTTP ingress: an edge like an ingest slot
        osmand = spawn(OsmandIngress, names.OSMAND, settings)
        ray.get(osmand.start.remote(), timeout=60)
    return Runtime(
        settings,
        writer,
        hub,
        notifier,
        router,
        shards,
        ingest,
        registry,
        commands,
        training,
        gateway,
        osmand,
    )
