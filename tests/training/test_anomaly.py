"""The scoring rule: features from an entity's track, and the model's verdict (no Ray)."""

from __future__ import annotations

import math

from actors.rules.anomaly import (
    SENSOR,
    Family,
    Model,
    Scale,
    Track,
    judge,
    sensor_features,
    telemetry_features,
)
from core.alerts import AlertKind, Severity

HOUR = 3_600_000_000
MODEL = Model(
    version="v0007",
    families={
        SENSOR: Family(
            features=["value", "step", "repeats"],
            groups={"site-a/temperature": Scale(mean=[22.0, 0.0, 0.0], scale=[1.0, 0.5, 1.0])},
            centres=[[0.0, 0.0, 0.0]],
            threshold=16.0,
        )
    },
)


def verdict(x: tuple[float, ...], group: str = "site-a/temperature") -> list:
    return judge(MODEL, SENSOR, group, x, entity_id="t-1", client_id=1, site_id="site-a", ts=5)


def test_a_sensor_repeating_its_value_counts_the_repeats_and_a_change_resets_them() -> None:
    track, x = sensor_features(Track(), 1, 22.5)
    assert x == (22.5, 0.0, 0.0)
    track, x = sensor_features(track, 2, 22.5)
    track, x = sensor_features(track, 3, 22.5)
    assert x == (22.5, 0.0, 2.0)
    track, x = sensor_features(track, 4, 23.0)
    assert x == (23.0, 0.5, 0.0) and track.repeats == 0


def test_an_older_reading_is_scored_alone_and_does_not_move_the_track() -> None:
    track, _ = sensor_features(Track(), 10, 22.0)
    after, x = sensor_features(track, 5, 30.0)
    assert after == track and x == (30.0, 0.0, 0.0)


def test_battery_drain_is_per_hour_over_at_least_an_hour() -> None:
    track, x = telemetry_features(Track(), 0, 80.0, -70.0, None)
    assert x[1] == 0.0 and math.isnan(x[3])
    track, x = telemetry_features(track, HOUR // 60, 79.0, -70.0, 30.0)
    assert x[1] == 1.0  # one point in a minute is not 60 points an hour
    _, x = telemetry_features(track, HOUR // 60 + 2 * HOUR, 19.0, None, None)
    assert x[1] == 30.0


def test_a_reading_far_from_its_group_raises_a_medium_anomaly_alert() -> None:
    [alert] = verdict((30.0, 8.0, 0.0))
    assert alert.kind == AlertKind.ANOMALY and alert.severity == Severity.MEDIUM
    assert alert.entity_id == "t-1" and "v0007" in alert.detail


def test_a_normal_reading_an_unknown_group_or_no_model_raise_nothing() -> None:
    assert verdict((22.4, 0.2, 0.0)) == []
    assert verdict((90.0, 0.0, 0.0), group="site-b/temperature") == []
    assert (
        judge(None, SENSOR, "x", (90.0, 0.0, 0.0), entity_id="t", client_id=1, site_id=None, ts=1)
        == []
    )


def test_a_model_survives_its_json_form() -> None:
    assert Model.from_json(MODEL.to_json()) == MODEL
