"""Notification channels: apprise URLs from the fleet file, rendered per person, delivered.

apprise stays inside this module. A channel whose URL names a person's field
(`{email}`, `{phone}`, `{push}`) is delivered to each person notified who has it;
a channel without one (a webhook) once per alert. A webhook carries the delivery's
idempotency key as a header, so a receiver can drop a repeat (delivery is at least once).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import quote

import apprise

from core.errors import ConfigError
from core.fleet import Channel, Contact, Fleet, FleetIndex, Guard, Tenant

#: The header naming a delivery, the same on every attempt and restart
#: (IETF draft-ietf-httpapi-idempotency-key).
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: apprise's generic webhooks, which send extra headers given as `+Name=value` in the query
#: (https://github.com/caronc/apprise/wiki/Notify_Custom_JSON); other services take none.
_HEADER_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})

#: A person with every field, to check at start that each URL renders and parses.
_PROBE = Contact(
    id="probe", name="Probe", email="probe@example.com", phone="+15555550100", push="p"
)


@dataclass(frozen=True, slots=True)
class Route:
    client_id: int
    channel: str
    template: str
    per_person: bool
    severities: frozenset[str]


def routes(tenant: Tenant) -> list[Route]:
    return [
        Route(tenant.id, c.id, c.url, bool(c.placeholders), frozenset(c.severities))
        for c in tenant.channels
    ]


def carries(tenant: Tenant, severity: str, tier: int) -> bool:
    """Whether some channel of `tenant` is delivered for an alert of `severity` at `tier`."""
    return any(
        severity in route.severities and (route.per_person or tier == 1) for route in routes(tenant)
    )


def address(route: Route, recipient: str, fleet: FleetIndex) -> str | None:
    """The URL delivering `route` to `recipient` (a person, or the channel itself for a
    webhook); None when the person is unknown or lacks the field the URL needs."""
    if not route.per_person:
        return route.template
    person = fleet.people.get(recipient)
    return render(route.template, person) if person is not None else None


def with_key(url: str, key: str) -> str:
    """`url` sending `key` as the idempotency header, where the service can send headers."""
    if url.partition("://")[0].lower() not in _HEADER_SCHEMES:
        return url
    return f"{url}{'&' if '?' in url else '?'}+{IDEMPOTENCY_HEADER}={key}"


def render(template: str, person: Guard | Contact) -> str | None:
    """The URL for `person`, or None when they lack a field the URL needs."""
    values: dict[str, str] = {}
    for name in ("id", "name", "email", "phone", "push"):
        value = getattr(person, name, None)
        if value:
            values[name] = quote(str(value), safe="@+")
    try:
        return template.format_map(values)
    except KeyError:
        return None


def send(url: str, title: str, body: str, notify_type: str, timeout: float) -> str | None:
    """Deliver once; None when delivered, else what went wrong (apprise's own words)."""
    service = apprise.Apprise.instantiate(url)
    if service is None:
        return "apprise cannot use this URL"
    manager = apprise.Apprise()
    manager.add(service)
    try:
        result = manager.notify(
            body=body,
            title=title,
            notify_type=notify_type,
            timeout=timeout,
            log_level=logging.WARNING,
        )
    except Exception as exc:  # a plugin bug is one failed attempt, not a dead worker
        return f"{type(exc).__name__}: {exc}"
    if result:
        return None
    messages = [entry.message for entry in result.logs()]
    return "; ".join(messages[-3:]) or f"not delivered ({result.status.name.lower()})"


def unusable(channel: Channel) -> str | None:
    """Why apprise cannot deliver through `channel`, or None when it can."""
    url = render(channel.url, _PROBE)
    if url is None or apprise.Apprise.instantiate(url) is None:
        scheme = channel.url.partition("://")[0]
        return f"apprise does not know {scheme}:// or cannot parse this URL"
    return None


def check_channels(fleet: Fleet, source: str = "fleet") -> None:
    """Every channel URL must be one apprise can use: ConfigError names the key."""
    for i, tenant in enumerate(fleet.tenants):
        for j, channel in enumerate(tenant.channels):
            problem = unusable(channel)
            if problem:
                raise ConfigError(f"{source}: tenants[{i}].channels[{j}].url: {problem}")
