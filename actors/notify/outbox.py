"""The notification outbox: every delivery is a durable row before its first attempt.

A delivery is one notification (one tier of one alert) through one channel to one
recipient. Its outbox row says what to deliver but not where: channel URLs hold
secrets (tokens, passwords), so the URL is rendered again from the fleet. Its
receipts (`notifications`, one per attempt) say how far it got. A delivery without a
terminal receipt (delivered, dead_lettered) is resumed with the attempt after the
last one its receipts show, once that attempt's back-off is over.

Delivery is at least once: an attempt whose receipt was not yet durable when the
notifier died is made again (with the same attempt number and the same idempotency
key, `delivery_key`, which webhooks carry as a header).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import msgspec

from actors.notify.channels import Route, address, routes, with_key
from actors.notify.message import NOTIFY_TYPE, Dispatch, compose
from core.alerts import NotificationAttempt, Outcome, attempt_id
from core.fleet import FleetIndex

#: Receipts that end a delivery; any other (failed) means another attempt follows.
TERMINAL = ("delivered", "dead_lettered")


def delivery_key(alert_id: str, tier: int, channel: str, recipient: str) -> str:
    """The delivery's id and idempotency key: the same on every attempt and restart."""
    key = f"{alert_id}|{tier}|{channel}|{recipient}"
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...)."""
    return float(min(base * 2 ** (attempt - 1), cap))


@dataclass(frozen=True, slots=True)
class Delivery:
    route: Route
    alert_id: str
    tier: int
    recipient: str
    url: str  # rendered, with the idempotency header where the service takes headers
    title: str
    body: str
    notify_type: str
    raised_at: int  # µs
    attempt: int = 1

    @property
    def key(self) -> str:
        return delivery_key(self.alert_id, self.tier, self.route.channel, self.recipient)


class OutboxRow(msgspec.Struct, frozen=True, kw_only=True):
    """A row of `notification_outbox`."""

    alert_id: str
    delivery_id: str
    client_id: int
    tier: int
    channel: str
    recipient: str
    title: str
    body: str
    notify_type: str
    raised_at: int  # µs
    ts: int  # µs, when it was written


class Pending(msgspec.Struct, frozen=True, kw_only=True):
    """A delivery read back from the lake with no terminal receipt."""

    row: OutboxRow
    attempts: int  # the highest attempt with a receipt (0: none)
    last_at: int | None  # µs, when that attempt ended


def deliver(
    route: Route,
    recipient: str,
    url: str,
    *,
    alert_id: str,
    tier: int,
    title: str,
    body: str,
    notify_type: str,
    raised_at: int,
) -> Delivery:
    """A first attempt, its URL carrying the delivery's key."""
    key = delivery_key(alert_id, tier, route.channel, recipient)
    return Delivery(
        route=route,
        alert_id=alert_id,
        tier=tier,
        recipient=recipient,
        url=with_key(url, key),
        title=title,
        body=body,
        notify_type=notify_type,
        raised_at=raised_at,
    )


def plan(dispatch: Dispatch, fleet: FleetIndex) -> tuple[list[Delivery], int]:
    """The deliveries of one tier of one alert, and how many people lacked an address."""
    tenant = fleet.tenants.get(dispatch.alert.client_id)
    if tenant is None:
        return [], 0
    title, body = compose(dispatch, fleet)
    notify_type = NOTIFY_TYPE.get(dispatch.alert.severity, "info")  # type: ignore[call-overload]
    found, no_address = [], 0
    for route in routes(tenant):
        if dispatch.alert.severity not in route.severities:
            continue
        if route.per_person:
            recipients = list(dispatch.people)
        else:  # alert-wide channels (webhooks) hear of an alert once, at tier 1
            recipients = [route.channel] if dispatch.tier == 1 else []
        for recipient in recipients:
            url = address(route, recipient, fleet)
            if url is None:
                no_address += 1
                continue
            found.append(
                deliver(
                    route,
                    recipient,
                    url,
                    alert_id=dispatch.alert.alert_id,
                    tier=dispatch.tier,
                    title=title,
                    body=body,
                    notify_type=notify_type,
                    raised_at=dispatch.raised_at,
                )
            )
    return found, no_address


def receipt(
    delivery: Delivery, outcome: Outcome, error: str, latency_ms: float, now_us: int
) -> NotificationAttempt:
    """The `notifications` row of one attempt."""
    channel = delivery.route.channel
    return NotificationAttempt(
        alert_id=delivery.alert_id,
        attempt_id=attempt_id(
            delivery.alert_id, delivery.tier, channel, delivery.recipient, delivery.attempt
        ),
        client_id=delivery.route.client_id,
        tier=delivery.tier,
        channel=channel,
        recipient=delivery.recipient,
        attempt=delivery.attempt,
        outcome=outcome,
        error=error[:500],
        latency_ms=round(latency_ms, 3),
        delay_ms=round((now_us - delivery.raised_at) / 1000, 3),
        ts=now_us,
    )


def to_row(delivery: Delivery, now_us: int) -> OutboxRow:
    return OutboxRow(
        alert_id=delivery.alert_id,
        delivery_id=delivery.key,
        client_id=delivery.route.client_id,
        tier=delivery.tier,
        channel=delivery.route.channel,
        recipient=delivery.recipient,
        title=delivery.title,
        body=delivery.body,
        notify_type=delivery.notify_type,
        raised_at=delivery.raised_at,
        ts=now_us,
    )


def revive(pending: Pending, fleet: FleetIndex) -> Delivery | str:
    """The delivery's next attempt, its URL rendered from the fleet as it is now; or why
    it cannot be made (its tenant, channel or recipient left the fleet)."""
    row = pending.row
    tenant = fleet.tenants.get(row.client_id)
    route = next((r for r in routes(tenant) if r.channel == row.channel), None) if tenant else None
    if route is None:
        return f"channel {row.channel!r} of tenant {row.client_id} is no longer in the fleet"
    url = address(route, row.recipient, fleet)
    if url is None:
        return f"recipient {row.recipient!r} is no longer in the fleet or has no address"
    first = deliver(
        route,
        row.recipient,
        url,
        alert_id=row.alert_id,
        tier=row.tier,
        title=row.title,
        body=row.body,
        notify_type=row.notify_type,
        raised_at=row.raised_at,
    )
    return replace(first, attempt=pending.attempts + 1)


def unsendable(pending: Pending) -> Delivery:
    """The next attempt of a delivery that cannot be revived, to dead-letter it."""
    row = pending.row
    return Delivery(
        route=Route(row.client_id, row.channel, "", False, frozenset()),
        alert_id=row.alert_id,
        tier=row.tier,
        recipient=row.recipient,
        url="",
        title=row.title,
        body=row.body,
        notify_type=row.notify_type,
        raised_at=row.raised_at,
        attempt=pending.attempts + 1,
    )


def wait_s(pending: Pending, now_us: int, base: float, cap: float) -> float:
    """Seconds until the resumed attempt is due: what is left of the last one's back-off."""
    if not pending.attempts or pending.last_at is None:
        return 0.0
    due = pending.last_at + backoff(pending.attempts, base, cap) * 1e6
    return max(0.0, (due - now_us) / 1e6)
