"""Anomaly scoring: a reading's features given its entity's recent past, and the model's verdict.

Two families of readings are scored (docs/training.md):

- `sensor`: numeric sensor readings (temperature, humidity), grouped by site and kind;
  features: the value, its step from the sensor's previous reading, and how many times
  in a row the exact value repeated (a stuck sensor).
- `telemetry`: device telemetry, one group; features: battery, its drain per hour since
  the previous message (a collapsing battery), signal and temperature.

Training (training/) computes features with these same functions, row by row, so live
and training features cannot drift apart. A `Model` is plain numbers (per-group means
and scales, cluster centres, a threshold): scoring needs no scikit-learn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import msgspec

from core.alerts import Alert, AlertKind, make_alert

SENSOR, TELEMETRY = "sensor", "telemetry"
SENSOR_KINDS = frozenset({"temperature", "humidity"})
FEATURES: dict[str, tuple[str, ...]] = {
    SENSOR: ("value", "step", "repeats"),
    TELEMETRY: ("battery", "drain_per_h", "signal", "temperature"),
}
TELEMETRY_GROUP = "all"
HOUR_US = 3_600_000_000


@dataclass(frozen=True, slots=True)
class Track:
    """What scoring remembers of one sensor or device: its last value and when."""

    last: float | None = None
    ts: int = 0
    repeats: int = 0


def sensor_group(site_id: str, kind: str) -> str:
    return f"{site_id}/{kind}"


def sensor_features(track: Track, ts: int, value: float) -> tuple[Track, tuple[float, ...]]:
    """An older reading arriving late is scored alone and does not move the track."""
    if track.last is None or ts <= track.ts:
        fresh = track.last is None
        return (Track(value, ts, 0) if fresh else track), (value, 0.0, 0.0)
    repeats = track.repeats + 1 if value == track.last else 0
    return Track(value, ts, repeats), (value, value - track.last, float(repeats))


def telemetry_features(
    track: Track, ts: int, battery: float, signal: float | None, temperature: float | None
) -> tuple[Track, tuple[float, ...]]:
    """Drain is the battery lost per hour, over at least an hour: frequent small readings
    do not turn noise into a steep rate, a collapse shows at once."""
    drain = 0.0
    if track.last is not None and ts > track.ts:
        drain = max(0.0, track.last - battery) / max((ts - track.ts) / HOUR_US, 1.0)
    moved = track.last is None or ts > track.ts
    features = (battery, drain, _nan(signal), _nan(temperature))
    return (replace(track, last=battery, ts=ts) if moved else track), features


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


class Scale(msgspec.Struct, frozen=True):
    mean: list[float]
    scale: list[float]


class Family(msgspec.Struct, frozen=True):
    """One family's model: per-group standardisation, then distance to the nearest centre."""

    features: list[str]
    groups: dict[str, Scale]
    centres: list[list[float]]
    threshold: float

    def score(self, group: str, x: tuple[float, ...]) -> float | None:
        """Squared distance of the standardised features to the nearest centre; None for
        a group the model never saw. A missing feature counts as its group's mean."""
        scale = self.groups.get(group)
        if scale is None:
            return None
        z = [
            0.0 if math.isnan(v) else (v - m) / s
            for v, m, s in zip(x, scale.mean, scale.scale, strict=True)
        ]
        return min(sum((a - b) ** 2 for a, b in zip(z, c, strict=True)) for c in self.centres)


class Model(msgspec.Struct, frozen=True):
    version: str
    families: dict[str, Family]

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)

    @staticmethod
    def from_json(payload: bytes) -> Model:
        return msgspec.json.decode(payload, type=Model)


def judge(
    model: Model | None,
    family: str,
    group: str,
    x: tuple[float, ...],
    *,
    entity_id: str,
    client_id: int,
    site_id: str | None,
    ts: int,
) -> list[Alert]:
    """An anomaly alert when the live model scores `x` above its threshold, else none."""
    found = model.families.get(family) if model is not None else None
    if model is None or found is None:
        return []
    score = found.score(group, x)
    if score is None or score <= found.threshold:
        return []
    shown = ", ".join(f"{n}={v:.4g}" for n, v in zip(found.features, x, strict=True))
    detail = f"{family} score {score:.1f} > {found.threshold:.1f} (model {model.version}): {shown}"
    return [
        make_alert(
            AlertKind.ANOMALY,
            entity_id=entity_id,
            client_id=client_id,
            site_id=site_id,
            ts=ts,
            scope=family,
            detail=detail,
        )
    ]
