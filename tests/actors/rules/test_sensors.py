"""Site sensors with literal timestamps: smoke, doors after hours, motion while armed.

site-mg-road is in Asia/Kolkata (UTC+05:30), open 08:00-20:00 Monday to Saturday.
2025-11-03 is a Monday, 2025-11-02 a Sunday.
"""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.rules.sensors import SensorState, armed, condition, site_open, update
from core.alerts import Alert, AlertKind
from core.fleet import Sensor, load_fleet
from core.records import SensorReading

FLEET = load_fleet(Path("fleet/sample.yaml"))
MG_ROAD = next(site for site in FLEET.sites if site.id == "site-mg-road")
SENSORS = {sensor.id: sensor for sensor in FLEET.sensors}
SMOKE = SENSORS["smoke-mg-1"]
DOOR = SENSORS["door-mg-1"]
MOTION = SENSORS["motion-mg-1"]
TEMPERATURE = SENSORS["temp-mg-1"]


def at(local: str) -> int:
    """Microseconds since the epoch of an India wall-clock time, e.g. '2025-11-03 10:00'."""
    when = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo("Asia/Kolkata"))
    return int(when.timestamp()) * 1_000_000


MONDAY_NOON = at("2025-11-03 12:00")
MONDAY_NIGHT = at("2025-11-03 22:00")
SUNDAY_NOON = at("2025-11-02 12:00")


def reading(sensor: Sensor, ts: int, value: float | str) -> SensorReading:
    return SensorReading(
        ts=ts,
        received_at=ts,
        msg_key=f"{sensor.id}@{ts}",
        sensor_id=sensor.id,
        client_id=1,
        site_id=sensor.site_id,
        kind=sensor.kind,
        value=value if not isinstance(value, str) else None,
        value_text=value if isinstance(value, str) else None,
    )


def run(
    sensor: Sensor, steps: list[tuple[int, float | str]], state: SensorState | None = None
) -> tuple[SensorState, list[Alert]]:
    state = state or SensorState()
    raised: list[Alert] = []
    for ts, value in steps:
        state, alerts = update(state, reading(sensor, ts, value), sensor, MG_ROAD)
        raised.extend(alerts)
    return state, raised


# -- facts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "is_open"),
    [
        ("2025-11-03 07:59", False),
        ("2025-11-03 08:00", True),
        ("2025-11-03 19:59", True),
        ("2025-11-03 20:00", False),
        ("2025-11-01 12:00", True),  # Saturday
        ("2025-11-02 12:00", False),  # Sunday
    ],
)
def test_site_is_open_in_its_own_time_zone(local: str, is_open: bool) -> None:
    assert site_open(MG_ROAD, at(local)) is is_open


def test_after_hours_sensor_is_armed_only_while_the_site_is_closed() -> None:
    assert armed(MOTION, MG_ROAD, MONDAY_NOON) is False
    assert armed(MOTION, MG_ROAD, MONDAY_NIGHT) is True
    assert armed(MOTION, MG_ROAD, SUNDAY_NOON) is True


def test_always_and_never_armed_ignore_the_hours() -> None:
    always = Sensor(id="m", site_id=MG_ROAD.id, kind="motion", armed="always")
    never = Sensor(id="m", site_id=MG_ROAD.id, kind="motion", armed="never")
    for ts in (MONDAY_NOON, MONDAY_NIGHT):
        assert armed(always, MG_ROAD, ts) is True
        assert armed(never, MG_ROAD, ts) is False


def test_inactive_readings_and_temperature_call_for_nothing() -> None:
    assert condition(reading(SMOKE, MONDAY_NOON, 0), SMOKE, MG_ROAD) is None
    assert condition(reading(DOOR, MONDAY_NIGHT, "closed"), DOOR, MG_ROAD) is None
    assert condition(reading(TEMPERATURE, MONDAY_NIGHT, 85.0), TEMPERATURE, MG_ROAD) is None


