"""Honest evaluation: the model and a fixed-threshold baseline on held-out labelled rows.

Both judge the same rows of the held-out time range (after the training range, never
seen by the learner); a row is positive when the simulator labelled it anomalous.
The baseline is what an operator would configure without a model: temperature outside
10-35 °C, humidity outside 20-80 %, battery under 20 % (vigil's low-battery level),
device temperature over 45 °C.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from actors.rules.anomaly import SENSOR, TELEMETRY

SENSOR_LIMITS = {"temperature": (10.0, 35.0), "humidity": (20.0, 80.0)}
LOW_BATTERY, HOT_DEVICE = 20.0, 45.0


def baseline(family: str, kind: str, x: tuple[float, ...]) -> bool:
    """The fixed thresholds' verdict on one row's features."""
    if family == SENSOR:
        lo, hi = SENSOR_LIMITS[kind]
        return not lo <= x[0] <= hi
    if family == TELEMETRY:
        battery, temperature = x[0], x[3]
        return battery < LOW_BATTERY or (not math.isnan(temperature) and temperature > HOT_DEVICE)
    raise ValueError(f"family: unknown {family!r}")


class Evaluation:
    """Confusion counts per detector, and recall per kind of anomaly."""

    DETECTORS = ("model", "baseline")

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {d: Counter() for d in self.DETECTORS}
        self.caught: dict[str, Counter[str]] = {d: Counter() for d in self.DETECTORS}
        self.labelled: Counter[str] = Counter()
        self.rows = 0

    def add(self, label: str | None, verdicts: dict[str, bool]) -> None:
        self.rows += 1
        if label:
            self.labelled[label] += 1
        for detector, flagged in verdicts.items():
            cell = ("tp" if flagged else "fn") if label else ("fp" if flagged else "tn")
            self.counts[detector][cell] += 1
            if label and flagged:
                self.caught[detector][label] += 1

    def metrics(self) -> dict[str, Any]:
        found: dict[str, Any] = {"holdout_rows": self.rows, "holdout_anomalies": self.total()}
        for detector in self.DETECTORS:
            c = self.counts[detector]
            precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
            recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
            found[f"{detector}_precision"] = round(precision, 4)
            found[f"{detector}_recall"] = round(recall, 4)
            found[f"{detector}_recall_by_kind"] = {
                kind: round(self.caught[detector][kind] / n, 4) for kind, n in self.labelled.items()
            }
        return found

    def total(self) -> int:
        return sum(self.labelled.values())
