"""A synthetic lake, written straight to Parquet: for notebooks, demos and lake benchmarks.

Guards of a simulated fleet walk around their site for `days` days; trackers report
telemetry, site sensors report readings, and alerts are raised at a realistic rate
(more at night). Everything is vectorised with numpy; 10 million fixes take seconds.

    python -m simulator.lake --data /tmp/lake --guards 1000 --days 30 --fixes-per-day 333
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from core.fleet import Fleet, load_fleet
from core.schemas import SCHEMAS
from core.settings import SAMPLE_FLEET
from simulator import anomalies
from simulator.fleet import simulated_fleet
from storage.lake import Lake, sort_for_reads

DAY_US = 86_400_000_000
METRES_PER_DEGREE = 111_320.0
ALERT_KINDS = np.array(["geofence_exit", "panic", "low_battery", "door_after_hours", "smoke"])
ALERT_SEVERITY = np.array(["high", "critical", "medium", "high", "critical"])


def _site_centres(fleet: Fleet) -> dict[str, tuple[float, float]]:
    centres = {}
    for site in fleet.sites:
        ring = next(z for z in site.zones if z.geometry["type"] == "Polygon").geometry
        lons, lats = zip(*ring["coordinates"][0], strict=False)
        centres[site.id] = ((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2)
    return centres


def _table(name: str, columns: dict[str, object]) -> pa.Table:
    """A table of `name`'s schema from numpy columns; columns not given are null."""
    schema = SCHEMAS[name]
    rows = len(next(iter(columns.values())))  # type: ignore[arg-type]
    arrays = [
        pa.nulls(rows, f.type) if columns.get(f.name) is None else pa.array(columns[f.name], f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def generate(
    root: str,
    guards: int = 100,
    days: int = 7,
    fixes_per_day: int = 288,
    end: date | None = None,
    seed: int = 7,
    sensors_per_site: int = 0,
    anomaly_rate: float = 0.0,
) -> dict[str, int]:
    """Write the lake under `root`; returns rows per table.

    `sensors_per_site` numeric sensors per site (temperature and humidity) report every
    5 minutes; `anomaly_rate` is the chance per sensor or tracker and day of each injected
    anomaly (simulator/anomalies.py), labelled in `anomaly_labels`."""
    rng = np.random.default_rng(seed)
    odd = np.random.default_rng(seed + 1)  # anomalies draw apart: the rest stays as it was
    fleet = simulated_fleet(load_fleet(SAMPLE_FLEET), guards)
    site_ids = [s.id for s in fleet.sites]
    numeric = anomalies.sensor_ids(site_ids, sensors_per_site)
    sim = [g for g in fleet.guards if g.id.startswith("sim-")]
    centres = _site_centres(fleet)
    lake = Lake(root)
    end = end or datetime.now(UTC).date()
    counts = dict.fromkeys(("guard_locations", "device_telemetry", "device_alerts"), 0)
    ids = np.array([g.id for g in sim])
    devices = np.array([g.device_id for g in sim])
    clients = np.array([g.client_id for g in sim])
    sites = np.array([g.site_id for g in sim])
    centre = np.array([centres[g.site_id] for g in sim])
    for n in range(days):
        day = end - timedelta(days=days - 1 - n)
        start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1e6)
        stamp = day.isoformat()
        # Fixes: each guard a random walk of `fixes_per_day` steps around its site's centre.
        who = np.repeat(np.arange(len(sim)), fixes_per_day)
        ts = start + np.tile(np.sort(rng.integers(0, DAY_US, fixes_per_day)), len(sim))
        steps = rng.normal(0, 6, (len(sim), fixes_per_day, 2)).cumsum(axis=1)
        walk = np.abs((steps + 150) % 600 - 300) - 150  # reflected at +-150 m: stays on site
        lat = centre[who, 0] + walk[..., 0].ravel() / METRES_PER_DEGREE
        lon = centre[who, 1] + walk[..., 1].ravel() / METRES_PER_DEGREE
        keys = np.char.add(
            np.char.add(ids[who], "#"), (np.arange(len(who)) + n * len(who)).astype(str)
        )
        fixes = _table(
            "guard_locations",
            {
                "guard_id": ids[who],
                "client_id": clients[who],
                "lat": lat,
                "lon": lon,
                "accuracy": rng.uniform(3, 20, len(who)),
                "battery": None,
                "ts": ts,
                "received_at": ts,
                "msg_key": keys,
            },
        )
        lake.write(
            "guard_locations",
            stamp,
            f"compact-gen-{n}-{n}",
            sort_for_reads("guard_locations", fixes),
        )
        counts["guard_locations"] += fixes.num_rows
        # Telemetry: hourly per tracker, battery draining through the shift.
        hours = np.arange(24)
        dev = np.repeat(np.arange(len(sim)), 24)
        tts = start + np.tile(hours, len(sim)) * 3_600_000_000
        battery = np.clip(100 - np.tile(hours, len(sim)) * 3.5 + rng.normal(0, 2, len(dev)), 0, 100)
        collapsed = np.array([], dtype=np.int64)
        if anomaly_rate:
            grid, collapsed = anomalies.collapse_batteries(
                odd, battery.reshape(len(sim), 24), anomaly_rate
            )
            battery = grid.ravel()
        telemetry_keys = np.char.add(np.char.add(devices[dev], "@"), tts.astype(str))
        telemetry = _table(
            "device_telemetry",
            {
                "device_id": devices[dev],
                "client_id": clients[dev],
                "battery": battery,
                "signal": rng.normal(-80, 8, len(dev)),
                "temperature": rng.normal(31, 2, len(dev)),
                "ts": tts,
                "received_at": tts,
                "msg_key": telemetry_keys,
            },
        )
        lake.write("device_telemetry", stamp, f"compact-gen-{n}-{n}", telemetry)
        counts["device_telemetry"] += telemetry.num_rows
        if numeric:
            readings, labels = anomalies.sensor_day(odd, numeric, site_ids, start, 5, anomaly_rate)
            keys = np.char.add(np.char.add(readings["sensor_id"], "@"), readings["ts"].astype(str))
            owners = {site.id: site.client_id for site in fleet.sites}
            sensor_clients = np.array([owners[site] for site in readings["site_id"]])
            sensor_table = _table(
                "sensor_readings",
                {
                    **readings,
                    "client_id": sensor_clients,
                    "received_at": readings["ts"],
                    "msg_key": keys,
                },
            )
            lake.write("sensor_readings", stamp, f"compact-gen-{n}-{n}", sensor_table)
            counts["sensor_readings"] = counts.get("sensor_readings", 0) + sensor_table.num_rows
            rows, kinds = labels["row"], labels["anomaly"]
            label_parts = [
                (
                    readings["sensor_id"][rows],
                    "sensor_readings",
                    kinds,
                    keys[rows],
                    readings["ts"][rows],
                ),
                (
                    devices[dev][collapsed],
                    "device_telemetry",
                    np.full(len(collapsed), "battery_collapse"),
                    telemetry_keys[collapsed],
                    tts[collapsed],
                ),
            ]
            _write_labels(lake, stamp, n, label_parts)
            counts["anomaly_labels"] = counts.get("anomaly_labels", 0) + len(rows) + len(collapsed)
        # Alerts: about one per guard per day, twice as likely at night (18:00-06:00 local).
        count = rng.poisson(len(sim))
        hour = rng.choice(24, count, p=_night_weighted())
        ats = start + hour * 3_600_000_000 + rng.integers(0, 3_600_000_000, count)
        kind = rng.integers(0, len(ALERT_KINDS), count)
        who = rng.integers(0, len(sim), count)
        alert_ids = np.char.add(f"gen{n}-", np.arange(count).astype(str))
        alerts = _table(
            "device_alerts",
            {
                "alert_id": alert_ids,
                "kind": ALERT_KINDS[kind],
                "severity": ALERT_SEVERITY[kind],
                "entity_id": ids[who],
                "client_id": clients[who],
                "site_id": sites[who],
                "ts": ats,
                "lat": lat[who * fixes_per_day],
                "lon": lon[who * fixes_per_day],
                "dedup_key": np.char.add(np.char.add(ALERT_KINDS[kind], ":"), ids[who]),
                "status": np.full(count, "resolved"),
                "detail": np.full(count, "synthetic"),
            },
        )
        lake.write(
            "device_alerts", stamp, f"compact-gen-{n}-{n}", sort_for_reads("device_alerts", alerts)
        )
        counts["device_alerts"] += alerts.num_rows
    return counts


def _write_labels(lake: Lake, stamp: str, n: int, parts: list[tuple[Any, ...]]) -> None:
    columns = ("entity_id", "source", "anomaly", "msg_key", "ts")
    merged: dict[str, object] = {}
    for i, name in enumerate(columns):
        values = [np.broadcast_to(np.asarray(p[i]), np.shape(p[0])) for p in parts]
        merged[name] = np.concatenate(values) if values else np.array([])
    if len(merged["ts"]):  # type: ignore[arg-type]
        merged["ts"] = np.asarray(merged["ts"]).astype(np.int64)
        lake.write(
            "anomaly_labels", stamp, f"compact-gen-{n}-{n}", _table("anomaly_labels", merged)
        )


def _night_weighted() -> np.ndarray:
    weights = np.array([2.0 if h < 1 or h >= 13 else 1.0 for h in range(24)])  # UTC: IST night
    return weights / weights.sum()


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic vigil lake.")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--guards", type=int, default=100)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--fixes-per-day", type=int, default=288)
    parser.add_argument("--sensors-per-site", type=int, default=0, help="numeric sensors")
    parser.add_argument("--anomaly-rate", type=float, default=0.0, help="per entity and day")
    args = parser.parse_args()
    counts = generate(
        str(args.data.resolve()),
        args.guards,
        args.days,
        args.fixes_per_day,
        sensors_per_site=args.sensors_per_site,
        anomaly_rate=args.anomaly_rate,
    )
    print(", ".join(f"{table}: {rows:,}" for table, rows in counts.items()))


if __name__ == "__main__":
    main()