# -- smoke ------------------------------------------------------------------------------


def test_smoke_raises_a_critical_alert_naming_the_sensor_and_site() -> None:
    _, (alert,) = run(SMOKE, [(MONDAY_NOON, 1)])
    assert (alert.kind, alert.severity) == ("smoke", "critical")
    assert (alert.entity_id, alert.site_id, alert.client_id) == ("smoke-mg-1", "site-mg-road", 1)
    assert (alert.ts, alert.detail) == (MONDAY_NOON, "Server room smoke")


def test_smoke_is_edge_triggered_once_per_episode() -> None:
    second = 1_000_000
    steps = [
        (MONDAY_NOON, 1),
        (MONDAY_NOON + 1 * second, 1),
        (MONDAY_NOON + 2 * second, "alarm"),
        (MONDAY_NOON + 3 * second, 0),
        (MONDAY_NOON + 4 * second, 0),
        (MONDAY_NOON + 5 * second, True),
        (MONDAY_NOON + 6 * second, 1),
    ]
    state, alerts = run(SMOKE, steps)  # type: ignore[arg-type]
    assert [(a.kind, a.ts) for a in alerts] == [
        ("smoke", MONDAY_NOON),
        ("smoke_clear", MONDAY_NOON + 3 * second),  # the first reading back to normal, once
        ("smoke", MONDAY_NOON + 5 * second),
    ]
    assert (state.active, state.last_ts) == (True, MONDAY_NOON + 6 * second)
    assert alerts[1].severity == "info" and alerts[1].dedup_key.startswith("smoke_clear:")


def test_an_older_reading_does_not_move_the_edge() -> None:
    state, _ = run(SMOKE, [(MONDAY_NOON + 10, 1)])
    after, alerts = update(state, reading(SMOKE, MONDAY_NOON, 0), SMOKE, MG_ROAD)
    assert (after.active, after.last_ts, alerts) == (state.active, state.last_ts, [])
    _, alerts = update(after, reading(SMOKE, MONDAY_NOON + 20, 1), SMOKE, MG_ROAD)
    assert alerts == []


def test_a_pulse_whose_cleared_reading_overtook_it_still_raises() -> None:
    state, alerts = run(SMOKE, [(MONDAY_NOON + 20, 0)])  # "cleared" came first
    assert alerts == []
    after, alerts = update(state, reading(SMOKE, MONDAY_NOON + 10, 1), SMOKE, MG_ROAD)
    assert [(a.kind, a.ts) for a in alerts] == [
        ("smoke", MONDAY_NOON + 10),
        ("smoke_clear", MONDAY_NOON + 20),  # and it was over already
    ]
    assert (after.active, after.last_ts) == (state.active, state.last_ts)  # the newest's


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.booleans(), min_size=1, max_size=12),
    order=st.randoms(use_true_random=False),
)
def test_every_activation_raises_whatever_order_its_readings_arrive_in(
    values: list[bool], order: random.Random
) -> None:
    """Readings at ts 1..n arrive shuffled (parallel ingest): each activation (a run of
    active readings in time order) raises at least one alert inside it; in time order,
    exactly one."""
    steps = [(MONDAY_NOON + (i + 1) * 1_000_000, int(v)) for i, v in enumerate(values)]
    runs, start = [], None
    for (ts, value), (_, nxt) in zip(steps, [*steps[1:], (0, 0)], strict=True):
        start = ts if value and start is None else start
        if value and not nxt:
            runs.append((start, ts))
            start = None
    ended = [(begin, end) for begin, end in runs if end < steps[-1][0]]  # a clear followed
    _, in_order = run(SMOKE, steps)  # type: ignore[arg-type]
    assert [a.ts for a in in_order if a.kind == "smoke"] == [begin for begin, _ in runs]
    clears = [a.ts for a in in_order if a.kind == "smoke_clear"]
    assert clears == [end + 1_000_000 for _, end in ended]  # the next reading, once each
    shuffled = list(steps)
    order.shuffle(shuffled)
    _, alerts = run(SMOKE, shuffled)  # type: ignore[arg-type]
    for begin, end in runs:
        assert any(begin <= a.ts <= end for a in alerts if a.kind == "smoke"), (runs, shuffled)
    inactive = {ts for ts, value in steps if not value}
    for _, end in ended:  # its end is told, by a reading that calls for nothing
        assert any(a.ts > end and a.ts in inactive for a in alerts if a.kind == "smoke_clear")
    assert all(a.ts in inactive for a in alerts if a.kind == "smoke_clear")


