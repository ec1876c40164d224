"""History from the lake: DuckDB over Parquet and the log tail, off the event loop.

Every query filters by tenant (`client_id`) in SQL as well as the API's own checks,
returns times as µs since the epoch, and runs in a worker thread; one query at a
time uses the replica's DuckDB connection.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from storage.catalog import Catalog

MAX_ROWS = 50_000
#: `? IS NULL OR client_id = ?`: a tenant's rows, or everyone's for an all-tenant admin.
TENANT = "(?::BIGINT IS NULL OR client_id = ?::BIGINT)"


class History:
    def __init__(self, data_dir: str | Path, lake_uri: str = "") -> None:
        self.data_dir = data_dir
        self.lake_uri = lake_uri
        self._catalog: Catalog | None = None
        self._lock = asyncio.Lock()

    async def rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        async with self._lock:
            return await asyncio.to_thread(self._query, sql, params)

    def _query(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        if self._catalog is None:
            self._catalog = Catalog(self.data_dir, self.lake_uri)
        catalog = self._catalog
        rows = catalog.query(sql, params)
        names = [d[0] for d in catalog.con.description or []]
        return [dict(zip(names, row, strict=True)) for row in rows]

    # -- the queries ---------------------------------------------------------------------

    async def track(
        self, guard_id: str, tenant: int | None, start: int, end: int, limit: int
    ) -> list[dict[str, Any]]:
        return await self.rows(
            "SELECT epoch_us(ts) AS ts, lat, lon, accuracy, speed, heading, battery "
            f"FROM guard_locations WHERE guard_id = ? AND {TENANT} "
            "AND ts BETWEEN make_timestamptz(?) AND make_timestamptz(?) ORDER BY ts LIMIT ?",
            [guard_id, tenant, tenant, start, end, limit],
        )

    async def telemetry(
        self, device_id: str, tenant: int | None, start: int, end: int, limit: int
    ) -> list[dict[str, Any]]:
        return await self.rows(
            "SELECT epoch_us(ts) AS ts, battery, signal, temperature, extra "
            f"FROM device_telemetry WHERE device_id = ? AND {TENANT} "
            "AND ts BETWEEN make_timestamptz(?) AND make_timestamptz(?) ORDER BY ts LIMIT ?",
            [device_id, tenant, tenant, start, end, limit],
        )

    async def readings(
        self,
        sensor_id: str,
        tenant: int | None,
        start: int,
        end: int,
        limit: int,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        order = "DESC" if newest_first else "ASC"
        return await self.rows(
            "SELECT epoch_us(ts) AS ts, kind, value, value_text, site_id "
            f"FROM sensor_readings WHERE sensor_id = ? AND {TENANT} "
            "AND ts BETWEEN make_timestamptz(?) AND make_timestamptz(?) "
            f"ORDER BY ts {order} LIMIT ?",
            [sensor_id, tenant, tenant, start, end, limit],
        )

    async def alerts(
        self,
        tenant: int | None,
        start: int,
        end: int,
        limit: int,
        site_id: str | None = None,
        entity_id: str | None = None,
        kind: str | None = None,
    ) -> list[dict[str, Any]]:
        """Raised alerts with their latest lifecycle step (from `alert_events`)."""
        return await self.rows(
            "WITH steps AS (SELECT alert_id, max_by(type, ts) AS status, "
            "max_by(who, ts) AS status_by, epoch_us(max(ts)) AS status_at FROM alert_events "
            f"WHERE type IN ('acknowledged', 'resolved') AND {TENANT} GROUP BY alert_id) "
            "SELECT a.alert_id, a.kind, a.severity, a.entity_id, a.client_id, a.site_id, "
            "epoch_us(a.ts) AS ts, a.lat, a.lon, a.detail, coalesce(s.status, 'open') AS status, "
            "s.status_by, s.status_at FROM device_alerts a LEFT JOIN steps s USING (alert_id) "
            f"WHERE {TENANT.replace('client_id', 'a.client_id')} "
            "AND a.ts BETWEEN make_timestamptz(?) AND make_timestamptz(?) "
            "AND (?::VARCHAR IS NULL OR a.site_id = ?) "
            "AND (?::VARCHAR IS NULL OR a.entity_id = ?) "
            "AND (?::VARCHAR IS NULL OR a.kind = ?) ORDER BY a.ts DESC LIMIT ?",
            [
                tenant,
                tenant,
                tenant,
                tenant,
                start,
                end,
                site_id,
                site_id,
                entity_id,
                entity_id,
                kind,
                kind,
                limit,
            ],
        )

    async def alert_events(self, alert_id: str, tenant: int | None) -> list[dict[str, Any]]:
        return await self.rows(
            "SELECT event_id, type, epoch_us(ts) AS ts, who, note, incident_id, count, tier, ref "
            f"FROM alert_events WHERE alert_id = ? AND {TENANT} ORDER BY ts",
            [alert_id, tenant, tenant],
        )

    async def latest_telemetry(self, tenant: int | None) -> dict[str, dict[str, Any]]:
        """Each device's last telemetry (battery, signal, temperature), by device id."""
        rows = await self.rows(
            "SELECT device_id, epoch_us(max(ts)) AS ts, max_by(battery, ts) AS battery, "
            "max_by(signal, ts) AS signal, max_by(temperature, ts) AS temperature "
            f"FROM device_telemetry WHERE {TENANT} GROUP BY device_id",
            [tenant, tenant],
        )
        return {r.pop("device_id"): r for r in rows}
