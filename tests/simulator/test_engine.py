"""The simulation's messages and its ground truth, without a broker: the truth is what
was published, fixes stay within the accuracy they report, exits really leave the zone
(and patrols never come near a border), and a seed gives the same run."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime

import pytest
import shapely
from shapely.ops import nearest_points

from core.alerts import AlertKind
from core.fleet import Fleet, load_fleet
from core.settings import Settings
from simulator.engine import Params, Simulation
from simulator.events import Event, Outgoing, Scenario, Truth
from simulator.fleet import simulated_fleet

# 2026-12-01 13:30 UTC: 19:00 at MG Road (open till 20:00), so the run sees it close.
START = datetime(2026, 12, 1, 13, 30, tzinfo=UTC).timestamp()
PARAMS = Params(event_every_s=8.0, offline_after_s={"tracker": 30.0, "panic_button": 30.0})


def fleet() -> Fleet:
    return simulated_fleet(load_fleet(Settings().fleet_path), 12)


def simulate(
    rounds: int = 900, seed: int = 5, scenarios: frozenset[Scenario] = frozenset(Scenario)
) -> tuple[list[Outgoing], list[Truth]]:
    sim = Simulation(fleet(), scenarios=scenarios, seed=seed, start=START, params=PARAMS)
    messages: list[Outgoing] = []
    truths: list[Truth] = []
    for batch in sim.rounds():
        messages += batch.messages
        truths += [t for m in batch.messages for t in m.truths] + batch.truths
        if batch.index >= rounds:
            return messages, truths
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def run() -> tuple[list[Outgoing], list[Truth]]:
    return simulate()


def metres(lat: float, lon: float, lat2: float, lon2: float) -> float:
    """Haversine distance (m)."""
    p1, p2 = math.radians(lat), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def zone_of(guard_id: str) -> shapely.Polygon:
    """The guard's patrol zone as a plain lon/lat polygon (the fleet file's own numbers)."""
    f = fleet()
    site_id = next(g.site_id for g in f.guards if g.id == guard_id)
    site = next(s for s in f.sites if s.id == site_id)
    zone = next(z for z in site.zones if z.geometry["type"] == "Polygon")
    return shapely.Polygon(zone.geometry["coordinates"][0])


def border_m(polygon: shapely.Polygon, lat: float, lon: float) -> float:
    """Distance (m) from a point to the polygon's border, through its nearest point."""
    near = nearest_points(polygon.exterior, shapely.Point(lon, lat))[0]
    return metres(lat, lon, near.y, near.x)


def test_every_event_kind_is_injected_and_its_truth_rides_on_the_message_carrying_it(
    run: tuple[list[Outgoing], list[Truth]],
) -> None:
    messages, truths = run
    assert {t.event for t in truths} == set(Event)
    carrier = {g.device_id: g.id for g in fleet().guards}
    for message in messages:
        for truth in message.truths:
            assert (truth.topic, truth.ts) == (message.topic, message.ts)
            entity = message.topic.split("/")[1]
            # a tracker is heard again through its guard's fix too
            assert entity == truth.entity_id or (
                truth.event == Event.HEARD_AGAIN and entity == carrier[truth.entity_id]
            )
            if isinstance(message.payload, dict):
                assert message.payload["ts"] == message.ts


def test_what_each_truth_says_is_what_its_message_says(
    run: tuple[list[Outgoing], list[Truth]],
) -> None:
    messages, _ = run
    f = fleet()
    sites = {s.id: s for s in f.sites}
    sensor_site = {s.id: sites[s.site_id] for s in f.sensors}
    for message in messages:
        for truth in message.truths:
            body = message.payload
            if truth.event in (Event.PANIC, Event.SOS):
                assert isinstance(body, dict) and body["type"] == truth.event
                assert truth.alert == AlertKind(str(truth.event))
            elif truth.event in (Event.SMOKE, Event.DOOR_AFTER_HOURS, Event.MOTION_ARMED):
                assert isinstance(body, dict) and body["value"] is True
                site = sensor_site[truth.entity_id]
                if truth.event == Event.DOOR_AFTER_HOURS:
                    when = datetime.fromtimestamp(message.ts, UTC)
                    assert not site.hours.contains(when, site.tz)
            elif truth.event == Event.BATTERY_LOW:
                assert isinstance(body, dict) and body["battery"] < PARAMS.low_battery_pct
            elif truth.event in (Event.STATUS_OFFLINE, Event.STATUS_ONLINE):
                assert body == ("offline" if truth.event == Event.STATUS_OFFLINE else "online")


def test_alarms_and_after_hours_readings_never_go_out_without_a_truth(
    run: tuple[list[Outgoing], list[Truth]],
) -> None:
    messages, _ = run
    f = fleet()
    sites = {s.id: s for s in f.sites}
    sensors = {s.id: s for s in f.sensors}
    for message in messages:
        kind = message.topic.rsplit("/", 1)[-1]
        body = message.payload
        if kind in ("alert", "status"):
            assert message.truths, message
        if kind == "reading" and isinstance(body, dict) and body["value"] is True:
            sensor = sensors[message.topic.split("/")[1]]
            site = sites[sensor.site_id]
            closed = not site.hours.contains(datetime.fromtimestamp(message.ts, UTC), site.tz)
            alarming = (
                sensor.kind == "smoke"
                or (closed and (sensor.kind == "door" or sensor.armed != "never"))
                or sensor.armed == "always"
            )
            assert bool(message.truths) == alarming, message


