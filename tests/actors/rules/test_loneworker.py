"""The lone-worker watchdog with literal times: still, silent, escalated, cleared."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actors.rules import loneworker
from actors.rules.loneworker import LoneState
from core.alerts import Alert
from core.fleet import LoneWorker
from tests.duty_fleet import MINUTE, START, WATCH, YARD, duty_fleet

GUARD = duty_fleet().guards["g-1"]
SITE = "site-night"
NORTH_1M = 1 / 111_195  # a metre north, in degrees of latitude


def tick(state: LoneState, now: int, p: LoneWorker = WATCH) -> tuple[LoneState, list[Alert]]:
    return loneworker.on_tick(state, GUARD, SITE, now, p)


def fix(state: LoneState, metres_north: float, at: int) -> tuple[LoneState, list[Alert]]:
    lat = YARD[0] + metres_north * NORTH_1M
    return loneworker.on_fix(state, GUARD, SITE, lat, YARD[1], at, WATCH)


def test_a_still_guard_raises_at_ten_minutes_escalates_at_fifteen_and_clears_on_moving() -> None:
    state = loneworker.started(START, YARD)
    state, alerts = fix(state, 20, START + 5 * MINUTE)  # 20 m: not a move
    assert alerts == []
    state, alerts = tick(state, START + 10 * MINUTE - 1)
    assert alerts == []
    state, (raised,) = tick(state, START + 10 * MINUTE)
    assert (raised.kind, raised.severity, raised.ts) == ("lone_worker", "high", START + 10 * MINUTE)
    assert raised.detail == "not moved more than 25 m in 10 min"
    assert tick(state, START + 11 * MINUTE)[1] == []  # raised once
    state, (escalated,) = tick(state, START + 15 * MINUTE)
    assert (escalated.kind, escalated.severity) == ("lone_worker_unanswered", "critical")
    assert tick(state, START + 16 * MINUTE)[1] == []
    state, (cleared,) = fix(state, 60, START + 17 * MINUTE)
    assert (cleared.kind, cleared.detail) == ("lone_worker_clear", "moved 60 m")
    assert tick(state, START + 26 * MINUTE)[1] == []  # the clock restarted at the move
    assert [a.kind for a in tick(state, START + 27 * MINUTE)[1]] == ["lone_worker"]


def test_a_missed_check_in_raises_before_stillness_and_a_check_in_clears_it() -> None:
    asked = LoneWorker(still_after_s=3600, moved_m=25, checkin_every_s=300, escalate_after_s=300)
    state = loneworker.started(START, YARD)
    state, (raised,) = tick(state, START + 5 * MINUTE, asked)
    assert raised.detail == "missed the check-in due every 5 min"
    state, (cleared,) = loneworker.on_checkin(state, GUARD, SITE, START + 6 * MINUTE)
    assert (cleared.kind, cleared.detail) == ("lone_worker_clear", "checked in")
    assert tick(state, START + 11 * MINUTE - 1, asked)[1] == []
    assert len(tick(state, START + 11 * MINUTE, asked)[1]) == 1


def test_the_first_fix_of_a_shift_places_the_guard_and_does_not_restart_the_clock() -> None:
    state, alerts = fix(loneworker.started(START, None), 0, START + 9 * MINUTE)
    assert alerts == [] and state.anchor is not None
    assert [a.kind for a in tick(state, START + 10 * MINUTE)[1]] == ["lone_worker"]


@given(
    st.lists(
        st.tuples(st.integers(0, 120), st.integers(0, 20).map(lambda k: 10.0 * k)), max_size=40
    )
)
def test_raised_and_cleared_alternate_and_a_raise_needs_ten_still_minutes(
    moves: list[tuple[int, float]],
) -> None:
    """Whatever the guard does, a lone_worker is never raised twice without a clear between,
    and it falls due exactly ten minutes after the last move (or the start)."""
    state, now, north, open_ = loneworker.started(START, YARD), START, 0.0, False
    last_move = START
    for seconds, metres in moves:
        now += seconds * 1_000_000
        state, alerts = tick(state, now)
        for alert in alerts:
            if alert.kind == "lone_worker":
                assert not open_ and alert.ts == last_move + 10 * MINUTE
                open_ = True
        state, alerts = fix(state, metres, now)
        if abs(metres - north) > 25:  # metres are tens: never on the 25 m border
            last_move, north = now, metres
            assert [a.kind for a in alerts] == (["lone_worker_clear"] if open_ else [])
            open_ = False
        else:
            assert alerts == []
