"""A restarted shard remembers (issue 11): kill -9 of the shard's process between two
messages changes no alert. Real Mosquitto, real Ray, the real lake; the state comes back
from the shard's checkpoint and the lake's replay, tried with and without a checkpoint."""

from __future__ import annotations

import json
from typing import Any

import pytest
import ray

from core.fleet import FleetIndex
from tests.conftest import Vigil, restart, wait_for

INSIDE = (12.9716, 77.5946)  # the middle of site-mg-road's campus
OUTSIDE = (12.9900, 77.5946)  # two kilometres north of it


def shard_of(vigil: Vigil, kind: str, entity_id: str) -> Any:
    index = FleetIndex(vigil.fleet).shard_of(kind, entity_id, len(vigil.runtime.shards))
    return vigil.runtime.shards[index]


def alerts_of(vigil: Vigil, entity_id: str, kind: str) -> list[tuple[Any, ...]]:
    return vigil.rows(
        "SELECT alert_id FROM device_alerts WHERE entity_id = ? AND kind = ?", [entity_id, kind]
    )


def fix(vigil: Vigil, guard: str, where: tuple[float, float], seq: int) -> None:
    body = {"lat": where[0], "lon": where[1], "accuracy": 5, "seq": seq}
    vigil.publish(f"guard/{guard}/gps", json.dumps(body))


def kill_and_wait(shard: Any, checkpoint: bool) -> None:
    if checkpoint:
        assert ray.get(shard.checkpoint.remote(), timeout=30) >= 1
    restart(shard, sigkill=True)


@pytest.mark.parametrize(("guard", "checkpoint"), [("rec-guard-1", False), ("rec-guard-2", True)])
def test_guard_inside_then_shard_killed_then_outside_is_exactly_one_exit(
    vigil: Vigil, guard: str, checkpoint: bool
) -> None:
    shard = shard_of(vigil, "guard", guard)
    for seq in (1, 2):
        fix(vigil, guard, INSIDE, seq)

    def inside() -> bool:
        state = ray.get(shard.guard_state.remote(guard))
        return bool(state and state["zones"].get("mg-road-campus") is True)

    wait_for(inside, 20, f"{guard} known inside the campus")
    kill_and_wait(shard, checkpoint)
    fix(vigil, guard, OUTSIDE, 3)
    wait_for(lambda: alerts_of(vigil, guard, "geofence_exit"), 30, f"{guard}'s exit raised")
    fix(vigil, guard, OUTSIDE, 4)  # one more fix outside, applied, raises nothing more
    wait_for(
        lambda: vigil.count("guard_locations", "guard_id = ?", [guard]) == 4, 20, "fix 4 stored"
    )
    wait_for(
        lambda: (ray.get(shard.guard_state.remote(guard)) or {}).get("position") == OUTSIDE,
        20,
        "fix 4 applied",
    )
    assert len(alerts_of(vigil, guard, "geofence_exit")) == 1
    assert alerts_of(vigil, guard, "geofence_enter") == []


@pytest.mark.parametrize(("device", "checkpoint"), [("rec-dev-3", False), ("rec-dev-4", True)])
def test_device_heard_then_shard_killed_then_silent_goes_offline_once(
    vigil: Vigil, device: str, checkpoint: bool
) -> None:
    shard = shard_of(vigil, "device", device)
    vigil.publish(f"device/{device}/telemetry", json.dumps({"battery": 80, "seq": 1}))

    def online() -> bool:
        found = [d for d in ray.get(shard.live_devices.remote()) if d["device_id"] == device]
        return bool(found and found[0]["online"])

    wait_for(online, 20, f"{device} heard")
    kill_and_wait(shard, checkpoint)
    # Its class goes offline after 3 s of silence, on vigil's clock.
    wait_for(lambda: alerts_of(vigil, device, "device_offline"), 30, f"{device} offline")
    wait_for(lambda: not online(), 10, f"{device} shown offline")
    assert len(alerts_of(vigil, device, "device_offline")) == 1


@pytest.mark.parametrize(("sensor", "checkpoint"), [("rec-smoke-1", False), ("rec-smoke-2", True)])
def test_sensor_in_alarm_then_shard_killed_still_in_alarm_raises_no_second_alert(
    vigil: Vigil, sensor: str, checkpoint: bool
) -> None:
    shard = shard_of(vigil, "sensor", sensor)
    reading = {"kind": "smoke", "value": True}
    vigil.publish(f"sensor/{sensor}/reading", json.dumps({**reading, "seq": 1}))
    wait_for(lambda: alerts_of(vigil, sensor, "smoke"), 20, f"{sensor}'s smoke alarm")
    kill_and_wait(shard, checkpoint)

    def evaluations() -> int:
        return int(ray.get(shard.get_stats.remote())["rule_evaluations"]["sensor_condition"])

    before = evaluations()
    vigil.publish(f"sensor/{sensor}/reading", json.dumps({**reading, "seq": 2}))
    wait_for(lambda: evaluations() > before, 20, "the second reading applied")
    (alert_id,) = alerts_of(vigil, sensor, "smoke")[0]
    assert len(alerts_of(vigil, sensor, "smoke")) == 1
    repeats = vigil.count("alert_events", "alert_id = ? AND type = 'repeated'", [alert_id])
    assert repeats == 0
