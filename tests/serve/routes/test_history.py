"""History over REST: a guard's track and a device's telemetry between two times."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Noc, wait_for
from tests.serve.apiclient import Api, make_guard

pytestmark = pytest.mark.integration


def test_a_guards_track_between_two_times_in_order(noc: Noc, clients: dict[str, Api]) -> None:
    guard, _ = make_guard(clients["admin1"], 1, "site-mg-road", "track")
    for minute in range(5):
        body = {
            "lat": 12.97 + minute / 1e4,
            "lon": 77.59,
            "timestamp": f"2025-06-01T10:0{minute}:00Z",
        }
        noc.vigil.publish(f"guard/{guard}/gps", json.dumps(body))
    viewer, path = clients["viewer1"], f"/api/history/guards/{guard}/track"
    window = {"start": "2025-06-01T10:01:00Z", "end": "2025-06-01T10:03:00Z"}
    points = wait_for(
        lambda: len(p := viewer.get(path, **window)["points"]) == 3 and p, 10, "three points"
    )
    assert [round(p["lat"], 4) for p in points] == [12.9701, 12.9702, 12.9703]
    assert points[0]["ts"] == 1748772060 * 1_000_000
    bad = viewer.call("GET", path, start="yesterday-ish")
    assert bad.status_code == 400 and bad.json()["field"] == "start"
    assert viewer.call("GET", path, start="2025-06-02", end="2025-06-01").status_code == 400


def test_a_devices_telemetry_series_and_its_latest_state(noc: Noc, clients: dict[str, Api]) -> None:
    # Stamped just now: a device last heard from long ago is (rightly) offline at the
    # shard's next health tick.
    _, device = make_guard(clients["admin1"], 1, "site-mg-road", "telemetry")
    now = datetime.now(UTC).replace(microsecond=0)
    for n, battery in enumerate((90, 80, 70)):
        stamp = (now - timedelta(seconds=30 - 10 * n)).isoformat()
        body = {"battery": battery, "signal": -70, "timestamp": stamp}
        noc.vigil.publish(f"device/{device}/telemetry", json.dumps(body))
    viewer = clients["viewer1"]
    path = f"/api/history/devices/{device}/telemetry"
    window = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
    }
    series = wait_for(
        lambda: len(s := viewer.get(path, **window)["series"]) == 3 and s,
        10,
        "the telemetry series",
    )
    assert [s["battery"] for s in series] == [90, 80, 70]
    health = next(d for d in viewer.get("/api/live/devices") if d["device_id"] == device)
    assert health["telemetry"]["battery"] == 70 and health["online"] is True


def test_history_of_another_tenants_entity_is_404(clients: dict[str, Api]) -> None:
    response = clients["operator2"].call("GET", "/api/history/guards/guard-123/track")
    assert response.status_code == 404 and response.json()["field"] == "guard_id"
