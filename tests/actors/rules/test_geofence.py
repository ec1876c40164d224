"""The geofence rule: facts (locate) and transitions (update), with literal fixes.

Reference distances near MG Road (lat 12.97): one degree of latitude is 110 630 m and
one degree of longitude 108 497 m, so 0.0001 deg is about 11.06 m north, 10.85 m east.
The campus square spans lon 77.5926..77.5966 and lat 12.9696..12.9736.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.rules.geofence import (
    CompiledZone,
    GeofenceState,
    Where,
    compile_zones,
    locate,
    update,
)
from core.alerts import Alert
from core.errors import ConfigError
from core.fleet import Guard, Site, Zone, load_fleet
from core.records import GuardLocation

FLEET = load_fleet(Path("fleet/sample.yaml"))
MG_ROAD = next(site for site in FLEET.sites if site.id == "site-mg-road")
GUARD = next(guard for guard in FLEET.guards if guard.id == "guard-123")
ZONES = compile_zones(MG_ROAD)
NAMES = {zone.id: zone.name for zone in ZONES}
CAMPUS = "mg-road-campus"
GATE = "mg-road-gate"
MARGIN = 15.0

SEED = (12.9716, 77.5946)  # middle of the campus
NORTH_1KM = (12.9806, 77.5946)
NORTH_300M_OUT = (12.97631, 77.5946)  # 300 m north of the north edge


def fix(ts: int, lat: float, lon: float, accuracy: float | None = 5.0) -> GuardLocation:
    return GuardLocation(
        ts=ts,
        received_at=ts,
        msg_key=f"guard-123:{ts}",
        guard_id="guard-123",
        client_id=1,
        lat=lat,
        lon=lon,
        accuracy=accuracy,
    )


def run(
    fixes: list[GuardLocation],
    zones: tuple[CompiledZone, ...] = ZONES,
    state: GeofenceState | None = None,
) -> tuple[GeofenceState, list[Alert]]:
    """Feed fixes through locate then update, as the shard does; all alerts raised."""
    state = state or GeofenceState()
    raised: list[Alert] = []
    for f in fixes:
        facts = locate(zones, f.lat, f.lon, f.accuracy, MARGIN)
        state, alerts = update(state, f, facts, GUARD, NAMES)
        raised.extend(alerts)
    return state, raised


def site_with(*zones: Zone) -> Site:
    return Site(id="site-test", client_id=1, zones=list(zones))


# -- facts ------------------------------------------------------------------------------


def test_compile_keeps_every_zone_with_its_id_and_name() -> None:
    assert [(z.id, z.name) for z in ZONES] == [(CAMPUS, "Campus perimeter"), (GATE, "Main gate")]


def test_seed_point_is_inside_the_campus_and_outside_the_gate() -> None:
    facts = locate(ZONES, *SEED, accuracy_m=5.0, margin_m=MARGIN)
    assert facts == {CAMPUS: Where.INSIDE, GATE: Where.OUTSIDE}


def test_a_point_one_km_north_is_outside_every_zone() -> None:
    facts = locate(ZONES, *NORTH_1KM, accuracy_m=5.0, margin_m=MARGIN)
    assert facts == {CAMPUS: Where.OUTSIDE, GATE: Where.OUTSIDE}


def test_border_band_is_measured_in_metres_north_south() -> None:
    out_30m = (12.973871, 77.5946)  # 30 m north of the north edge
    assert locate(ZONES, *out_30m, accuracy_m=25.0, margin_m=MARGIN)[CAMPUS] == Where.OUTSIDE
    assert locate(ZONES, *out_30m, accuracy_m=35.0, margin_m=MARGIN)[CAMPUS] == Where.UNSURE
    in_30m = (12.973329, 77.5946)  # 30 m south of the north edge
    assert locate(ZONES, *in_30m, accuracy_m=25.0, margin_m=MARGIN)[CAMPUS] == Where.INSIDE
    assert locate(ZONES, *in_30m, accuracy_m=35.0, margin_m=MARGIN)[CAMPUS] == Where.UNSURE


def test_border_band_is_measured_in_metres_east_west() -> None:
    out_30m = (12.9716, 77.596877)  # 30 m east of the east edge
    assert locate(ZONES, *out_30m, accuracy_m=25.0, margin_m=MARGIN)[CAMPUS] == Where.OUTSIDE
    assert locate(ZONES, *out_30m, accuracy_m=35.0, margin_m=MARGIN)[CAMPUS] == Where.UNSURE


def test_margin_applies_when_accuracy_is_missing_or_smaller() -> None:
    out_30m = (12.973871, 77.5946)
    assert locate(ZONES, *out_30m, accuracy_m=None, margin_m=35.0)[CAMPUS] == Where.UNSURE
    assert locate(ZONES, *out_30m, accuracy_m=3.0, margin_m=35.0)[CAMPUS] == Where.UNSURE
    assert locate(ZONES, *out_30m, accuracy_m=None, margin_m=25.0)[CAMPUS] == Where.OUTSIDE


def test_circle_zone_is_a_radius_in_metres_around_its_point() -> None:
    # The gate is a 40 m circle around (12.9699, 77.5946).
    assert locate(ZONES, 12.9699, 77.5946, 5.0, 5.0)[GATE] == Where.INSIDE
    assert locate(ZONES, 12.970171, 77.5946, 5.0, 5.0)[GATE] == Where.INSIDE  # 30 m north
    assert locate(ZONES, 12.970262, 77.5946, 5.0, 5.0)[GATE] == Where.UNSURE  # 40 m north
    assert locate(ZONES, 12.970352, 77.5946, 5.0, 5.0)[GATE] == Where.OUTSIDE  # 50 m north
    assert locate(ZONES, 12.9699, 77.594139, 5.0, 5.0)[GATE] == Where.OUTSIDE  # 50 m west


def test_polygon_hole_is_outside_the_zone() -> None:
    yard = Zone(
        id="yard",
        name="Yard without the office",
        geometry={
            "type": "Polygon",
            "coordinates": [
                [[80.2950, 13.0950], [80.3010, 13.0950], [80.3010, 13.1000],
                 [80.2950, 13.1000], [80.2950, 13.0950]],
                [[80.2970, 13.0965], [80.2990, 13.0965], [80.2990, 13.0985],
                 [80.2970, 13.0985], [80.2970, 13.0965]],
            ],
        },
    )  # fmt: skip
    zones = compile_zones(site_with(yard))
    assert locate(zones, 13.0975, 80.2980, 5.0, MARGIN)["yard"] == Where.OUTSIDE  # in the hole
    assert locate(zones, 13.0955, 80.2955, 5.0, MARGIN)["yard"] == Where.INSIDE  # in the ring
    assert locate(zones, 13.0975, 80.29695, 5.0, MARGIN)["yard"] == Where.UNSURE  # hole edge


def test_accuracy_larger_than_the_zone_is_never_inside() -> None:
    grid = [
        (12.9690 + 0.0004 * i, 77.5920 + 0.0004 * j) for i in range(13) for j in range(13)
    ]  # 13 x 13 fixes over the campus and 60 m around it
    for lat, lon in grid:
        facts = locate(ZONES, lat, lon, accuracy_m=600.0, margin_m=MARGIN)
        assert facts == {CAMPUS: Where.UNSURE, GATE: Where.UNSURE}, (lat, lon)


def test_a_fix_with_nan_coordinates_is_unsure_everywhere() -> None:
    facts = locate(ZONES, math.nan, 77.5946, 5.0, MARGIN)
    assert facts == {CAMPUS: Where.UNSURE, GATE: Where.UNSURE}


def test_nan_accuracy_counts_as_missing() -> None:
    assert locate(ZONES, *SEED, accuracy_m=math.nan, margin_m=MARGIN)[CAMPUS] == Where.INSIDE


def test_zone_across_the_antimeridian_contains_points_on_both_sides() -> None:
    fiji = Zone(
        id="taveuni",
        geometry={
            "type": "Polygon",
            "coordinates": [
                [[179.99, -16.81], [-179.99, -16.81], [-179.99, -16.79],
                 [179.99, -16.79], [179.99, -16.81]],
            ],
        },
    )  # fmt: skip
    zones = compile_zones(site_with(fiji))
    assert locate(zones, -16.80, 179.998, 5.0, MARGIN)["taveuni"] == Where.INSIDE
    assert locate(zones, -16.80, -179.998, 5.0, MARGIN)["taveuni"] == Where.INSIDE
    assert locate(zones, -16.80, 179.95, 5.0, MARGIN)["taveuni"] == Where.OUTSIDE


def test_self_crossing_polygon_is_a_config_error_naming_the_zone() -> None:
    bowtie = Zone(
        id="bowtie",
        geometry={
            "type": "Polygon",
            "coordinates": [[[77.0, 12.0], [77.1, 12.1], [77.1, 12.0], [77.0, 12.1], [77.0, 12.0]]],
        },
    )
    with pytest.raises(ConfigError, match=r"site 'site-test': zone 'bowtie': invalid polygon"):
        compile_zones(site_with(bowtie))


def test_point_without_radius_is_a_config_error_naming_the_zone() -> None:
    dot = Zone(id="dot", geometry={"type": "Point", "coordinates": [77.0, 12.0]})
    with pytest.raises(ConfigError, match=r"zone 'dot': a Point zone needs radius_m"):
        compile_zones(site_with(dot))


# -- transitions ------------------------------------------------------------------------


def test_first_confident_fix_sets_the_state_without_an_alert() -> None:
    state, alerts = run([fix(1, *SEED)])
    assert alerts == []
    assert state == GeofenceState(inside={CAMPUS: True, GATE: False}, last_ts=1)


def test_clean_exit_and_return_raise_one_exit_then_one_enter() -> None:
    state, alerts = run(
        [
            fix(1_000_000, *SEED),
            fix(2_000_000, *SEED),
            fix(3_000_000, *NORTH_1KM),
            fix(4_000_000, *NORTH_1KM),
            fix(5_000_000, *SEED),
            fix(6_000_000, *SEED),
        ]
    )
    assert [(a.kind, a.ts, a.detail) for a in alerts] == [
        ("geofence_exit", 3_000_000, "Campus perimeter"),
        ("geofence_enter", 5_000_000, "Campus perimeter"),
    ]
    assert state.inside[CAMPUS] is True


def test_alert_names_the_guard_site_tenant_zone_and_position() -> None:
    _, alerts = run([fix(1, *SEED), fix(2, *NORTH_1KM)])
    (exit_alert,) = alerts
    assert exit_alert.entity_id == "guard-123"
    assert exit_alert.client_id == 1
    assert exit_alert.site_id == "site-mg-road"
    assert (exit_alert.lat, exit_alert.lon) == NORTH_1KM
    assert exit_alert.severity == "high"
    assert exit_alert.dedup_key == "geofence_exit:guard-123:mg-road-campus"


def test_zone_id_stands_in_for_the_name_when_names_are_not_given() -> None:
    state = GeofenceState(inside={CAMPUS: True}, last_ts=1)
    facts = {CAMPUS: Where.OUTSIDE}
    _, alerts = update(state, fix(2, *NORTH_1KM), facts, GUARD)
    assert [a.detail for a in alerts] == [CAMPUS]


def test_facts_given_as_plain_strings_mean_the_same() -> None:
    state = GeofenceState(inside={CAMPUS: True}, last_ts=1)
    after, alerts = update(state, fix(2, *SEED), {CAMPUS: "unsure"}, GUARD)  # type: ignore[dict-item]
    assert (after.inside, alerts) == ({CAMPUS: True}, [])
    after, alerts = update(after, fix(3, *NORTH_1KM), {CAMPUS: "outside"}, GUARD)  # type: ignore[dict-item]
    assert [a.kind for a in alerts] == ["geofence_exit"]


def test_jitter_across_the_border_within_accuracy_never_alerts() -> None:
    # Fixes 5 m either side of the north edge, accuracy 10..20 m, for 400 seconds.
    jitter = [
        fix(
            1_000_000 * (10 + i),
            12.973645 if i % 2 else 12.973555,
            77.5946 + 0.00001 * (i % 7),
            accuracy=10.0 + i % 11,
        )
        for i in range(400)
    ]
    state, alerts = run([fix(1_000_000, *SEED), *jitter])
    assert alerts == []
    assert state.inside[CAMPUS] is True


def test_real_exit_after_jitter_raises_exactly_one_exit() -> None:
    jitter = [
        fix(1_000_000 * (10 + i), 12.973645 if i % 2 else 12.973555, 77.5946, accuracy=15.0)
        for i in range(100)
    ]
    away = [fix(1_000_000 * (200 + i), *NORTH_300M_OUT) for i in range(20)]
    jitter_again = [
        fix(1_000_000 * (300 + i), 12.973645 if i % 2 else 12.973555, 77.5946, accuracy=15.0)
        for i in range(100)
    ]
    _, alerts = run([fix(1_000_000, *SEED), *jitter, *away, *jitter_again])
    assert [(a.kind, a.ts) for a in alerts] == [("geofence_exit", 200_000_000)]


def test_older_or_equal_fix_changes_nothing_and_raises_nothing() -> None:
    state, alerts = run([fix(1_000, *SEED), fix(3_000, *NORTH_1KM)])
    assert [a.kind for a in alerts] == ["geofence_exit"]
    for late in (fix(2_000, *SEED), fix(3_000, *SEED), fix(500, *SEED)):
        facts = locate(ZONES, late.lat, late.lon, late.accuracy, MARGIN)
        after, late_alerts = update(state, late, facts, GUARD, NAMES)
        assert late_alerts == []
        assert after is state


def test_unsure_first_fix_leaves_the_zone_unknown_and_the_next_confident_one_is_silent() -> None:
    near_edge = (12.973555, 77.5946)  # 5 m inside the north edge
    state, alerts = run([fix(1, *near_edge, accuracy=20.0)])
    assert CAMPUS not in state.inside
    state, alerts = run([fix(2, *NORTH_1KM)], state=state)
    assert alerts == []
    assert state.inside[CAMPUS] is False


def test_zones_are_tracked_independently() -> None:
    gate_centre = (12.9699, 77.5946)
    _, alerts = run([fix(1, *gate_centre), fix(2, *SEED), fix(3, *NORTH_1KM)])
    assert [(a.kind, a.dedup_key.rsplit(":", 1)[1]) for a in alerts] == [
        ("geofence_exit", GATE),
        ("geofence_exit", CAMPUS),
    ]


def test_fix_of_another_guard_is_refused() -> None:
    other = Guard(id="guard-124", client_id=1, site_id="site-mg-road")
    with pytest.raises(ValueError, match=r"'guard-123' applied to guard 'guard-124'"):
        update(GeofenceState(), fix(1, *SEED), {CAMPUS: Where.INSIDE}, other)


# -- property ---------------------------------------------------------------------------

fixes = st.lists(
    st.builds(
        fix,
        ts=st.integers(min_value=1, max_value=60),  # small range: many duplicates, reorders
        lat=st.floats(min_value=12.9680, max_value=12.9752),
        lon=st.floats(min_value=77.5910, max_value=77.5982),
        accuracy=st.one_of(st.none(), st.floats(min_value=0.0, max_value=80.0)),
    ),
    max_size=80,
)


@settings(database=None, max_examples=300, deadline=None)
@given(fixes)
def test_alerts_alternate_exit_and_enter_per_zone_in_time_order(track: list[GuardLocation]) -> None:
    state = GeofenceState()
    first_known: dict[str, bool] = {}
    kinds: dict[str, list[str]] = {}
    times: dict[str, list[int]] = {}
    for f in track:
        facts = locate(ZONES, f.lat, f.lon, f.accuracy, MARGIN)
        state, alerts = update(state, f, facts, GUARD, NAMES)
        for zone_id, inside in state.inside.items():
            first_known.setdefault(zone_id, inside)
        for alert in alerts:
            zone_id = alert.dedup_key.rsplit(":", 1)[1]
            kinds.setdefault(zone_id, []).append(alert.kind)
            times.setdefault(zone_id, []).append(alert.ts)
    for zone_id, seen in kinds.items():
        expected_first = "geofence_exit" if first_known[zone_id] else "geofence_enter"
        assert seen[0] == expected_first, (zone_id, seen)
        assert all(a != b for a, b in itertools.pairwise(seen)), (zone_id, seen)
        assert all(a < b for a, b in itertools.pairwise(times[zone_id])), (zone_id, times)
