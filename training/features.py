"""Lake rows to feature matrices, through the very functions the shards score with.

Rows of a chunk are in time order; each entity's `Track` carries over from chunk to
chunk (and from the training range into the held-out one), exactly as a shard's would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from actors.rules import anomaly
from actors.rules.anomaly import SENSOR, TELEMETRY, Track


class Features:
    def __init__(self) -> None:
        self.tracks: dict[str, Track] = {}

    def of(
        self, family: str, rows: list[tuple[Any, ...]]
    ) -> tuple[np.ndarray, np.ndarray, list[str], list[str | None]]:
        """(features, group per row, kind per row, label per row) of a chunk."""
        x, groups, kinds, labels = [], [], [], []
        for row in rows:
            if family == SENSOR:
                ts, _, sensor_id, _, site_id, kind, value, label = row
                track = self.tracks.get(sensor_id, Track())
                self.tracks[sensor_id], features = anomaly.sensor_features(track, ts, value)
                groups.append(anomaly.sensor_group(site_id, kind))
            elif family == TELEMETRY:
                ts, _, device_id, _, battery, signal, temperature, label = row
                track = self.tracks.get(device_id, Track())
                self.tracks[device_id], features = anomaly.telemetry_features(
                    track, ts, battery, signal, temperature
                )
                kind = "telemetry"
                groups.append(anomaly.TELEMETRY_GROUP)
            else:
                raise ValueError(f"family: unknown {family!r}")
            x.append(features)
            kinds.append(kind)
            labels.append(label)
        width = len(anomaly.FEATURES[family])
        matrix = np.array(x, dtype=float).reshape(len(x), width)
        return matrix, np.array(groups), kinds, labels
