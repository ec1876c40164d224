"""The name of every vigil actor, in one place.

Actors are named in the settings' Ray namespace; an actor finds a peer by its name
(`ray.get_actor(name, namespace=...)`), so a restarted actor reaches the peers as they
are now. docs/architecture.md draws the graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.settings import Settings

WRITER = "vigil-writer"
HUB = "vigil-hub"
ROUTER = "vigil-router"
NOTIFIER = "vigil-notifier"
REGISTRY = "vigil-fleet"
COMMANDS = "vigil-commands"
TRAINING = "vigil-training"
GATEWAY = "vigil-ws"
OSMAND = "vigil-osmand"


def shard(index: int) -> str:
    return f"vigil-shard-{index}"


def ingest(slot: int) -> str:
    return f"vigil-ingest-{slot}"


def every(shards: int, ingest_slots: int, gateway: bool, osmand: bool = False) -> list[str]:
    """Every actor of a vigil with this many shards and ingest slots, in start order:
    what the builder starts (cli/runtime.py), `vigil health` checks and /metrics asks."""
    spine = [WRITER, HUB, NOTIFIER, ROUTER]
    spine += [shard(i) for i in range(shards)]
    spine += [ingest(i) for i in range(ingest_slots)]
    spine += [REGISTRY, COMMANDS, TRAINING]
    return spine + ([GATEWAY] if gateway else []) + ([OSMAND] if osmand else [])


def edges(settings: Settings) -> set[str]:
    """The actors that hand records to the shards: the ingest slots, the OsmAnd ingress."""
    found = {ingest(i) for i in range(settings.ingest_actors)}
    return found | ({OSMAND} if settings.osmand_port else set())


def peer(name: str, settings: Settings) -> Any:
    """The handle of the actor named `name` in the settings' namespace (ValueError when
    there is none): how an actor reaches its peers, in its constructor."""
    import ray

    return ray.get_actor(name, namespace=settings.namespace)
