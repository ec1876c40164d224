"""FleetRegistry: the one place the running fleet changes (the API's fleet CRUD).

Edits are serialised here, checked whole (actors/rules/fleet_edits.py: an edit the
running actors could not apply is refused before anything is saved), appended to
`<data_dir>/fleet_edits.json` and handed to every actor that uses the fleet (ingest,
shards, the router and the notifier: `fleet_users`, found by name) before the call
returns. The fleet file stays the source: the builder hands the registry the fleet
`vigil up` starts with (`start`, kept in `<data_dir>/fleet_start.json` for a restarted
registry), and the registry replays the saved edits over it, so API changes survive
restarts; an edit the file no longer allows is skipped and logged.

The registry starts first; every other actor asks it for the fleet as it is now when it
starts (`current_fleet`), restarted or not, so a device added through the API is not
unknown to a restarted ingest actor, nor a tenant's new channel to a restarted notifier,
and no actor takes the fleet as a constructor argument (Ray cannot restart an actor
whose arguments left the object store: Ray issue 53727).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, cast

import msgspec
import ray

from actors.rules import fleet_edits
from actors.rules.fleet_edits import FleetEditError
from core import names
from core.credentials import ADMIN, Account, Credentials, CredentialsError, changes, control
from core.fleet import Fleet
from core.settings import Settings

log = logging.getLogger("vigil.registry")

EDITS_FILE = "fleet_edits.json"
START_FILE = "fleet_start.json"  # the fleet `vigil up` started with, for a restarted registry
REGISTRY = names.REGISTRY


def fleet_users(settings: Settings) -> list[str]:
    """The names of the actors that take `update_fleet(fleet)`."""
    users = [names.ROUTER, names.NOTIFIER, names.COMMANDS]
    users += [names.shard(i) for i in range(settings.shards)]
    users += [names.ingest(i) for i in range(settings.ingest_actors)]
    return users + ([names.OSMAND] if settings.osmand_port else [])


def current_fleet(settings: Settings) -> Fleet:
    """The fleet as it is now, every edit made through the API included: how an actor
    gets the fleet when it starts (the builder starts the registry before them)."""
    registry = names.peer(names.REGISTRY, settings)
    return cast(Fleet, ray.get(registry.get_fleet.remote(), timeout=60))


#: Reads have a thread of their own: an actor restarting during a push (which waits
#: for it) asks for the fleet from its constructor.
@ray.remote(concurrency_groups={"reads": 1})  # type: ignore[call-overload]
class FleetRegistry:
    def __init__(self, settings: Settings) -> None:
        self.path = Path(settings.data_dir) / EDITS_FILE
        self.start_path = Path(settings.data_dir) / START_FILE
        self.settings = settings
        self.fleet = Fleet()
        self.missing: dict[str, int] = {}  # actors not running at a push, by name
        self.edits: list[dict[str, Any]] = []
        self.version = 0
        self.skipped = 0
        self.accounts = BrokerAccounts(settings)
        if self.start_path.exists():  # restarted by Ray: the fleet of the start is on disk
            self._load(msgspec.json.decode(self.start_path.read_bytes(), type=Fleet))

    def start(self, fleet: Fleet) -> int:
        """The fleet vigil starts with (the builder's first call): kept on disk for a
        restart, then the saved edits replayed over it. Returns the number of edits."""
        _write_durably(self.start_path, msgspec.json.encode(fleet))
        self._load(fleet)
        return len(self.edits)

    def _load(self, fleet: Fleet) -> None:
        self.fleet, self.edits, skipped = replay(fleet, saved_edits(self.path))
        self.skipped += skipped
        self.accounts.started(self.fleet)

    # -- reads ---------------------------------------------------------------------------

    @ray.method(concurrency_group="reads")
    def get_fleet(self) -> Fleet:
        return self.fleet

    def items(self, collection: str, tenant: int | None) -> list[Any]:
        return [fleet_edits.as_json(i) for i in fleet_edits.visible(self.fleet, collection, tenant)]

    def get(self, collection: str, item_id: str, tenant: int | None) -> Any:
        return fleet_edits.as_json(fleet_edits.find(self.fleet, collection, item_id, tenant))

    def zones(self, site_id: str, tenant: int | None) -> dict[str, Any]:
        return fleet_edits.zones_to_geojson(fleet_edits.find(self.fleet, "sites", site_id, tenant))

    def tenant_of(self, collection: str, item_id: str) -> int | None:
        """Whose an entity is (None when unknown): the API's tenancy check."""
        try:
            item = fleet_edits.find(self.fleet, collection, item_id, None)
        except FleetEditError:
            return None
        return fleet_edits.tenant_of(self.fleet, collection, item)

    def get_stats(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "edits": len(self.edits),
            "skipped": self.skipped,
            "broker_sync_failures": self.accounts.failures,
            "missing": dict(self.missing),
        }

    # -- edits ---------------------------------------------------------------------------

    def put(
        self, collection: str, item_id: str | None, body: Any, tenant: int | None, create: bool
    ) -> Any:
        edit: dict[str, Any] = {"op": "create" if create else "replace"}
        edit["collection"] = collection
        edit |= {"id": item_id, "body": body, "tenant": tenant}
        fleet, item = fleet_edits.put(self.fleet, collection, item_id, body, tenant, create)
        self._commit(fleet, edit | {"id": str(item.id)})
        return fleet_edits.as_json(item)

    def put_zones(self, site_id: str, geojson: Any, tenant: int | None) -> dict[str, Any]:
        site = fleet_edits.find(self.fleet, "sites", site_id, tenant)
        zones = fleet_edits.zones_from_geojson(geojson)
        body = fleet_edits.as_json(site) | {"zones": fleet_edits.as_json(zones)}
        fleet, site = fleet_edits.put(self.fleet, "sites", site_id, body, tenant, create=False)
        edit = {"op": "replace", "collection": "sites", "id": site_id, "body": body}
        self._commit(fleet, edit | {"tenant": tenant})
        return fleet_edits.zones_to_geojson(site)

    def delete(self, collection: str, item_id: str, tenant: int | None) -> Any:
        gone = fleet_edits.as_json(fleet_edits.find(self.fleet, collection, item_id, tenant))
        fleet = fleet_edits.delete(self.fleet, collection, item_id, tenant)
        self._commit(fleet, {"op": "delete", "collection": collection, "id": item_id})
        return gone

    # -- plumbing ------------------------------------------------------------------------

    def _commit(self, fleet: Fleet, edit: dict[str, Any]) -> None:
        """Durable first (the file), then live (every actor), then visible (here)."""
        self._save([*self.edits, edit])
        self.edits.append(edit)
        self.fleet = fleet
        self._push()
        self.accounts.sync(fleet)

    def _push(self) -> None:
        """Every actor using the fleet takes the new one before this returns. Peers are
        looked up by name at each push, so an actor Ray restarted is reached as it is now;
        one not running (a vigil started without it) is counted and skipped, and will ask
        for the fleet (`current_fleet`) when it starts."""
        self.version += 1
        calls: list[Any] = []
        for name in fleet_users(self.settings):
            try:
                actor = names.peer(name, self.settings)
            except ValueError:
                self.missing[name] = self.missing.get(name, 0) + 1
                continue
            calls.append(actor.update_fleet.remote(self.fleet))
        ray.get(calls)

    def _save(self, edits: list[dict[str, Any]]) -> None:
        _write_durably(self.path, json.dumps(edits, indent=1).encode())


def saved_edits(path: Path) -> list[dict[str, Any]]:
    try:
        return list(json.loads(path.read_text()))
    except FileNotFoundError:
        return []


def replay(fleet: Fleet, edits: list[dict[str, Any]]) -> tuple[Fleet, list[dict[str, Any]], int]:
    """`fleet` with the saved `edits` made over it: (fleet, the edits that applied, how many
    no longer did; each logged)."""
    applied, skipped = [], 0
    for edit in edits:
        try:
            if edit["op"] == "delete":
                fleet = fleet_edits.delete(fleet, edit["collection"], edit["id"], None)
            else:
                body, tenant = edit["body"], edit.get("tenant")
                create = edit["op"] == "create"
                fleet, _ = fleet_edits.put(
                    fleet, edit["collection"], edit["id"], body, tenant, create
                )
            applied.append(edit)
        except FleetEditError as exc:
            skipped += 1
            log.warning("saved fleet edit %s no longer applies: %s", edit, exc)
    return fleet, applied, skipped


def current_fleet_on_disk(data_dir: Path, fleet: Fleet) -> Fleet:
    """The fleet a vigil with `data_dir` runs when started with `fleet`: the API's saved
    edits made over it (what `vigil up` gives the broker's accounts before Ray starts)."""
    return replay(fleet, saved_edits(Path(data_dir) / EDITS_FILE))[0]


def started_fleet(data_dir: Path) -> Fleet | None:
    """The fleet the last `vigil up` with `data_dir` started with, its edits made; None
    when none has."""
    path = Path(data_dir) / START_FILE
    if not path.exists():
        return None
    return current_fleet_on_disk(data_dir, msgspec.json.decode(path.read_bytes(), type=Fleet))


class BrokerAccounts:
    """Keeps the broker's device and sensor logins in step with the fleet (only when vigil
    owns the broker: `broker_accounts`). The broker was seeded with the fleet's accounts
    at start; each edit sends it the difference. A failed send is logged and counted, and
    the next edit sends everything not yet sent."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.failures = 0
        self.held: dict[str, Account] = {}

    def started(self, fleet: Fleet) -> None:
        if self.settings.broker_accounts:
            self.held = Credentials(self.settings.data_dir).fleet_accounts(fleet)

    def sync(self, fleet: Fleet) -> None:
        if not self.settings.broker_accounts:
            return
        credentials = Credentials(self.settings.data_dir)
        wanted = credentials.fleet_accounts(fleet)
        admin = credentials.login(self.settings.broker_address, ADMIN)
        try:
            control(admin, changes(self.held, wanted))
        except (CredentialsError, OSError) as exc:
            self.failures += 1
            log.error("the broker's logins are behind the fleet: %s", exc)
            return
        self.held = wanted


def _write_durably(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with open(partial, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)
