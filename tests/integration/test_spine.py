"""The spine end to end: mosquitto_pub -> broker -> ingest -> shards -> router/hub -> lake."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import Vigil, wait_for

pytestmark = pytest.mark.integration

SEED_TOPIC = "guard/guard-123/gps"
SEED_PAYLOAD = (
    '{"lat": 12.9716, "lon": 77.5946, "accuracy": 10.5, "guard_id": 123, "client_id": 1, '
    '"timestamp": "2025-11-01T10:00:00Z"}'
)


def fix(lat: float, lon: float, when: str, accuracy: float = 10.0) -> str:
    return json.dumps({"lat": lat, "lon": lon, "accuracy": accuracy, "timestamp": when})


def alerts_of(vigil: Vigil, entity: str, kind: str) -> int:
    return vigil.count("device_alerts", "entity_id = ? AND kind = ?", [entity, kind])


def test_seed_example_lands_in_guard_locations_and_raises_nothing(vigil: Vigil) -> None:
    vigil.publish(SEED_TOPIC, SEED_PAYLOAD)

    where = "guard_id = 'guard-123' AND ts = TIMESTAMPTZ '2025-11-01 10:00:00+00'"
    wait_for(lambda: vigil.count("guard_locations", where) == 1, 10, "seed fix in the lake")
    row = vigil.rows(f"SELECT client_id, lat, lon, accuracy FROM guard_locations WHERE {where}")
    assert row == [(1, 12.9716, 77.5946, 10.5)]
    assert vigil.count("device_alerts", "entity_id = 'guard-123'") == 0
    assert vigil.hub_alerts("guard-123") == []


def test_leaving_the_zone_raises_one_exit_and_coming_back_one_enter(vigil: Vigil) -> None:
    guard = "guard-124"  # same site as guard-123; its own state
    vigil.publish(f"guard/{guard}/gps", fix(12.9716, 77.5946, "2025-11-02T10:00:00Z"))
    wait_for(lambda: vigil.count("guard_locations", f"guard_id = '{guard}'") == 1, 10, "first fix")

    started = time.monotonic()
    vigil.publish(f"guard/{guard}/gps", fix(12.9806, 77.5946, "2025-11-02T10:01:00Z"))  # 1 km N
    wait_for(lambda: alerts_of(vigil, guard, "geofence_exit") == 1, 5, "exit in device_alerts")
    wait_for(
        lambda: [a for a in vigil.hub_alerts(guard) if a["kind"] == "geofence_exit"],
        max(0.1, 5 - (time.monotonic() - started)),
        "exit on the Hub",
    )
    vigil.publish(f"guard/{guard}/gps", fix(12.9807, 77.5947, "2025-11-02T10:02:00Z"))  # still out
    vigil.publish(f"guard/{guard}/gps", fix(12.9716, 77.5946, "2025-11-02T10:03:00Z"))  # back in
    wait_for(lambda: alerts_of(vigil, guard, "geofence_enter") == 1, 5, "enter in device_alerts")
    wait_for(lambda: vigil.count("guard_locations", f"guard_id = '{guard}'") == 4, 5, "all fixes")

    assert alerts_of(vigil, guard, "geofence_exit") == 1
    exits = vigil.rows(
        "SELECT zone FROM (SELECT split_part(dedup_key, ':', 3) AS zone FROM device_alerts "
        f"WHERE entity_id = '{guard}' AND kind = 'geofence_exit')"
    )
    assert exits == [("mg-road-campus",)]


def test_jittery_track_along_the_border_raises_no_enter_or_exit(vigil: Vigil) -> None:
    guard = "sim-guard-0002"  # patrols site-mg-road; the campus's east edge is lon 77.5966
    vigil.publish(f"guard/{guard}/gps", fix(12.9716, 77.5946, "2025-11-03T09:00:00Z", 8))
    for i in range(40):
        side = 1 if i % 2 else -1
        lon = 77.5966 + side * 0.00006  # about 6.5 m either side of the border
        vigil.publish(f"guard/{guard}/gps", fix(12.9716, lon, f"2025-11-03T09:01:{i:02d}Z", 15))
    wait_for(lambda: vigil.count("guard_locations", f"guard_id = '{guard}'") == 41, 10, "track")

    assert vigil.count("device_alerts", f"entity_id = '{guard}' AND kind LIKE 'geofence%'") == 0


def test_panic_reaches_the_hub_within_one_second(vigil: Vigil) -> None:
    started = time.monotonic()
    vigil.publish("device/dev-201/alert", '{"type": "panic", "lat": 13.0975, "lon": 80.2980}')
    # The deadline counts from before mosquitto_pub starts: publish to Hub within 1 s.
    alert = wait_for(
        lambda: [a for a in vigil.hub_alerts("guard-201") if a["kind"] == "panic"],
        1.0 - (time.monotonic() - started),
        "panic on the Hub",
    )[0]
    assert alert["severity"] == "critical"
    assert alert["client_id"] == 2
    assert (alert["lat"], alert["lon"]) == (13.0975, 80.2980)
    wait_for(lambda: alerts_of(vigil, "guard-201", "panic") == 1, 5, "panic in device_alerts")
