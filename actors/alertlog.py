"""Alerts read back from the lake: the router's memory after a restart, dead notifications.

The catalog's views include the writer's log tail, so what the router wrote durably
just before dying is read back here even before it is rolled into Parquet.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from core.alerts import Alert, AlertEvent
from core.schemas import SCHEMAS
from core.settings import Settings
from storage.catalog import Catalog

log = logging.getLogger("vigil.alertlog")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ATTEMPTS = 5  # a compaction may remove a file while a snapshot lists it: read again
_ALERT_COLUMNS = SCHEMAS["device_alerts"].names
_EVENT_COLUMNS = SCHEMAS["alert_events"].names
_RECEIPT_COLUMNS = SCHEMAS["notifications"].names

#: Alerts active since a moment, and every alert not resolved yet.
_REMEMBERED = """SELECT alert_id FROM alert_events GROUP BY alert_id
                 HAVING max(ts) >= ? OR NOT bool_or(type = 'resolved')"""


def micros(value: datetime) -> int:
    return (value - EPOCH) // timedelta(microseconds=1)


def _quoted(columns: list[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _query(settings: Settings, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    for attempt in range(1, ATTEMPTS + 1):
        catalog = Catalog(settings.data_dir, settings.lake_uri)
        try:
            return catalog.query(sql, params)
        except Exception:
            if attempt == ATTEMPTS:
                raise
            log.warning("reading alerts from the lake failed (attempt %d); again", attempt)
            time.sleep(0.1 * attempt)
        finally:
            catalog.close()
    raise AssertionError("unreachable")


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
        alerts[fields["alert_id"]] = Alert(**fields)
    events = []
    for row in event_rows:
        fields = dict(zip(_EVENT_COLUMNS, row, strict=True))
        fields["ts"] = micros(fields["ts"])
        events.append(AlertEvent(**fields))
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
