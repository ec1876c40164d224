"""The fleet file: tenants, sites with zones and hours, guards, devices, sensors.

Loaded once, checked whole (every reference resolved, every zone well formed), and
indexed for the lookups ingest and the shards make per message.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import datetime, time
from pathlib import Path
from string import Formatter
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import yaml

from core.alerts import AlertKind, Severity
from core.errors import ConfigError
from core.topics import ENTITY_ID

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS: list[Day] = list(DAYS)
Armed = Literal["always", "after_hours", "never"]
#: Fields of a person a channel URL may name, e.g. `mailto://...?to={email}`.
PERSON_FIELDS = ("id", "name", "email", "phone", "push")
#: In an escalation tier, the people on shift at the alert's site.
ON_CALL = "on_call"


class Hours(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Opening hours of a site, in the site's time zone."""

    open: str = "00:00"
    close: str = "24:00"
    days: list[Day] = msgspec.field(default_factory=lambda: list(ALL_DAYS))

    def contains(self, when: datetime, tz: ZoneInfo) -> bool:
        local = when.astimezone(tz)
        today = DAYS[local.weekday()] in self.days
        now = local.time()
        opens = parse_clock(self.open)
        if self.close == "24:00":
            return today and now >= opens
        closes = parse_clock(self.close)
        if opens <= closes:
            return today and opens <= now < closes
        # An overnight shift (e.g. 22:00-06:00) after midnight belongs to the day it started.
        yesterday = DAYS[(local.weekday() - 1) % 7] in self.days
        return (today and now >= opens) or (yesterday and now < closes)


