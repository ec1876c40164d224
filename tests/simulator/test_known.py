"""The scenario `vigil verify` runs: every planned event happens, it ends soon, and the
entities it makes are created in an order whose references resolve."""

from __future__ import annotations

from core.alerts import AlertKind
from core.fleet import check_fleet
from simulator import known
from simulator.engine import Params


def test_every_planned_event_happens_and_the_scenario_ends_within_seconds() -> None:
    scenario = known.known("abc123", 9001)
    sim = known.simulation(scenario, 1_796_000_000.0, Params())
    rounds = list(known.rounds(scenario, sim))
    truths = [t for r in rounds for m in r.messages for t in m.truths]
    planned = {i.event for found in scenario.plan.values() for i in found}
    assert planned <= {t.event for t in truths}
    assert len(rounds) * known.INTERVAL_S < 10
    kinds = {t.alert for t in truths}
    assert {AlertKind.GEOFENCE_EXIT, AlertKind.GEOFENCE_ENTER, AlertKind.PANIC} <= kinds
    assert {AlertKind.SMOKE, AlertKind.DOOR_AFTER_HOURS, AlertKind.MOTION_ARMED} <= kinds
    assert {AlertKind.DEVICE_OFFLINE, AlertKind.DEVICE_ONLINE, AlertKind.LOW_BATTERY} <= kinds


def test_its_entities_are_one_checked_fleet_created_references_first() -> None:
    scenario = known.known("abc123", 9001)
    check_fleet(scenario.fleet)
    made: set[str] = set()
    for collection, body in scenario.bodies():
        for ref in ("site_id", "device_id"):
            assert body.get(ref) in (None, *made), (collection, body)
        made.add(body["id"])
    assert all(i.startswith("verify-abc123-") for i in scenario.entity_ids())
