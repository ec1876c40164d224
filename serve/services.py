"""What the Serve app talks to: handles to vigil's actors, the lake, the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.settings import Settings
from serve.history import History


@dataclass
class Services:
    settings: Settings
    secret: str
    hub: Any
    router: Any
    registry: Any
    commands: Any
    shards: list[Any]
    history: History
    training: Any = None  # the training desk (actors/desk.py)

    async def owner(self, collection: str, item_id: str) -> int | None:
        """The tenant owning an entity, None when the fleet has no such entity."""
        owner: int | None = await self.registry.tenant_of.remote(collection, item_id)
        return owner