class Zone(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A GeoJSON Polygon, or a Point with `radius_m` (a circle)."""

    id: str
    geometry: dict[str, Any]
    name: str = ""
    radius_m: float | None = None


class Channel(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An apprise URL. With a `{email}`/`{phone}`/`{push}` placeholder it is sent to each
    person notified (who has that field); without one, once per alert (a webhook)."""

    id: str
    url: str
    severities: list[Severity] = msgspec.field(
        default_factory=lambda: [Severity.CRITICAL, Severity.HIGH]
    )

    @property
    def placeholders(self) -> set[str]:
        return {name for _, name, _, _ in Formatter().parse(self.url) if name is not None}


class Tier(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An escalation step: who is notified once an alert is `after_s` old and unacknowledged."""

    after_s: float
    notify: list[str]  # guard or contact ids, or "on_call"


class Tenant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: int
    name: str = ""
    channels: list[Channel] = []
    #: Tiers after the first (the site's on-call roster), for critical alerts.
    escalation: list[Tier] = []
    #: Who is notified when no shift of the site's roster covers the moment.
    on_call: list[str] = []
    #: Alert kinds a person must resolve even once their condition ended (vigil resolves
    #: the others itself: a guard back in the zone ends the exit, core/alerts.ENDS).
    resolve_by_hand: list[AlertKind] = []
    #: Store the positions of guards off duty (core/duty.py); by default they are dropped
    #: at the edge, unread and unstored (privacy).
    store_off_duty: bool = False


class OnCall(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Who is on call at a site during `hours` (the site's time zone): notified first."""

    on_call: list[str]
    hours: Hours = Hours()


class LoneWorker(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The lone-worker watchdog of a shift (actors/rules/loneworker.py)."""

    #: A guard who has not moved more than `moved_m` for this long (s) raises lone_worker.
    still_after_s: float = 1200.0
    moved_m: float = 25.0
    #: A check-in (a `checkin` press) is due this often (s); None: no check-ins asked.
    checkin_every_s: float | None = None
    #: Not cleared this long (s) after it was raised: lone_worker_unanswered, critical.
    escalate_after_s: float = 600.0


class Shift(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Guards on duty at a site during `hours` (the site's time zone; `22:00`-`06:00` is
    overnight, belonging to the day it starts). Geofence, lone-worker and tour rules apply
    to a site's guards only during their shifts once the site has any (core/duty.py)."""

    id: str
    guards: list[str]
    hours: Hours = Hours()
    #: Not heard from this long (s) after the start: shift_no_show.
    no_show_after_s: float = 600.0
    lone_worker: LoneWorker | None = None


class Contact(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Someone vigil notifies who is not a guard: a NOC operator, a supervisor."""

    id: str
    name: str = ""
    email: str | None = None
    phone: str | None = None
    push: str | None = None


class Site(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    client_id: int
    name: str = ""
    timezone: str = "UTC"
    hours: Hours = Hours()
    zones: list[Zone] = []
    roster: list[OnCall] = []
    shifts: list[Shift] = []

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Guard(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    client_id: int
    site_id: str
    name: str = ""
    device_id: str | None = None
    email: str | None = None
    phone: str | None = None
    push: str | None = None


class Device(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    client_id: int
    device_class: str = msgspec.field(default="tracker", name="class")
    #: An OwnTracks phone's `{user}/{device}`: it publishes on `owntracks/{user}/{device}`
    #: (core/trackers.py) and logs in as `id` all the same.
    owntracks: str | None = None


class Sensor(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    site_id: str
    kind: str
    name: str = ""
    armed: Armed = "after_hours"


class Fleet(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tenants: list[Tenant] = []
    sites: list[Site] = []
    guards: list[Guard] = []
    devices: list[Device] = []
    sensors: list[Sensor] = []
    contacts: list[Contact] = []

    def adding(self, **more: Sequence[Any]) -> Fleet:
        """This fleet with entities appended to its lists: `fleet.adding(guards=[...])`."""
        return msgspec.structs.replace(
            self, **{name: [*getattr(self, name), *items] for name, items in more.items()}
        )


def parse_clock(text: str) -> time:
    """`HH:MM` (or `HH:MM:SS`) of a day; "24:00" is the day's end, read as 00:00."""
    hours, _, rest = text.partition(":")
    minutes, _, seconds = rest.partition(":")
    if int(hours) > 24 or (int(hours) == 24 and text.strip("0:") != "24"):
        raise ValueError(f"{text!r} is past the day's end")
    return time(int(hours) % 24, int(minutes or 0), int(seconds or 0))


def load_fleet(path: Path) -> Fleet:
    """Read and check a fleet file; ConfigError names the offending key."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"fleet file {path}: {exc}") from exc
    return parse_fleet(raw or {}, source=str(path))


def parse_fleet(raw: dict[str, Any], source: str = "fleet") -> Fleet:
    try:
        fleet = msgspec.convert(raw, Fleet)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    check_fleet(fleet, source)
    return fleet


def check_fleet(fleet: Fleet, source: str = "fleet") -> None:
    tenants = {t.id for t in fleet.tenants}
    sites = {s.id: s for s in fleet.sites}
    devices = {d.id: d for d in fleet.devices}
    for i, site in enumerate(fleet.sites):
        if site.client_id not in tenants:
            raise ConfigError(f"{source}: sites[{i}].client_id: unknown tenant {site.client_id}")
        try:
            site.tz  # noqa: B018 - resolving the zone is the check
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"{source}: sites[{i}].timezone: {site.timezone!r}") from exc
        for j, zone in enumerate(site.zones):
            problem = geojson_problem(zone)
            if problem:
                raise ConfigError(f"{source}: sites[{i}].zones[{j}].geometry: {problem}")
        for key in (site.hours.open, site.hours.close):
            try:
                parse_clock(key)
            except ValueError as exc:
                raise ConfigError(f"{source}: sites[{i}].hours: bad time {key!r}") from exc
    for i, guard in enumerate(fleet.guards):
        if guard.site_id not in sites:
            raise ConfigError(f"{source}: guards[{i}].site_id: unknown site {guard.site_id!r}")
        if sites[guard.site_id].client_id != guard.client_id:
            raise ConfigError(f"{source}: guards[{i}].client_id: site belongs to another tenant")
        if guard.device_id and fleet.devices and guard.device_id not in devices:
            raise ConfigError(
                f"{source}: guards[{i}].device_id: unknown device {guard.device_id!r}"
            )
        device = devices.get(guard.device_id or "")
        if device is not None and device.client_id != guard.client_id:
            raise ConfigError(
                f"{source}: guards[{i}].device_id: device {guard.device_id!r} belongs to "
                "another tenant"
            )
    phones: set[str] = set()
    for i, device in enumerate(fleet.devices):
        if device.owntracks is None:
            continue
        parts = device.owntracks.split("/")
        if len(parts) != 2 or not all(ENTITY_ID.fullmatch(part) for part in parts):
            raise ConfigError(
                f"{source}: devices[{i}].owntracks: {device.owntracks!r} is not user/device "
                "(letters, digits, '_', '.', ':' or '-')"
            )
        if device.owntracks in phones:
            raise ConfigError(f"{source}: devices[{i}].owntracks: {device.owntracks!r} twice")
        phones.add(device.owntracks)
    guards = {g.id: g for g in fleet.guards}
    for i, site in enumerate(fleet.sites):
        check_shifts(site, guards, f"{source}: sites[{i}]")
    for i, sensor in enumerate(fleet.sensors):
        if sensor.site_id not in sites:
            raise ConfigError(f"{source}: sensors[{i}].site_id: unknown site {sensor.site_id!r}")
    for name in ("sites", "guards", "devices", "sensors", "contacts"):
        ids = [item.id for item in getattr(fleet, name)]
        if len(ids) != len(set(ids)):
            dup = next(x for x in ids if ids.count(x) > 1)
            raise ConfigError(f"{source}: {name}: id {dup!r} appears twice")
    check_notify(fleet, source)


def check_shifts(site: Site, guards: dict[str, Guard], where: str) -> None:
    """A site's shifts: ids unique, times well formed, every guard the site's own."""
    seen: set[str] = set()
    for j, shift in enumerate(site.shifts):
        key = f"{where}.shifts[{j}]"
        if shift.id in seen:
            raise ConfigError(f"{key}.id: {shift.id!r} twice")
        seen.add(shift.id)
        for clock in (shift.hours.open, shift.hours.close):
            try:
                parse_clock(clock)
            except ValueError as exc:
                raise ConfigError(f"{key}.hours: bad time {clock!r}") from exc
        for k, guard_id in enumerate(shift.guards):
            guard = guards.get(guard_id)
            if guard is None or guard.site_id != site.id:
                raise ConfigError(f"{key}.guards[{k}]: {guard_id!r} is not a guard of {site.id!r}")
        if shift.no_show_after_s <= 0:
            raise ConfigError(f"{key}.no_show_after_s: must be more than 0")
        lone = shift.lone_worker
        if lone is not None:
            for name in ("still_after_s", "moved_m", "checkin_every_s", "escalate_after_s"):
                value = getattr(lone, name)
                if value is not None and value <= 0:
                    raise ConfigError(f"{key}.lone_worker.{name}: must be more than 0")


def check_notify(fleet: Fleet, source: str = "fleet") -> None:
    """Channels, rosters and escalation chains: every name resolved, every placeholder known."""
    guards = {g.id: g for g in fleet.guards}
    contacts = {c.id for c in fleet.contacts}
    for i, contact in enumerate(fleet.contacts):
        if contact.id in guards:
            raise ConfigError(f"{source}: contacts[{i}].id: {contact.id!r} is also a guard")

    def check_people(key: str, ids: list[str], client_id: int, on_call: bool) -> None:
        for k, person in enumerate(ids):
            if person == ON_CALL and on_call:
                continue
            if person in guards and guards[person].client_id != client_id:
                raise ConfigError(
                    f"{source}: {key}[{k}]: guard {person!r} works for another tenant"
                )
            if person not in guards and person not in contacts:
                raise ConfigError(f"{source}: {key}[{k}]: unknown guard or contact {person!r}")

    for i, tenant in enumerate(fleet.tenants):
        names = [c.id for c in tenant.channels]
        for j, channel in enumerate(tenant.channels):
            if names.count(channel.id) > 1:
                raise ConfigError(f"{source}: tenants[{i}].channels[{j}].id: {channel.id!r} twice")
            unknown = channel.placeholders - set(PERSON_FIELDS)
            if unknown:
                raise ConfigError(
                    f"{source}: tenants[{i}].channels[{j}].url: unknown placeholder "
                    f"{{{sorted(unknown)[0]}}} (known: {', '.join(PERSON_FIELDS)})"
                )
        check_people(f"tenants[{i}].on_call", tenant.on_call, tenant.id, on_call=False)
        previous = 0.0
        for j, tier in enumerate(tenant.escalation):
            if tier.after_s <= previous:
                raise ConfigError(
                    f"{source}: tenants[{i}].escalation[{j}].after_s: must be more than "
                    f"{previous} (tiers come later and later)"
                )
            previous = tier.after_s
            check_people(f"tenants[{i}].escalation[{j}].notify", tier.notify, tenant.id, True)
    for i, site in enumerate(fleet.sites):
        for j, shift in enumerate(site.roster):
            for clock in (shift.hours.open, shift.hours.close):
                try:
                    parse_clock(clock)
                except ValueError as exc:
                    raise ConfigError(
                        f"{source}: sites[{i}].roster[{j}].hours: bad time {clock!r}"
                    ) from exc
            check_people(f"sites[{i}].roster[{j}].on_call", shift.on_call, site.client_id, False)


def geojson_problem(zone: Zone) -> str | None:
    """What is wrong with a zone's geometry, or None when it is usable."""
    geometry = zone.geometry
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind == "Point":
        if not _is_position(coordinates):
            return "Point needs coordinates [lon, lat]"
        if not zone.radius_m or zone.radius_m <= 0:
            return "a Point zone needs radius_m > 0"
        return None
    if kind == "Polygon":
        if not isinstance(coordinates, list) or not coordinates:
            return "Polygon needs a list of rings"
        for ring in coordinates:
            if not isinstance(ring, list) or len(ring) < 4 or not all(map(_is_position, ring)):
                return "each Polygon ring needs at least 4 [lon, lat] positions"
            if ring[0] != ring[-1]:
                return "a Polygon ring must end where it starts"
        return None
    return f"type must be Polygon or Point, got {kind!r}"


def _is_position(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) in (2, 3)
        and all(isinstance(v, int | float) for v in value)
        and -180 <= value[0] <= 180
        and -90 <= value[1] <= 90
    )


class FleetIndex:
    """The lookups made per message, built once from a Fleet."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.sites = {s.id: s for s in fleet.sites}
        self.guards = {g.id: g for g in fleet.guards}
        self.sensors = {s.id: s for s in fleet.sensors}
        self.devices = {d.id: d for d in fleet.devices}
        self.tenants = {t.id: t for t in fleet.tenants}
        #: Everyone vigil may notify: guards and contacts, by id.
        self.people: dict[str, Guard | Contact] = {c.id: c for c in fleet.contacts}
        self.people |= self.guards
        #: OwnTracks phones: `{user}/{device}` -> the device's id, and back.
        self.phone_of = {d.id: d.owntracks for d in fleet.devices if d.owntracks}
        self.owntracks = {phone: device for device, phone in self.phone_of.items()}
        #: A site's shifts and its guards' (core/duty.py): a guard of a site with shifts
        #: is on duty only during their own.
        self.shifts: dict[str, list[Shift]] = {g.id: [] for g in fleet.guards}
        self.rostered = {s.id for s in fleet.sites if s.shifts}
        for site in fleet.sites:
            for shift in site.shifts:
                for guard_id in shift.guards:
                    self.shifts[guard_id].append(shift)
        self.device_guard: dict[str, str] = {}
        for guard in fleet.guards:
            if guard.device_id:
                self.device_guard[guard.device_id] = guard.id
                self.devices.setdefault(guard.device_id, Device(guard.device_id, guard.client_id))

    def tenant_of(self, entity_type: str, entity_id: str) -> int | None:
        """The tenant owning an entity, or None when the fleet does not know it."""
        if entity_type == "guard":
            guard = self.guards.get(entity_id)
            return guard.client_id if guard else None
        if entity_type == "device":
            device = self.devices.get(entity_id)
            return device.client_id if device else None
        sensor = self.sensors.get(entity_id)
        return self.sites[sensor.site_id].client_id if sensor else None

    def route_key(self, entity_type: str, entity_id: str) -> str:
        """The key that picks an entity's shard: a guard and its devices share one,
        and so do the sensors of one site, so rules that join them stay local."""
        if entity_type == "device":
            return self.device_guard.get(entity_id, entity_id)
        if entity_type == "sensor":
            sensor = self.sensors.get(entity_id)
            return sensor.site_id if sensor else entity_id
        return entity_id

    def shard_of(self, entity_type: str, entity_id: str, shards: int) -> int:
        """The shard hosting an entity: a stable hash of its route key."""
        return zlib.crc32(self.route_key(entity_type, entity_id).encode()) % shards
