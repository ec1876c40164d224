"""Numeric sensor readings for the synthetic lake, and labelled anomalies injected into them.

Three anomalies, each labelled row by row in `anomaly_labels` (core/schemas.py):

- `drift`: a temperature sensor drifts upward by up to 10 °C over three hours; rows
  are labelled once the drift reaches 2 °C (smaller offsets look like weather).
- `stuck`: a sensor repeats its last value for two hours; every repeat is labelled.
- `battery_collapse`: a tracker's battery falls to a few percent within three hourly
  messages (then the battery is swapped and it resumes); the falling rows are labelled.

Normal data: temperature per site around 22-28 °C with a daily swing, humidity around
55 %, both with sensor noise; readings every `every_min` minutes.
"""

from __future__ import annotations

import numpy as np

DRIFT_HOURS, STUCK_HOURS, DRIFT_MAX, DRIFT_LABEL_FROM = 3, 2, 10.0, 2.0


def sensor_ids(site_ids: list[str], per_site: int) -> list[tuple[str, str, str]]:
    """(sensor_id, site_id, kind): half temperature, half humidity per site."""
    found = []
    for site in site_ids:
        for n in range(per_site):
            kind = "temperature" if n % 2 == 0 else "humidity"
            found.append((f"sim-{kind[:4]}-{site}-{n}", site, kind))
    return found


def sensor_day(
    rng: np.random.Generator,
    sensors: list[tuple[str, str, str]],
    site_ids: list[str],
    start: int,
    every_min: int,
    rate: float,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One day of readings for `sensors` (columns), and labels of the injected anomalies.

    `rate` is the chance per sensor and day of each kind of anomaly."""
    steps = 24 * 60 // every_min
    offsets = np.arange(steps) * every_min * 60_000_000
    hours = offsets / 3_600_000_000
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("sensor_id", "site_id", "kind")}
    columns |= {"value": [], "ts": []}
    labels: dict[str, list[np.ndarray]] = {"row": [], "anomaly": []}
    row = 0
    for sensor_id, site, kind in sensors:
        if kind == "temperature":
            base = 22.0 + 3.0 * site_ids.index(site)
            value = base + 1.5 * np.sin(2 * np.pi * (hours - 9) / 24) + rng.normal(0, 0.4, steps)
        else:
            value = 55.0 + 4.0 * np.sin(2 * np.pi * (hours - 15) / 24) + rng.normal(0, 2.0, steps)
        value = np.round(value, 2)
        if kind == "temperature" and rng.random() < rate:
            length = DRIFT_HOURS * 60 // every_min
            at = int(rng.integers(0, steps - length))
            drift = np.linspace(0, DRIFT_MAX, length)
            value[at : at + length] += drift
            hit = at + np.flatnonzero(drift >= DRIFT_LABEL_FROM)
            labels["row"].append(row + hit)
            labels["anomaly"].append(np.full(len(hit), "drift"))
        if rng.random() < rate:
            length = STUCK_HOURS * 60 // every_min
            at = int(rng.integers(0, steps - length))
            value[at + 1 : at + length] = value[at]
            hit = np.arange(at + 1, at + length)
            labels["row"].append(row + hit)
            labels["anomaly"].append(np.full(len(hit), "stuck"))
        columns["sensor_id"].append(np.full(steps, sensor_id))
        columns["site_id"].append(np.full(steps, site))
        columns["kind"].append(np.full(steps, kind))
        columns["value"].append(value)
        columns["ts"].append(start + offsets)
        row += steps
    joined = {k: np.concatenate(v) for k, v in columns.items()}
    found = {k: np.concatenate(v) if v else np.array([], dtype=object) for k, v in labels.items()}
    found["row"] = found["row"].astype(np.int64)
    return joined, found


def collapse_batteries(
    rng: np.random.Generator, battery: np.ndarray, rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """`battery` (devices x 24 hourly values) with collapses injected, and the flat indices
    of the labelled rows."""
    battery = battery.copy()
    devices, hours = battery.shape
    hit = []
    for device in np.flatnonzero(rng.random(devices) < rate):
        at = int(rng.integers(1, hours - 3))
        level = battery[device, at - 1]
        battery[device, at : at + 3] = np.round(level * np.array([0.45, 0.15, 0.03]), 1)
        hit.extend(device * hours + at + np.arange(3))
    return battery, np.array(hit, dtype=np.int64)
