"""The name of every vigil actor, in one place.

Actors are named in the settings' Ray namespace; an actor finds a peer by its name
(`ray.get_actor(name, namespace=...)`), so a restarted actor reaches the peers as they
are now. docs/architecture.md draws the graph.
"""

from __future__ import annotations

WRITER = "vigil-writer"
HUB = "vigil-hub"
ROUTER = "vigil-router"
NOTIFIER = "vigil-notifier"
REGISTRY = "vigil-fleet"
COMMANDS = "vigil-commands"
TRAINING = "vigil-training"
GATEWAY = "vigil-ws"


def shard(index: int) -> str:
    return f"vigil-shard-{index}"


def ingest(slot: int) -> str:
    return f"vigil-ingest-{slot}"
