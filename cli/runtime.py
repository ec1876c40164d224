"""Starts vigil's actors on a Ray cluster, wired together, with readable names.

writer <- router <- shards <- ingest pool
          hub  <-/ |
      notifier <---/  (delivery receipts -> writer)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ray

from actors.hub import Hub
from actors.ingest import IngestActor
from actors.notifier import Notifier
from actors.notify.channels import check_channels
from actors.router import AlertRouter
from actors.shard import EntityShard
from actors.writer import StorageWriter
from core.fleet import Fleet
from core.settings import Settings

STORAGE_RESOURCE = "vigil-storage"
#: Every vigil actor is restarted by Ray when its process dies, and calls in flight
#: are retried; vigil's actors are I/O bound, so they take no CPU slot.
RESILIENT = {"max_restarts": -1, "max_task_retries": -1, "num_cpus": 0}
_PINNED: list[Any] = []


def pinned(value: Any) -> Any:
    """`value` in the object store, held for as long as this process lives. Ray restarts an
    actor with the arguments it was created with, and an argument too big to travel inline
    (a fleet of a thousand guards) lives in the object store only while its creator holds
    a reference: unheld, a killed actor never comes back (Ray issue 53727, seen in the
    chaos run). Pass such arguments as `pinned(value)`."""
    ref = ray.put(value)
    _PINNED.append(ref)
    return ref


@dataclass(frozen=True)
class Runtime:
    writer: Any
    hub: Any
    router: Any
    shards: list[Any]
    ingest: list[Any]
    notifier: Any = None

    def actors(self) -> dict[str, Any]:
        named = {"vigil-writer": self.writer, "vigil-hub": self.hub, "vigil-router": self.router}
        if self.notifier is not None:
            named["vigil-notifier"] = self.notifier
        named |= {f"vigil-shard-{i}": s for i, s in enumerate(self.shards)}
        named |= {f"vigil-ingest-{i}": a for i, a in enumerate(self.ingest)}
        return named

    def ready(self, timeout: float = 60.0) -> None:
        """Wait until every actor answers."""
        actors = (self.writer, self.router, *self.shards, *self.ingest)
        calls = [a.get_stats.remote() for a in actors]
        if self.notifier is not None:
            calls.append(self.notifier.get_stats.remote())
        ray.get([*calls, self.hub.snapshot.remote(0)], timeout=timeout)

    def stop(self) -> None:
        ray.get([a.stop.remote() for a in self.ingest], timeout=10)
        ray.get(self.writer.flush.remote(), timeout=30)
        for actor in self.actors().values():
            ray.kill(actor)


def start(settings: Settings, fleet: Fleet, detached: bool = False) -> Runtime:
    """Create the actors (named `vigil-*` in the settings' namespace).

    Notification channels are checked first: a URL apprise cannot use fails the start
    (ConfigError naming the key), not the first alarm.
    """
    check_channels(fleet, str(settings.fleet_path))
    lifetime = {"lifetime": "detached"} if detached else {}
    fleet_ref = pinned(fleet)

    def spawn(actor_class: Any, name: str, *args: Any, **placement: Any) -> Any:
        options = {**RESILIENT, **lifetime, "name": name, "namespace": settings.namespace}
        return actor_class.options(**options, **placement).remote(*args)

    # The writer's log wants a steady local disk: on a cluster whose head offers the
    # `vigil-storage` resource (cluster.yaml), it lives there. Ingest and shards spread.
    storage = (
        {"resources": {STORAGE_RESOURCE: 0.01}}
        if STORAGE_RESOURCE in ray.cluster_resources()
        else {}
    )
    spread = {"scheduling_strategy": "SPREAD"}
    writer = spawn(StorageWriter, "vigil-writer", settings, **storage)
    hub = spawn(Hub, "vigil-hub")
    notifier = spawn(Notifier, "vigil-notifier", settings, fleet_ref, writer)
    router = spawn(AlertRouter, "vigil-router", writer, hub, notifier, settings, fleet_ref)
    shards = [
        spawn(EntityShard, f"vigil-shard-{i}", i, settings, fleet_ref, router, hub, **spread)
        for i in range(settings.shards)
    ]
    ingest = [
        spawn(IngestActor, f"vigil-ingest-{i}", i, settings, fleet_ref, shards, writer, **spread)
        for i in range(settings.ingest_actors)
    ]
    return Runtime(writer, hub, router, shards, ingest, notifier)
