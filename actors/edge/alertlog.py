"""Alerts read back from the lake: the router's memory after a restart, dead notifications,
and the notification outbox (what was handed over, what is still to deliver).

The catalog's views include the writer's log tail, so what the router wrote durably
just before dying is read back here even before it is rolled into Parquet.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from actors.notify.outbox import TERMINAL, OutboxRow, Pending
from core.alerts import Alert, AlertEvent, EventType
from core.schemas import SCHEMAS
from core.settings import Settings
from storage.catalog import Catalog

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The outbox is searched from this long (µs) before the oldest tier looked for: the
#: notifier's clock may lag the router's (another node).
CLOCK_SLACK_US = 300 * 1_000_000
_ALERT_COLUMNS = SCHEMAS["device_alerts"].names
_EVENT_COLUMNS = SCHEMAS["alert_events"].names
_RECEIPT_COLUMNS = SCHEMAS["notifications"].names
_OUTBOX_COLUMNS = SCHEMAS["notification_outbox"].names

#: Alerts active since a moment, and every alert not resolved yet.
_REMEMBERED = """SELECT alert_id FROM alert_events GROUP BY alert_id
                 HAVING max(ts) >= ? OR NOT bool_or(type = 'resolved')"""


def micros(value: datetime) -> int:
    return (value - EPOCH) // timedelta(microseconds=1)


def _quoted(columns: list[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _query(settings: Settings, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    catalog = Catalog(settings.data_dir, settings.lake_uri)  # it retries a racing compaction
    try:
        return catalog.query(sql, params)
    finally:
        catalog.close()


def load(settings: Settings, since_us: int) -> tuple[dict[str, Alert], list[AlertEvent]]:
    """The alerts to remember and all their events, oldest event first."""
    since = EPOCH + timedelta(microseconds=since_us)
    alert_rows = _query(
        settings,
        f"SELECT {_quoted(_ALERT_COLUMNS)} FROM device_alerts WHERE alert_id IN ({_REMEMBERED})",
        [since],
    )
    event_rows = _query(
        settings,
        f"SELECT {_quoted(_EVENT_COLUMNS)} FROM alert_events "
        f"WHERE alert_id IN ({_REMEMBERED}) ORDER BY ts, event_id",
        [since],
    )
    alerts: dict[str, Alert] = {}
    for row in alert_rows:
        fields = dict(zip(_ALERT_COLUMNS, row, strict=True))
        fields["ts"] = micros(fields["ts"])
        fields["device_id"] = fields["device_id"] or ""  # null in files older than the column
        alerts[fields["alert_id"]] = msgspec.convert(fields, Alert)  # kinds back to enums
    events = []
    for row in event_rows:
        fields = dict(zip(_EVENT_COLUMNS, row, strict=True))
        fields["ts"] = micros(fields["ts"])
        events.append(msgspec.convert(fields, AlertEvent))
    return alerts, events


def dead_notifications(
    settings: Settings, client_id: int | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Dead-lettered deliveries, newest first."""
    where, params = "outcome = 'dead_lettered'", []
    if client_id is not None:
        where, params = where + " AND client_id = ?", [client_id]
    rows = _query(
        settings,
        f"SELECT {_quoted(_RECEIPT_COLUMNS)} FROM notifications WHERE {where} "
        f"ORDER BY ts DESC LIMIT {int(limit)}",
        params,
    )
    found = []
    for row in rows:
        fields = dict(zip(_RECEIPT_COLUMNS, row, strict=True))
        fields["ts"] = micros(fields["ts"])
        found.append(fields)
    return found


def handed_over(settings: Settings, since_us: int) -> set[tuple[str, int]]:
    """(alert_id, tier) of every notification in the outbox written since `since_us`."""
    rows = _query(
        settings,
        "SELECT DISTINCT alert_id, tier FROM notification_outbox WHERE ts >= ?",
        [EPOCH + timedelta(microseconds=since_us)],
    )
    return {(alert_id, int(tier)) for alert_id, tier in rows}


def pending_deliveries(settings: Settings, since_us: int) -> list[Pending]:
    """Deliveries written to the outbox since `since_us` without a terminal receipt,
    with the highest attempt their receipts show, oldest first."""
    terminal = ", ".join(f"'{t}'" for t in TERMINAL)
    rows = _query(
        settings,
        f"""WITH o AS (
                SELECT {_quoted(_OUTBOX_COLUMNS)} FROM notification_outbox WHERE ts >= ?
                QUALIFY row_number() OVER (PARTITION BY delivery_id ORDER BY ts) = 1),
            r AS (
                SELECT alert_id, tier, channel, recipient, max(attempt) AS attempts,
                       max(ts) AS last_at, bool_or(outcome IN ({terminal})) AS ended
                FROM notifications WHERE alert_id IN (SELECT alert_id FROM o)
                GROUP BY alert_id, tier, channel, recipient)
            SELECT o.*, coalesce(r.attempts, 0), r.last_at
            FROM o LEFT JOIN r USING (alert_id, tier, channel, recipient)
            WHERE NOT coalesce(r.ended, false) ORDER BY o.ts""",
        [EPOCH + timedelta(microseconds=since_us)],
    )
    found = []
    width = len(_OUTBOX_COLUMNS)
    for row in rows:
        fields = dict(zip(_OUTBOX_COLUMNS, row[:width], strict=True))
        fields["ts"], fields["raised_at"] = micros(fields["ts"]), micros(fields["raised_at"])
        attempts, last_at = row[width:]
        found.append(
            Pending(
                row=OutboxRow(**fields),
                attempts=int(attempts),
                last_at=micros(last_at) if last_at is not None else None,
            )
        )
    return found


def not_handed_over(
    settings: Settings, events: list[AlertEvent], since_us: int
) -> list[tuple[str, int]]:
    """(alert_id, tier) raised or escalated by `events` since `since_us` that the outbox
    does not hold, oldest first: the router died before handing them to the notifier."""
    tiers = {
        (e.alert_id, 1 if e.type == EventType.RAISED else e.tier): e.ts
        for e in events
        if e.ts >= since_us and e.type in (EventType.RAISED, EventType.ESCALATED)
    }
    if not tiers:
        return []
    handed = handed_over(settings, min(tiers.values()) - CLOCK_SLACK_US)
    return sorted(set(tiers) - handed, key=tiers.__getitem__)
