"""Writes the notebooks of this folder from the cells below (kept here so they diff well).

.venv/bin/python notebooks/build.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
import os
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from storage.catalog import connect

DATA = os.environ.get("VIGIL_DATA", "../data")        # the lake vigil writes (`vigil up --data`)
PLOTS = os.environ.get("VIGIL_PLOTS", "output")       # where the figures are saved
os.makedirs(PLOTS, exist_ok=True)
con = connect(DATA)                                   # DuckDB, one view per lake table"""

NOTEBOOKS = {
    "fleet_overview": [
        "# Fleet overview\nWhat the lake holds, how much each tenant's guards report, and how "
        "their trackers' batteries fare.",
        SETUP,
        """\
tables = ["guard_locations", "device_telemetry", "sensor_readings", "device_events",
          "device_status", "device_alerts", "dead_letters"]
sizes = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
sizes""",
        """\
per_day = con.execute(\"\"\"
    SELECT date_trunc('day', ts) AS day, client_id, count(*) AS fixes,
           count(DISTINCT guard_id) AS guards
    FROM guard_locations GROUP BY ALL ORDER BY day, client_id
\"\"\").df()
per_day""",
        """\
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
for client, rows in per_day.groupby("client_id"):
    left.plot(rows["day"], rows["fixes"], marker="o", label=f"client {client}")
left.set_title("GPS fixes per day"); left.legend(); left.tick_params(axis="x", rotation=30)
battery = con.execute("SELECT battery FROM device_telemetry WHERE battery IS NOT NULL").df()
right.hist(battery["battery"], bins=20, color="tab:orange")
right.set_title("Tracker battery (%)")
fig.tight_layout()
fig.savefig(f"{PLOTS}/fleet_overview.png", dpi=100)
assert sizes["guard_locations"] > 0""",
    ],
    "patrol_track": [
        "# A guard's patrol\nOne guard's last 24 hours of fixes, drawn over the zones of the "
        "guard's site.",
        SETUP,
        """\
from core.fleet import load_fleet
from core.settings import SAMPLE_FLEET
from simulator.fleet import simulated_fleet

GUARD = os.environ.get("VIGIL_GUARD") or con.execute(
    "SELECT guard_id FROM guard_locations GROUP BY ALL ORDER BY count(*) DESC LIMIT 1"
).fetchone()[0]
fleet = simulated_fleet(load_fleet(SAMPLE_FLEET), 10_000)
guard = next(g for g in fleet.guards if g.id == GUARD)
site = next(s for s in fleet.sites if s.id == guard.site_id)
GUARD, site.name""",
        """\
track = con.execute(\"\"\"
    SELECT ts, lat, lon, accuracy FROM guard_locations
    WHERE guard_id = ? AND ts >= (SELECT max(ts) FROM guard_locations WHERE guard_id = ?)
                                 - INTERVAL 24 HOUR
    ORDER BY ts
\"\"\", [GUARD, GUARD]).df()
len(track), track["ts"].min(), track["ts"].max()""",
        """\
from matplotlib.patches import Circle, Polygon

fig, ax = plt.subplots(figsize=(7, 7))
for zone in site.zones:
    if zone.geometry["type"] == "Polygon":
        ring = zone.geometry["coordinates"][0]
        ax.add_patch(Polygon(ring, fill=False, edgecolor="tab:green", lw=2, label=zone.name))
    else:
        lon, lat = zone.geometry["coordinates"][:2]
        ax.add_patch(Circle((lon, lat), zone.radius_m / 111_320, fill=False,
                            edgecolor="tab:blue", lw=2, label=zone.name))
ax.plot(track["lon"], track["lat"], lw=0.6, color="tab:red", label=f"{GUARD}, 24 h")
ax.set_aspect("equal"); ax.autoscale(); ax.legend(loc="upper right")
ax.ticklabel_format(useOffset=False); ax.set_xlabel("longitude"); ax.set_ylabel("latitude")
ax.set_title(f"{GUARD} at {site.name}")
fig.savefig(f"{PLOTS}/patrol_track.png", dpi=100)
assert len(track) > 0""",
    ],
    "alert_stats": [
        "# Alerts per site and hour\nWhen and where alerts are raised: a heat map per site "
        "and hour of day (UTC), and the mix of kinds.",
        SETUP,
        """\
hourly = con.execute(\"\"\"
    SELECT site_id, hour(ts) AS hour, count(*) AS alerts
    FROM device_alerts WHERE site_id IS NOT NULL GROUP BY ALL ORDER BY site_id, hour
\"\"\").df()
kinds = con.execute(
    "SELECT kind, severity, count(*) AS alerts FROM device_alerts GROUP BY ALL ORDER BY alerts DESC"
).df()
kinds""",
        """\
grid = hourly.pivot_table(index="site_id", columns="hour", values="alerts", fill_value=0)
grid = grid.reindex(columns=range(24), fill_value=0)
fig, ax = plt.subplots(figsize=(12, 1 + 0.6 * len(grid)))
image = ax.imshow(grid.values, aspect="auto", cmap="inferno")
ax.set_yticks(range(len(grid)), grid.index); ax.set_xticks(range(24))
ax.set_xlabel("hour of day (UTC)"); ax.set_title("Alerts per site and hour")
fig.colorbar(image, ax=ax)
fig.tight_layout()
fig.savefig(f"{PLOTS}/alert_stats.png", dpi=100)
assert grid.values.sum() == kinds["alerts"].sum() - con.execute(
    "SELECT count(*) FROM device_alerts WHERE site_id IS NULL").fetchone()[0]""",
    ],
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        notebook = new_notebook(
            cells=[new_markdown_cell(c) if c.startswith("# ") else new_code_cell(c) for c in cells],
            metadata={
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
            },
        )
        nbformat.write(notebook, HERE / f"{name}.ipynb")
        print(f"wrote {HERE / name}.ipynb")


if __name__ == "__main__":
    main()