# -- doors and motion -------------------------------------------------------------------


def test_door_opened_in_opening_hours_raises_nothing() -> None:
    _, alerts = run(DOOR, [(MONDAY_NOON, "open"), (at("2025-11-01 09:00"), "open")])
    assert alerts == []


@pytest.mark.parametrize(
    "local", ["2025-11-03 22:00", "2025-11-03 07:30", "2025-11-02 12:00", "2025-11-03 20:00"]
)
def test_door_opened_after_hours_or_on_a_closed_day_raises_door_after_hours(local: str) -> None:
    _, (alert,) = run(DOOR, [(at(local), "open")])
    assert (alert.kind, alert.severity) == ("door_after_hours", "high")
    assert alert.entity_id == "door-mg-1"


def test_door_after_hours_is_raised_once_until_it_closes() -> None:
    minute = 60_000_000
    steps: list[tuple[int, float | str]] = [
        (MONDAY_NIGHT, "open"),
        (MONDAY_NIGHT + minute, "open"),
        (MONDAY_NIGHT + 2 * minute, "closed"),
        (MONDAY_NIGHT + 3 * minute, "open"),
    ]
    _, alerts = run(DOOR, steps)
    assert [a.ts for a in alerts] == [MONDAY_NIGHT, MONDAY_NIGHT + 3 * minute]


def test_door_left_open_past_closing_time_raises_when_next_reported_open() -> None:
    _, alerts = run(DOOR, [(at("2025-11-03 19:55"), "open"), (at("2025-11-03 20:05"), "open")])
    assert [(a.kind, a.ts) for a in alerts] == [("door_after_hours", at("2025-11-03 20:05"))]


def test_motion_while_armed_after_hours_raises_motion_armed() -> None:
    _, alerts = run(MOTION, [(MONDAY_NOON, 1), (MONDAY_NOON + 1, 0), (MONDAY_NIGHT, 1)])
    assert [(a.kind, a.ts) for a in alerts] == [("motion_armed", MONDAY_NIGHT)]
    assert alerts[0].severity == "high"


def test_motion_on_a_never_armed_sensor_raises_nothing() -> None:
    never = Sensor(id="motion-x", site_id=MG_ROAD.id, kind="motion", armed="never")
    _, alerts = run(never, [(MONDAY_NIGHT, 1)])
    assert alerts == []


def test_temperature_readings_never_alert_here() -> None:
    _, alerts = run(TEMPERATURE, [(MONDAY_NIGHT, 95.0), (MONDAY_NIGHT + 1, 20.0)])
    assert alerts == []


def test_same_reading_from_the_same_state_raises_the_same_alert_id() -> None:
    _, (first,) = run(DOOR, [(MONDAY_NIGHT, "open")])
    _, (again,) = run(DOOR, [(MONDAY_NIGHT, "open")])
    _, (later,) = run(DOOR, [(MONDAY_NIGHT + 1, "open")])
    assert first.alert_id == again.alert_id
    assert first.alert_id != later.alert_id


def test_kinds_are_the_shared_alert_kinds() -> None:
    _, (alert,) = run(MOTION, [(SUNDAY_NOON, "detected")])
    assert alert.kind == AlertKind.MOTION_ARMED