def test_a_silent_device_sends_nothing_until_after_it_is_due_offline(
    run: tuple[list[Outgoing], list[Truth]],
) -> None:
    messages, truths = run
    silences = [t for t in truths if t.event == Event.SILENT]
    assert silences
    for silence in silences:
        device = silence.entity_id
        guard = next((g.id for g in fleet().guards if g.device_id == device), None)
        mine = [m for m in messages if f"/{device}/" in m.topic or f"/{guard}/" in m.topic]
        last = max(m.ts for m in mine if m.ts < silence.ts)
        after = [m for m in mine if m.ts > last]
        assert not after or after[0].ts > silence.ts + PARAMS.tick_s
        if after:
            assert any(t.event == Event.HEARD_AGAIN for t in after[0].truths)


def test_every_fix_is_within_the_accuracy_it_reports(
    run: tuple[list[Outgoing], list[Truth]],
) -> None:
    messages, _ = run
    fixes = [m for m in messages if m.topic.endswith("/gps")]
    assert len(fixes) > 5000
    for fix in fixes:
        assert isinstance(fix.payload, dict) and fix.true_position is not None
        off = metres(fix.payload["lat"], fix.payload["lon"], *fix.true_position)
        assert off <= fix.payload["accuracy"] <= PARAMS.max_accuracy_m


def test_exits_leave_the_zone_and_patrols_stay_clear_of_its_border(
    run: tuple[list[Outgoing], list[Truth]],
) -> None:
    """Read as vigil reads a fix (unsure within max(accuracy, margin) of a border): every
    sure fix is on the side the truth says (outside from an exit to its return), each exit
    has sure fixes outside, and a fix is unsure only next to a crossing (walking through)."""
    messages, truths = run
    exits = [t for t in truths if t.event == Event.EXIT]
    assert len(exits) >= 3
    for guard_id in {t.entity_id for t in exits}:
        zone = zone_of(guard_id)
        fixes = [m for m in messages if m.topic == f"guard/{guard_id}/gps"]
        crossing = {Event.EXIT, Event.RETURN}
        crossings = [i for i, m in enumerate(fixes) if {t.event for t in m.truths} & crossing]
        out, sure_outside = False, 0
        for i, fix in enumerate(fixes):
            events = {t.event for t in fix.truths}
            if Event.RETURN in events:
                assert out and sure_outside >= PARAMS.outside_rounds, (guard_id, i)
                out = False
            if Event.EXIT in events:
                assert not out
                out, sure_outside = True, 0
            body = fix.payload
            assert isinstance(body, dict)
            band = max(body["accuracy"], PARAMS.margin_m)
            inside = zone.contains(shapely.Point(body["lon"], body["lat"]))
            if border_m(zone, body["lat"], body["lon"]) > band:
                assert inside != out, (guard_id, i, fix)
                sure_outside += out
            elif not out and i < len(fixes) - 40:  # (the run may end as a guard walks out)
                # inside, unsure only just before an exit or just after a return
                assert min(abs(i - c) for c in crossings) <= 8, (guard_id, i, fix)


def test_a_seed_and_a_start_give_the_same_run_and_another_seed_another() -> None:
    def key(messages: list[Outgoing]) -> list[tuple[str, bytes, float]]:
        return [(m.topic, m.body(), m.ts) for m in messages]

    first, first_truth = simulate(rounds=200, seed=9)
    again, again_truth = simulate(rounds=200, seed=9)
    other, _ = simulate(rounds=200, seed=10)
    assert key(first) == key(again)
    assert [t.to_json() for t in first_truth] == [t.to_json() for t in again_truth]
    assert key(first) != key(other)


def test_a_scenario_sends_only_its_own_traffic() -> None:
    messages, truths = simulate(rounds=300, scenarios=frozenset({Scenario.GPS}))
    assert messages and all(m.topic.endswith("/gps") for m in messages)
    assert {t.event for t in truths} <= {Event.EXIT, Event.RETURN}
    messages, truths = simulate(rounds=300, scenarios=frozenset({Scenario.PANIC}))
    assert {m.topic.rsplit("/", 1)[-1] for m in messages} == {"alert"}


def test_pacing_to_a_rate_spreads_each_round_over_its_interval() -> None:
    sim = Simulation(fleet(), seed=1, start=START, params=PARAMS)
    sim.pace(200.0)
    first = sim.round(0).messages
    assert sim.params.interval_s == pytest.approx(sim.per_round() / 200.0)
    step = sim.params.interval_s / len(first)
    for a, b in itertools.pairwise(first):
        assert b.ts - a.ts == pytest.approx(step, abs=1e-5)  # stamps keep 6 decimals


def test_a_device_that_said_offline_next_says_online_before_anything_else(
    run: tuple[list[Outgoing], list[Truth]],
) -> None:
    messages, truths = run
    carrier = {g.device_id: g.id for g in fleet().guards}
    offline = [t for t in truths if t.event == Event.STATUS_OFFLINE]
    assert offline
    for truth in offline:
        names = {truth.entity_id, carrier.get(truth.entity_id)}
        after = [m for m in messages if m.ts > truth.ts and m.topic.split("/")[1] in names]
        if after:
            assert after[0].payload == "online", after[0]
            assert [t.event for t in after[0].truths] == [Event.STATUS_ONLINE]
